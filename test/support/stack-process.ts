/**
 * `npm start` as a user runs it, for the end-to-end tests: a spawned `node scripts/start.ts`
 * on free ports and a temp DATA_DIR, ready once its stack.json names it and every function
 * answers /healthz; plus `npm run query` spawned the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StackState } from '../../local/stack/state-file.ts';
import type { WarehouseRows } from './device-load.ts';
import { freePort, waitFor } from './net.ts';

const NODE = process.execPath;
const ROOT = join(import.meta.dirname, '..', '..');

export interface StackProcess {
  state: StackState;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
}

/** Env for a stack on free ports, so that a restart can reuse the same ones. */
export async function stackEnv(dataDir: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    DATA_DIR: dataDir,
    BRIDGE_PORT: String(await freePort()),
    INGEST_PORT: String(await freePort()),
    REGISTRY_PORT: String(await freePort()),
    DEADLETTER_PORT: String(await freePort()),
    READINGS_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // A short retry window keeps the dead-letter scenarios fast (the default spans ~14 min).
    PUBSUB_MIN_BACKOFF_MS: '2000',
    PUBSUB_MAX_BACKOFF_MS: '10000',
    PUBSUB_MAX_DELIVERY_ATTEMPTS: '5',
    ...extra,
  };
}

export async function startStackProcess(env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<StackProcess> {
  const child = spawn(NODE, ['scripts/start.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let state: StackState | undefined;
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    async () => {
      if (gone) throw new Error(`npm start exited:\n${output}`);
      const parsed = StackState.safeParse(JSON.parse(await readFile(join(env.DATA_DIR as string, 'stack.json'), 'utf8')));
      if (!parsed.success || parsed.data.pid !== child.pid) return false;
      for (const url of Object.values(parsed.data.urls)) if (!(await fetch(`${url}/healthz`)).ok) return false;
      state = parsed.data;
      return true;
    },
    { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 100, what: 'npm start to be ready' },
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${String(error)}\n--- output ---\n${output}`);
  });
  return { state: state as StackState, child, output: () => output, exited };
}

/** `npm run query -- --json SQL` against the stack in `dataDir`; rows as objects. */
export async function runQueryScript(dataDir: string, sql: string): Promise<Record<string, unknown>[]> {
  const child = spawn(NODE, ['scripts/query.ts', '--json', sql], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`query exited ${String(code)}: ${stderr}`);
  // An analyst result stops at 100,000 rows (it says so on stderr): a check that counted rows
  // from a cut result would report readings as lost that are stored.
  if (/result cut at/.test(stderr)) throw new Error(`the query's result was cut, ${stderr.trim()}: ask for fewer rows\n${sql}`);
  return JSON.parse(stdout) as Record<string, unknown>[];
}

/** The warehouse rows of some devices, through `npm run query --json` (read-only: no COPY). */
export function warehouseRowsVia(dataDir: string): WarehouseRows {
  return async (ids) => {
    // One device a query: a fast machine's scenario stores more than the 100,000 rows one
    // analyst result holds (six devices, 54,000 readings, two metrics each).
    const rows: Record<string, unknown>[] = [];
    for (const id of ids) rows.push(...(await runQueryScript(dataDir, `SELECT device_id, seq, metric FROM measurements WHERE device_id = '${id}'`)));
    return rows.map((r) => ({ device_id: String(r.device_id), seq: Number(r.seq), metric: String(r.metric) }));
  };
}

/** Stops a stack that is still running (a scenario may already have killed it). */
export async function stopStack(stack: StackProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!stack || stack.child.exitCode !== null || stack.child.signalCode !== null) return;
  stack.child.kill(signal);
  await stack.exited;
}
