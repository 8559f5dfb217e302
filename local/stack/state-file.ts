/**
 * `$DATA_DIR/stack.json`: where a running `npm start` says how to reach it, so that
 * `npm run query` and `npm run simulate` work without flags. Readable by its owner only, as
 * it holds the admin token.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const StackState = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  projectId: z.string(),
  adminToken: z.string(),
  /** The readings function's token (READ_TOKEN, or the one kept under DATA_DIR). */
  readToken: z.string().optional(),
  /** Loopback-only internal API: `POST /internal/query`, `GET /internal/stats`. */
  internalUrl: z.string(),
  urls: z.object({ bridge: z.string(), ingest: z.string(), registry: z.string(), deadletter: z.string(), readings: z.string().optional() }),
  pubsub: z.enum(['local', 'emulator']),
  warehouse: z.enum(['duckdb', 'bigquery']),
});
export type StackState = z.infer<typeof StackState>;

export const stackStatePath = (dataDir: string): string => join(dataDir, 'stack.json');

/**
 * Written to a temp file and renamed over the old one, so a full disk or a crash mid-write
 * never leaves a torn stack.json behind (writeFile itself continues short writes; ENOSPC throws
 * and start-up fails with it).
 */
export async function writeStackState(dataDir: string, state: StackState): Promise<void> {
  const temp = `${stackStatePath(dataDir)}.${process.pid}.tmp`;
  try {
    await writeFile(temp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, stackStatePath(dataDir));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
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
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined; // Not a state any running stack wrote whole.
  }
  const parsed = StackState.safeParse(json);
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
