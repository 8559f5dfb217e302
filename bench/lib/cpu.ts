/**
 * CPU time a process has used, from /proc/<pid>/stat (user + system). Per request it is the
 * figure that says what a request costs even when a busy machine starves the server of a
 * core, which req/s cannot.
 * @see https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second for utime/stime: USER_HZ, 100 on Linux. */
const TICKS_PER_SECOND = 100;

export async function readCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time of every process named `command` (as /proc/<pid>/comm has it), with the time of
 * the children each has waited for: PostgreSQL's backends that exited during a run are counted
 * in the postmaster's. A process that exits between listing and reading is skipped.
 */
export async function readCommandCpuMs(command: string): Promise<number> {
  let ticks = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== command) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The machine's busy and total CPU time over all cores, from the `cpu` line of /proc/stat. */
export async function readMachineCpuMs(): Promise<{ busyMs: number; totalMs: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] as string;
  // user nice system idle iowait irq softirq steal (guest time is already in user). Time stolen
  // by the hypervisor is in the total, not in the busy time: the machine's own work did not use it.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busyMs: (busy * 1000) / TICKS_PER_SECOND, totalMs: ((busy + idle + iowait + steal) * 1000) / TICKS_PER_SECOND };
}
