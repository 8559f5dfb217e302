/**
 * `$DATA_DIR/stack.json`: where a running `npm start` says how to reach it, so that
 * `npm run query` and `npm run simulate` work without flags. Readable by its owner only, as
 * it holds the admin token.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const StackState = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  projectId: z.string(),
  adminToken: z.string(),
  /** Loopback-only internal API: `POST /internal/query`, `GET /internal/stats`. */
  internalUrl: z.string(),
  urls: z.object({ bridge: z.string(), ingest: z.string(), registry: z.string(), deadletter: z.string() }),
  pubsub: z.enum(['local', 'emulator']),
  warehouse: z.enum(['duckdb', 'bigquery', 'memory']),
});
export type StackState = z.infer<typeof StackState>;

export const stackStatePath = (dataDir: string): string => join(dataDir, 'stack.json');

export async function writeStackState(dataDir: string, state: StackState): Promise<void> {
  await writeFile(stackStatePath(dataDir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

export async function removeStackState(dataDir: string, pid: number): Promise<void> {
  const current = await readStackState(dataDir);
  if (current?.pid === pid) await rm(stackStatePath(dataDir), { force: true });
}

/** The running stack's state, or undefined when none runs (no file, or its process is gone). */
export async function readStackState(dataDir: string): Promise<StackState | undefined> {
  let text: string;
  try {
    text = await readFile(stackStatePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = StackState.safeParse(JSON.parse(text));
  if (!parsed.success || !isAlive(parsed.data.pid)) return undefined;
  return parsed.data;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
