/**
 * ingest against the real PostgreSQL: rows, idempotency, device_state ordering, group commit
 * under concurrency, and an outage in the middle of a run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

let tdb: TestDatabase;
let warehouse: DuckDbSink;
let fn: ServedFunction;

const DEVICES = ['dev-a', 'dev-b', 'dev-c', 'dev-late', 'dev-out'];

/** This file's DuckDB directory, removed when the file is done. */
const scratch = mkdtempSync(join(tmpdir(), 'ingest-pg-'));

beforeAll(async () => {
  tdb = await createTestDatabase();
  for (const deviceId of DEVICES) await createDevice(tdb.db, { deviceId, site: 'site-1' });
  warehouse = await openDuckDbSink(join(scratch, 'warehouse.duckdb'));
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => warehouse } });
});
afterAll(async () => {
  await fn?.close();
  await tdb?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 12, minute)).toISOString();
const push = (deviceId: string, data: unknown, messageId = `m-${Math.random()}`) => post(fn.url, makePushBody({ data, attributes: { deviceId }, messageId }));

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await tdb.db.query<{ n: number }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}
const readingsOf = (deviceId: string) => count('SELECT count(*) AS n FROM readings WHERE device_id = $1', [deviceId]);
const measurementsOf = async (deviceId: string) =>
  Number((await warehouse.query(`SELECT count(*) FROM measurements WHERE device_id = '${deviceId}'`)).rows[0]?.[0]);

describe('idempotency', () => {
  it('stores a redelivered message once in both stores', async () => {
    const body = { ts: at(1), seq: 1, metrics: { temp: 21.5, hum: 40 } };
    for (let i = 0; i < 3; i++) expect((await push('dev-a', body, 'same-message')).status).toBe(200);
    expect(await readingsOf('dev-a')).toBe(1);
    expect(await measurementsOf('dev-a')).toBe(2);
    const state = await tdb.db.query<{ readings_total: number }>('SELECT readings_total FROM device_state WHERE device_id = $1', ['dev-a']);
    expect(state.rows[0]?.readings_total).toBe(1);
  });

  it('stores a reading the device re-sent in a new message once', async () => {
    const body = { ts: at(2), seq: 7, metrics: { temp: 22 } };
    await push('dev-b', body);
    await push('dev-b', { deviceId: 'dev-b', readings: [body, { ts: at(3), seq: 8, metrics: { temp: 23 } }] });
    expect(await readingsOf('dev-b')).toBe(2);
    expect(await measurementsOf('dev-b')).toBe(2);
  });

  it('stores concurrent duplicates once (they may share one group-commit batch)', async () => {
    const body = { ts: at(4), seq: 1, metrics: { temp: 1 } };
    const results = await Promise.all(Array.from({ length: 20 }, () => push('dev-c', body)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await readingsOf('dev-c')).toBe(1);
    expect(await measurementsOf('dev-c')).toBe(1);
  });
});

describe('device_state', () => {
  it('a late reading never moves state backwards, but still counts', async () => {
    await push('dev-late', { ts: at(30), seq: 30, metrics: { temp: 30 } });
    await push('dev-late', { ts: at(10), seq: 10, metrics: { temp: 10 } });
    const { rows } = await tdb.db.query<{ last_event_ts: Date; last_metrics: Record<string, number>; readings_total: number }>(
      'SELECT last_event_ts, last_metrics, readings_total FROM device_state WHERE device_id = $1',
      ['dev-late'],
    );
    expect(rows[0]?.last_event_ts.toISOString()).toBe(at(30));
    expect(rows[0]?.last_metrics).toEqual({ temp: 30 });
    expect(rows[0]?.readings_total).toBe(2);
  });

  it('concurrent out-of-order readings end with the newest as state', async () => {
    const minutes = Array.from({ length: 60 }, (_, i) => i).sort(() => Math.random() - 0.5);
    await Promise.all(minutes.map((m) => push('dev-out', { ts: at(m), seq: m, metrics: { temp: m } })));
    const { rows } = await tdb.db.query<{ last_event_ts: Date; last_metrics: Record<string, number>; readings_total: number }>(
      'SELECT last_event_ts, last_metrics, readings_total FROM device_state WHERE device_id = $1',
      ['dev-out'],
    );
    expect(rows[0]).toMatchObject({ last_metrics: { temp: 59 }, readings_total: 60 });
    expect(rows[0]?.last_event_ts.toISOString()).toBe(at(59));
  });
});

describe('group commit', () => {
  it('concurrent pushes share batches', async () => {
    const pushes = Array.from({ length: 200 }, (_, i) => push('dev-a', { ts: at(100 + i), seq: 1000 + i, metrics: { v: i } }));
    const results = await Promise.all(pushes);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const { rows } = await tdb.db.query<{ batches: number }>(
      `SELECT count(DISTINCT ingested_at) AS batches FROM readings WHERE device_id = 'dev-a' AND seq >= 1000`,
    );
    // One ingested_at per batch: 200 concurrent pushes must not take 200 round trips.
    expect(Number(rows[0]?.batches)).toBeLessThan(100);
  });
});

describe('a PostgreSQL outage mid-run', () => {
  let proxy: TcpProxy;
  let viaProxy: ServedFunction;

  beforeAll(async () => {
    const url = new URL(tdb.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(proxy.port);
    viaProxy = await startFunction(ingest, { env: { DATABASE_URL: url.toString() }, providers: { warehouse: async () => warehouse } });
  });
  afterAll(async () => {
    await viaProxy?.close();
    await proxy?.close();
  });

  it('answers 5xx while the database is down, then the redelivery lands once', async () => {
    const send = (messageId: string, minute: number) =>
      post(viaProxy.url, makePushBody({ data: { ts: at(minute), seq: minute, metrics: { x: minute } }, attributes: { deviceId: 'dev-c' }, messageId }));
    expect((await send('before-outage', 500)).status).toBe(200);

    await proxy.cut();
    const during = await send('during-outage', 501);
    expect(during.status).toBeGreaterThanOrEqual(500);
    expect((await fetch(`${viaProxy.url}/healthz`)).status).toBe(200);

    await proxy.restore();
    // Pub/Sub redelivers the unacknowledged message; the pool reconnects.
    let redelivered = await send('during-outage', 501);
    for (let i = 0; i < 20 && redelivered.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      redelivered = await send('during-outage', 501);
    }
    expect(redelivered.status).toBe(200);
    expect(await count("SELECT count(*) AS n FROM readings WHERE message_id = 'during-outage'", [])).toBe(1);
    expect(Number((await warehouse.query("SELECT count(*) FROM measurements WHERE message_id = 'during-outage'")).rows[0]?.[0])).toBe(1);
  });
});
