/**
 * A silent PostgreSQL (connections open, no replies: a failover, a dropped NAT mapping)
 * through a real TCP proxy in front of the machine's PostgreSQL. Every call ends within its
 * deadline as a transient error, the connections it held are discarded, ingest answers 503
 * and its /healthz fails meanwhile, and once the database answers again new pushes are stored.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { classifyDbError, type Database } from '../shared/db/database.ts';
import { openPostgres } from '../shared/db/postgres.ts';
import { TransientError } from '../shared/errors.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makeScratchDir, makePushBody, post, startFunction, testConfig, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { waitFor } from './support/net.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

/** Short deadlines, so that the test waits for each only briefly. */
const DEADLINES = { PG_CONNECT_TIMEOUT_MS: '400', PG_STATEMENT_TIMEOUT_MS: '400', INGEST_FLUSH_TIMEOUT_MS: '3000' };

let tdb: TestDatabase;
let proxy: TcpProxy;
let proxiedUrl: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const url = new URL(tdb.url);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  proxiedUrl = url.toString();
});
afterAll(async () => {
  await proxy?.close();
  await tdb?.drop();
});

const settled = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

describe('the pg pool against a silent server', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openPostgres(testConfig({ DATABASE_URL: proxiedUrl, PG_POOL_MAX: '3', ...DEADLINES }));
  });
  afterAll(() => db?.close());

  it('ends every query and transaction with a transient error, and works again once the server answers', async () => {
    // Fill the pool with open connections first: those are the ones that go silent.
    await Promise.all(Array.from({ length: 3 }, () => db.query('SELECT pg_sleep(0.05)')));
    proxy.silence();
    const calls = await Promise.all([
      settled(db.query('SELECT 1')),
      settled(db.query('SELECT 2')),
      settled(db.transaction((tx) => tx.query('SELECT 3'))),
      // More callers than connections: these wait for a pooled connection, then time out.
      settled(db.query('SELECT 4')),
      settled(db.query('SELECT 5')),
    ]);
    for (const call of calls) {
      expect('error' in call, 'a call against a silent server must fail, not hang').toBe(true);
      if ('error' in call) expect(classifyDbError(call.error, 'test')).toBeInstanceOf(TransientError);
    }
    await proxy.restore();
    // Timed-out connections were discarded: every pooled call gets a live one.
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => db.query<{ n: number }>('SELECT $1::int AS n', [i])));
    expect(after.map((r) => r.rows[0]?.n)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('ingest against a silent PostgreSQL', () => {
  let fn: ServedFunction;
  let warehouse: DuckDbSink;
  beforeAll(async () => {
    await createDevice(tdb.db, { deviceId: 'silent-pg-1' });
    warehouse = await openDuckDbSink(join(makeScratchDir('pg-deadlines-'), 'warehouse.duckdb'));
    fn = await startFunction(ingest, { env: { DATABASE_URL: proxiedUrl, ...DEADLINES }, providers: { warehouse: async () => warehouse } });
  });
  afterAll(async () => {
    await fn?.close();
    await warehouse?.close();
  });

  const push = (seq: number) =>
    post(
      fn.url,
      makePushBody({
        data: { ts: Date.UTC(2026, 3, 1, 0, seq), seq, metrics: { t: seq } },
        attributes: { deviceId: 'silent-pg-1' },
        messageId: `silent-${seq}`,
      }),
    );
  const healthz = async () => (await fetch(`${fn.url}/healthz`)).status;

  it('answers 503 instead of hanging, fails /healthz meanwhile, and stores new pushes once the database is back', async () => {
    expect((await push(1)).status).toBe(200);
    expect(await healthz()).toBe(200);

    proxy.silence();
    const during = await Promise.all([push(2), push(3), push(4), push(5), push(6)]);
    expect(during.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
    const health = await fetch(`${fn.url}/healthz`);
    expect(health.status).toBe(503);
    expect(JSON.stringify(await health.json())).toMatch(/database timed out/);

    await proxy.restore();
    // Pub/Sub redelivers: the first redelivery after the database returns may still meet a
    // connection being discarded; within a few attempts every message is stored.
    await waitFor(async () => (await Promise.all([2, 3, 4, 5, 6].map(push))).every((r) => r.status === 200), {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'pushes to be stored again',
    });
    expect(await healthz()).toBe(200);
    const { rows } = await tdb.db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings WHERE device_id = 'silent-pg-1'");
    expect(rows[0]?.n).toBe(6);
  });
});
