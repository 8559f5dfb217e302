/**
 * `npm run query` is read-only and sandboxed whether it runs inside the stack (a connection of
 * its own on the writer's DuckDB instance) or alone on the file: no writes, no transactions,
 * no files or extensions outside the warehouse, a deadline; SQL may start with a comment; the
 * PostgreSQL side (`--db postgres`) runs in a read-only transaction.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueryArgs } from '../scripts/query.ts';
import { startInternalApi } from '../local/stack/internal-api.ts';
import { createLogger } from '../shared/log.ts';
import { createPlatform } from '../shared/runtime/platform.ts';
import { queryPostgresReadOnly } from '../scripts/query/postgres.ts';
import { queryDuckDb } from '../shared/warehouse/duckdb-analyst.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createTestDatabase, testConfig, type TestDatabase } from './support/kit.ts';
import { makeMeasurementRows } from './support/measurement-rows.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const HOURLY = readFileSync(join(ROOT, 'schemas/queries/hourly-rollups.duckdb.sql'), 'utf8');

/** What an analyst must not do, and what DuckDB would otherwise let them. */
const REFUSED: [string, string][] = [
  ['a transaction', 'BEGIN TRANSACTION'],
  ['a commit', 'COMMIT'],
  ['a delete', 'DELETE FROM measurements'],
  ['an insert', "INSERT INTO measurements (reading_id, metric) VALUES ('x', 'y')"],
  ['a table', 'CREATE TABLE stolen AS SELECT 1'],
  ['a file read', "SELECT * FROM read_csv('/etc/passwd')"],
  ['a file write', "COPY (SELECT 1) TO '/tmp/query-sandbox-leak.csv'"],
  ['another database', "ATTACH '/tmp/query-sandbox-other.duckdb' AS other"],
  ['an extension install', 'INSTALL httpfs'],
  ['an extension load', 'LOAD httpfs'],
  ['a setting', 'SET enable_external_access = true'],
  ['a setting before a query', 'SET threads = 1; SELECT 1'],
  ['access switched back on before a query', "SET enable_external_access = true; SELECT * FROM read_csv('/etc/passwd')"],
  ['a procedure', 'CALL pragma_version()'],
  ['two statements', 'SELECT 1; DELETE FROM measurements'],
];

