/**
 * CPU time a process has used, from /proc/<pid>/stat (user + system). Per request it is the
 * figure that says what a request costs even when a busy machine starves the server of a
 * core, which req/s cannot.
 * @see https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
import { readFile } from 'node:fs/promises';

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
