/**
 * `npm run serve -- ingest` and `npm run migrate` as processes: configuration from the
 * environment, /healthz, structured logs, and SIGTERM draining in-flight batches.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makePushBody, post, type TestDatabase } from './support/kit.ts';
import { acceptedConnections, freePort, waitFor } from './support/net.ts';

let tdb: TestDatabase;
/** DATA_DIR of the served function, removed when the file is done. */
const scratch = mkdtempSync(join(tmpdir(), 'serve-'));
beforeAll(async () => {
  tdb = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  await tdb?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('npm run migrate', () => {
  it('applies the migrations, then reports up to date', () => {
    const run = () => spawnSync(process.execPath, ['scripts/migrate.ts'], { env: { ...process.env, DATABASE_URL: tdb.url }, encoding: 'utf8' });
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^applied to DATABASE_URL \(127\.0\.0\.1:5432\): 001_initial/);
    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout.trim()).toMatch(/^DATABASE_URL \(127\.0\.0\.1:5432\) is up to date$/);
  });
});

describe('npm run serve', () => {
  it('serves ingest on PORT, logs JSON with trace ids, and drains in-flight pushes on SIGTERM', async () => {
    await createDevice(tdb.db, { deviceId: 'serve-1' });
    const port = await freePort();
    const child = spawn(process.execPath, ['scripts/serve.ts', 'ingest'], {
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: tdb.url,
        DATA_DIR: scratch,
        LOG_LEVEL: 'info',
        INGEST_BATCH_WAIT_MS: '3000',
      },
      // Kept, not echoed: a failing assertion shows it; a passing run prints nothing.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    let errors = '';
    child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    // Closing its connection after each try, so that no push below rides an idle keep-alive
    // connection (the drain closes those at once: a client racing it retries, as Pub/Sub does).
    await waitFor(async () => (await fetch(`${url}/healthz`, { headers: { connection: 'close' } })).ok, { timeoutMs: 20_000, what: 'ingest /healthz' }).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}\n${errors}`);
      },
    );

    // A 3 s batch window holds these pushes in memory when SIGTERM arrives, once ingest has
    // accepted all their connections (a connection still in the accept queue would be reset).
    const pushes = Array.from({ length: 20 }, (_, i) =>
      post(url, { ...makePushBody({ data: { ts: Date.UTC(2026, 0, 1, 0, i), seq: i, metrics: { t: i } }, attributes: { deviceId: 'serve-1' } }) }),
    );
    await waitFor(() => acceptedConnections(child.pid ?? 0, port) >= 20, { timeoutMs: 10_000, what: 'ingest to accept the 20 push connections' });
    child.kill('SIGTERM');
    const results = await Promise.all(pushes);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await exited).toBe(0);
    const { rows } = await tdb.db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings WHERE device_id = 'serve-1'");
    expect(rows[0]?.n).toBe(20);

    const lines = output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.severity === 'INFO' && l.message === 'ingest listening')).toBe(true);
    expect(lines.some((l) => l.message === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
  });

  it('stops when npm itself gets SIGTERM, as a supervisor stops it: no server is left running', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['run', 'serve', '--', 'deadletter'], {
      env: { ...process.env, PORT: String(port), DATABASE_URL: tdb.url, DATA_DIR: scratch, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so that whatever is left can be cleared below; the signal goes to npm alone.
      detached: true,
    });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString()));
    let npmGone = false;
    npm.once('exit', () => (npmGone = true));
    const url = `http://127.0.0.1:${port}`;
    const answers = () =>
      fetch(`${url}/healthz`, { headers: { connection: 'close' } }).then(
        (r) => r.ok,
        () => false,
      );
    try {
      await waitFor(answers, { timeoutMs: 20_000, what: 'deadletter /healthz through npm run serve' });
      npm.kill('SIGTERM');
      await waitFor(() => npmGone, { timeoutMs: 15_000, what: `npm to exit on SIGTERM:\n${output}` });
      // The server was npm's child, not a shell's: it got the signal, drained and exited.
      await waitFor(async () => !(await answers()), { timeoutMs: 10_000, what: `the served function to stop with npm:\n${output}` });
      expect(output).toContain('"message":"shutting down"');
    } finally {
      try {
        process.kill(-(npm.pid as number), 'SIGKILL');
      } catch {
        // The group is gone: nothing was left.
      }
    }
  });

  it('refuses an unknown function name', () => {
    const run = spawnSync(process.execPath, ['scripts/serve.ts', 'nope'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`npm run serve: no function named nope: choose ${FUNCTION_NAMES.join(', ')}
Run \`npm run serve -- --help\` for the usage.
`);
  });
});
