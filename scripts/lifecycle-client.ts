/**
 * What `npm run maintain` and `npm run replay` share: while `npm start` runs, the stack holds
 * the embedded PGlite and DuckDB files (one process at a time), so the command asks the
 * stack's registry; otherwise it runs in this process against the configured stores.
 */
import type { Config } from '../shared/config.ts';
import { exitAfterOutput } from './exit.ts';
import { createLogger } from '../shared/log.ts';
import { createPlatform, type Platform } from '../shared/runtime/platform.ts';
import { readStackState } from '../local/stack/state-file.ts';

/** POSTs to the running stack's registry, or returns undefined when no stack runs. */
export async function callRunningStack(config: Config, path: string, body: unknown): Promise<unknown> {
  // A running stack holds what the work needs even when PostgreSQL is a server: the in-process
  // Pub/Sub a replay publishes to, the DuckDB file maintenance trims. Without one, this process
  // does the work itself.
  const stack = await readStackState(config.dataDir);
  if (!stack) return undefined;
  const response = await fetch(`${stack.urls.registry}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15 * 60_000),
  });
  const answer = (await response.json()) as unknown;
  if (!response.ok) throw new Error(`the stack's registry answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * Runs `work` on a platform of this process's own, prints its result as JSON, and closes it.
 * The platform's logs go to stderr, so that stdout is the JSON alone (`| jq` works).
 */
export async function printFromLocalPlatform(config: Config, work: (platform: Platform) => Promise<unknown>): Promise<number> {
  const logger = createLogger({ level: config.logLevel, sink: (line) => process.stderr.write(`${line}\n`) });
  const platform = createPlatform({ config, logger });
  try {
    process.stdout.write(JSON.stringify(await work(platform), null, 2) + '\n');
    return 0;
  } finally {
    await platform.close();
  }
}

/** A command's entry point: exits with its code once its output is written; a failure is one line. */
export function runCommand(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => exitAfterOutput(code),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
      exitAfterOutput(1);
    },
  );
}
