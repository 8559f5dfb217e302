/**
 * `npm run maintain` and `npm run replay` as an operator pipes them: stdout is the JSON result
 * alone (logs go to stderr), so `| jq` works; and, while `npm start` runs on the same DATA_DIR,
 * through the running stack, whose in-process Pub/Sub a replay publishes to, PostgreSQL a server or not.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, makeScratchDir, type TestDatabase } from './support/kit.ts';
import { stackEnv, startStackProcess } from './support/stack-process.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(() => tdb?.drop());

const run = (script: string, args: string[] = [], dataDir = makeScratchDir('lifecycle-commands-')) =>
  spawnSync(process.execPath, [script, ...args], {
    env: { ...process.env, DATABASE_URL: tdb.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('lifecycle commands print JSON alone on stdout', () => {
  it('npm run maintain', () => {
    const result = run('scripts/maintain.ts');
    expect(result.status, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toHaveProperty('partitionsCreated');
    expect(printed).toHaveProperty('rejectedDeleted', 0);
  });

  it('npm run replay -- --dry-run', () => {
    const result = run('scripts/replay.ts', ['--dry-run']);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true });
  });

  it('npm run replay goes through a stack running on DATA_DIR with DATABASE_URL set, to publish to its Pub/Sub', async () => {
    const dataDir = makeScratchDir('lifecycle-stack-');
    const stack = await startStackProcess(await stackEnv(dataDir, { DATABASE_URL: tdb.url, LOG_LEVEL: 'error' }));
    try {
      const result = run('scripts/replay.ts', [], dataDir);
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: false, matched: 0, replayed: 0 });
    } finally {
      stack.child.kill('SIGTERM');
      await stack.exited;
    }
  }, 60_000);
});
