/**
 * Every `npm run` command's command line, spawned as the user runs it: `--help` prints the usage
 * with its defaults and exits 0; an unknown flag exits 2 with one line naming it. Plus the
 * one-line answers to the mistakes a newcomer makes first (a busy port, a Cloud SQL instance
 * without its IAM user).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

function npmRun(script: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('npm', ['run', '--silent', script, '--', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const COMMANDS: { script: string; mentions: RegExp }[] = [
  { script: 'start', mentions: /BRIDGE_PORT 8080/ },
  { script: 'serve', mentions: /PORT .*default: 8080/ },
  { script: 'migrate', mentions: /CLOUD_SQL_IP_TYPE .*PRIVATE[\s\S]*cloud-sql-proxy/ },
  { script: 'simulate', mentions: /--devices N .*\(default: 10\)[\s\S]*--rate R .*\(default: 50\)/ },
  { script: 'build', mentions: /dist\/<function>\/index\.mjs[\s\S]*needs DATABASE_URL/ },
  { script: 'deploy', mentions: /--project P .*default: `gcloud config get-value project`[\s\S]*--context CTX/ },
  { script: 'wiring', mentions: /--ingest-url URL/ },
  { script: 'bench', mentions: /--quick/ },
  { script: 'schemas:bigquery', mentions: /measurements\.json/ },
];

describe.each(COMMANDS)('npm run $script', ({ script, mentions }) => {
  it('--help prints the usage with its defaults and exits 0', () => {
    const run = npmRun(script, ['--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^usage: npm (run )?${script.replace(':', '\\:')}`));
    expect(run.stdout).toMatch(mentions);
    expect(run.stderr).toBe('');
    // A sentence that ends in a colon announces a list; the options are not that list.
    expect(run.stdout).not.toMatch(/ \S+:\n\n? {2}--/);
  });

  it('refuses an unknown flag with exit 2 and one line naming it', () => {
    const run = npmRun(script, ['--no-such-flag']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^npm (run )?${script.replace(':', '\\:')}: Unknown option '--no-such-flag'\\nRun .* --help`));
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('npm run serve on a busy port', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '0.0.0.0', resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it('prints one line saying so, not an EADDRINUSE stack', () => {
    const run = npmRun('serve', ['registry'], { PORT: String(port), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`npm run serve: port ${port} is already in use; set PORT to a free one (PORT=0 picks any)`);
  });
});

describe('npm run migrate', () => {
  it('with INSTANCE_CONNECTION_NAME but no DB_USER names the missing IAM user', () => {
    const run = npmRun('migrate', [], { INSTANCE_CONNECTION_NAME: 'p-demo:europe-west1:telemetry', DATABASE_URL: '', DB_USER: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/INSTANCE_CONNECTION_NAME needs DB_USER/);
  });
});

describe('npm test without PostgreSQL', () => {
  it('says PostgreSQL is missing and how to start it, not "No test files found"', () => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/shared/log.test.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, TEST_PG_ADMIN_URL: 'postgres://postgres@127.0.0.1:1/postgres', CI: 'true' },
    });
    const output = result.stdout + result.stderr;
    expect(result.status).toBe(1);
    expect(output).toMatch(/npm test: PostgreSQL is not reachable at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres; the tests need it/);
    expect(output).not.toMatch(/No test files found/);
  });
});
