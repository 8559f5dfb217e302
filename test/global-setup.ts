/**
 * Starts what the integration tests talk to: checks the machine's PostgreSQL (and, outside
 * CI, tries to start it) and launches the official Pub/Sub emulator on a free port. In CI a
 * missing service fails the run; it never skips tests silently.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { startPubsubEmulator, type RunningEmulator } from './support/pubsub-emulator.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pubsubEmulatorHost: string;
    /** Where testConfig's DATA_DIRs live, one per test process; removed when the run ends. */
    testDataRoot: string;
  }
}

const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

let emulator: RunningEmulator | undefined;

export default async function setup(project: TestProject) {
  if (!(await postgresReachable())) {
    try {
      execFileSync('bash', ['-c', 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start'], { stdio: 'ignore', timeout: 60_000 });
    } catch {
      // Reported below.
    }
    if (!(await postgresReachable())) {
      // Said here and now: a global setup that throws makes vitest open with "No test files
      // found" and a stack trace, which sends a newcomer looking in the wrong place.
      process.stderr.write(
        `\nnpm test: PostgreSQL is not reachable at ${PG_ADMIN_URL}; the tests need it.\n` +
          'Start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or point TEST_PG_ADMIN_URL at one.\n',
      );
      process.exit(1);
    }
  }

  emulator = await startPubsubEmulator();
  project.provide('pgAdminUrl', PG_ADMIN_URL);
  project.provide('pubsubEmulatorHost', emulator.host);
  // Removed here rather than by each test process: vitest ends its workers with a signal, and a
  // process killed so never runs its 'exit' handlers.
  const testDataRoot = mkdtempSync(join(tmpdir(), 'telemetry-test-'));
  project.provide('testDataRoot', testDataRoot);

  return async () => {
    rmSync(testDataRoot, { recursive: true, force: true });
    emulator?.stop();
  };
}