let dir: string;
let sink: DuckDbSink;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'query-sandbox-'));
  sink = await openDuckDbSink(join(dir, 'live', 'warehouse.duckdb'));
  await sink.write(makeMeasurementRows(40));
});
afterAll(async () => {
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = async () => Number((await sink.query('SELECT count(*) FROM measurements')).rows[0]?.[0]);

describe('analyst SQL inside the stack (its own connection on the writer instance)', () => {
  it.each(REFUSED)('refuses %s', async (_name, sql) => {
    await expect(sink.query(sql)).rejects.toThrow();
    expect(await count()).toBe(40);
  });

  it('leaves ingest writing after an analyst tried to open a transaction', async () => {
    await expect(sink.query('BEGIN TRANSACTION')).rejects.toThrow(/read-only|TRANSACTION/);
    await sink.write(makeMeasurementRows(8, 40));
    // A second instance sees the rows only once they are committed to the file.
    expect(await count()).toBe(48);
  });

  it('stops a query at its deadline', async () => {
    await expect(sink.query('SELECT count(*) FROM range(1000000000000)', { timeoutMs: 200 })).rejects.toThrow(/longer than 200 ms/);
    expect(await count()).toBeGreaterThan(0);
  });

  it('runs SQL that starts with a comment, as the shipped queries do', async () => {
    const result = await sink.query(HOURLY);
    expect(result.columns).toContain('metric');
  });
});

describe('analyst SQL on the file, with no stack running', () => {
  let path: string;
  beforeAll(async () => {
    path = join(dir, 'alone', 'warehouse.duckdb');
    const writer = await openDuckDbSink(path);
    await writer.write(makeMeasurementRows(12));
    await writer.close();
  });

  it.each(REFUSED)('refuses %s', async (_name, sql) => {
    await expect(queryDuckDb(path, sql)).rejects.toThrow();
    expect(Number((await queryDuckDb(path, 'SELECT count(*) FROM measurements')).rows[0]?.[0])).toBe(12);
  });

  it('answers 64-bit counts as JSON numbers, and integers past 2^53 as exact strings', async () => {
    const { rows } = await queryDuckDb(path, 'SELECT count(*) AS n, 9007199254740993::BIGINT AS big, 7::HUGEINT AS h FROM measurements');
    expect(rows[0]).toEqual([12, '9007199254740993', 7]);
  });

  it('runs the README query through npm run query, comment first line and all', async () => {
    const child = spawn(process.execPath, ['scripts/query.ts', '--json', HOURLY], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: join(dir, 'alone') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(Array.isArray(JSON.parse(stdout))).toBe(true);
  });
});

describe('npm run query arguments', () => {
  it('takes SQL that starts with a -- comment as SQL, not as an option', () => {
    expect(parseQueryArgs(['--json', '-- hourly\nSELECT 1']).sql).toBe('-- hourly\nSELECT 1');
    expect(parseQueryArgs(['--json', '-- hourly\nSELECT 1']).json).toBe(true);
  });

  it('reads --file, --db and --timeout', () => {
    expect(parseQueryArgs(['--file', 'q.sql', '--db', 'postgres', '--timeout=5'])).toMatchObject({ file: 'q.sql', db: 'postgres', timeoutMs: 5000 });
    expect(() => parseQueryArgs(['--db', 'mysql'])).toThrow(/warehouse or postgres/);
    expect(() => parseQueryArgs(['--timeout', '0'])).toThrow(/--timeout/);
  });
});

describe('analyst SQL on PostgreSQL (--db postgres)', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    await tdb.db.query("INSERT INTO devices (device_id) VALUES ('q-dev')");
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('answers a query, a leading comment included', async () => {
    const result = await queryPostgresReadOnly(tdb.db, "-- devices\nSELECT device_id FROM devices WHERE device_id = 'q-dev';");
    expect(result).toEqual({ columns: ['device_id'], rows: [['q-dev']] });
  });

  it.each([
    ['a delete', "DELETE FROM devices WHERE device_id = 'q-dev'"],
    ['a second statement', "SELECT 1; DELETE FROM devices WHERE device_id = 'q-dev'"],
    ['a commit then a write', 'SELECT 1) AS x; COMMIT; DELETE FROM devices; SELECT (1'],
    ['a writing WITH', 'WITH gone AS (DELETE FROM devices RETURNING 1) SELECT * FROM gone'],
    ['a server file', "SELECT pg_read_file('/etc/passwd')"],
    ['a setting', "SELECT set_config('transaction_read_only', 'off', true)"],
    ['a transaction', 'BEGIN'],
  ])('refuses %s', async (_name, sql) => {
    await expect(queryPostgresReadOnly(tdb.db, sql)).rejects.toThrow();
    const { rows } = await tdb.db.query<{ n: number }>("SELECT count(*)::int AS n FROM devices WHERE device_id = 'q-dev'");
    expect(rows[0]?.n).toBe(1);
  });

  it('stops a query at its deadline', async () => {
    await expect(queryPostgresReadOnly(tdb.db, 'SELECT count(*) FROM generate_series(1, 1000000000)', { timeoutMs: 200 })).rejects.toThrow(/statement timeout/);
  });
});

describe('the stack internal API', () => {
  it('takes the bearer scheme in any case, and nothing but the admin token', async () => {
    const platform = createPlatform({ config: testConfig(), logger: createLogger({ level: 'error' }) });
    const api = await startInternalApi({ platform, adminToken: 'internal-secret', stats: () => ({ published: 0 }) });
    try {
      const status = async (authorization: string) => (await fetch(`${api.url}/internal/stats`, { headers: { authorization } })).status;
      expect(await status('Bearer internal-secret')).toBe(200);
      expect(await status('bearer internal-secret')).toBe(200);
      expect(await status('BEARER internal-secret')).toBe(200);
      expect(await status('Bearer internal-secre')).toBe(401);
      expect(await status('Basic internal-secret')).toBe(401);
    } finally {
      await api.stop();
      await platform.close();
    }
  });

  it("answers the caller's mistakes with 4xx naming them, and a database it cannot reach with 503", async () => {
    const query = (api: { url: string }, body: string, contentType = 'application/json') =>
      fetch(`${api.url}/internal/query`, { method: 'POST', headers: { authorization: 'Bearer s', 'content-type': contentType }, body });
    const database = await createTestDatabase();
    const platform = createPlatform({ config: testConfig(), providers: { database: () => Promise.resolve(database.db) } });
    const api = await startInternalApi({ platform, adminToken: 's' });
    const unreachable = createPlatform({ config: testConfig(), providers: { database: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) } });
    const down = await startInternalApi({ platform: unreachable, adminToken: 's' });
    try {
      const badSql = await query(api, JSON.stringify({ sql: 'SELECT no_such_column FROM devices', db: 'postgres' }));
      expect(badSql.status).toBe(400);
      expect(await badSql.json()).toMatchObject({ error: 'invalid_sql', message: expect.stringContaining('no_such_column') as unknown });
      expect((await query(api, '{"sql": ')).status).toBe(400);
      expect((await query(api, '{"sql":"SELECT 1"}', 'text/plain')).status).toBe(415);
      expect((await fetch(`${api.url}/internal/nothing`, { headers: { authorization: 'Bearer s' } })).status).toBe(404);
      const unavailable = await query(down, JSON.stringify({ sql: 'SELECT 1', db: 'postgres' }));
      expect(unavailable.status).toBe(503);
      expect(await unavailable.json()).toMatchObject({ error: 'unavailable', message: 'postgres: database unavailable' });
    } finally {
      await Promise.all([api.stop(), down.stop()]);
      // `platform` holds nothing but the test database, which drop() closes.
      await unreachable.close();
      await database.drop();
    }
  });
});
