/**
 * `npm run maintain` and `npm run replay` as an operator pipes them: stdout is the JSON result
 * alone (logs go to stderr), so `| jq` works.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(() => tdb?.drop());

const run = (script: string, args: string[] = []) =>
  spawnSync(process.execPath, [script, ...args], { env: { ...process.env, DATABASE_URL: tdb.url, LOG_LEVEL: 'info' }, encoding: 'utf8', timeout: 60_000 });

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
});
