/**
 * Helpers for benchmarks: start a function from source in its own process pinned to one
 * core, wait for /healthz, stop it; medians and ratios.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from '../../test/support/net.ts';

export interface ServerProcess {
  url: string;
  pid: number;
  /**
   * Settles when the process exits, for whatever reason: a server that dies under load (out of
   * memory, say) is a result to report, which the caller can only tell from a stop it asked for.
   */
  exit: Promise<ExitStatus>;
  stop(): Promise<void>;
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const NODE = process.execPath;

/**
 * Runs `node [nodeFlags] <script> [args]` on core `cpu` (taskset; `null`: not pinned, as the
 * local stack runs) with `env`, waiting for /healthz.
 */
export async function startServer(
  script: string,
  args: string[],
  env: Record<string, string>,
  cpu: number | null = 0,
  nodeFlags: string[] = [],
): Promise<ServerProcess> {
  const port = await freePort();
  // BENCH_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to profile the server.
  const nodeArgs = [...nodeFlags, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  const command = cpu === null ? [NODE, ...nodeArgs, script, ...args] : ['taskset', '-c', String(cpu), NODE, ...nodeArgs, script, ...args];
  const child: ChildProcess = spawn(command[0] as string, command.slice(1), {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exit = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 30_000, what: `${script} ${args.join(' ')}` });
  return {
    url,
    pid: child.pid ?? 0,
    exit,
    // A process killed by a signal has no exit code: waiting on the exit covers both ends.
    stop: async () => {
      child.kill('SIGTERM');
      await exit;
    },
  };
}

/** The one median of the benchmarks (report.ts), for the scripts that import it from here. */
export { median } from './report.ts';

/** Pins this process (the load generator) to another core than the server's. */
export function pinSelf(cpu = 1): void {
  spawn('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}
