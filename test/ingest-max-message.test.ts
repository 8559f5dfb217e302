/**
 * The largest message the schema accepts (500 readings x 256 metrics = 128,000 warehouse
 * rows) is stored in PostgreSQL and in each warehouse, and an unexpected warehouse failure
 * (a bug, not a store that is down) is a permanent rejection that keeps the payload, never
 * a 503 that Pub/Sub redelivers until the message is dead-lettered.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import { MAX_METRICS_PER_READING, MAX_READINGS_PER_REQUEST } from '../schemas/reading.ts';
import { createLogger } from '../shared/log.ts';
import { createBigQuerySink } from '../shared/warehouse/bigquery.ts';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import type { WarehouseSink } from '../shared/warehouse/sink.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from './support/bigquery-standin.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makeScratchDir, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';

let tdb: TestDatabase;
let standIn: BigQueryStandIn;
const started: ServedFunction[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
  for (const deviceId of ['max-duck', 'max-bq', 'max-bug']) await createDevice(tdb.db, { deviceId });
  standIn = await startBigQueryStandIn();
  standIn.createTable('telemetry', 'measurements', bigQueryMeasurementsTable());
});
afterEach(async () => {
  for (const fn of started.splice(0)) await fn.close();
});
afterAll(async () => {
  await standIn?.close();
  await tdb?.drop();
});

/** 500 readings of 256 metrics each: the schema's maximum. */
function maxMessage(deviceId: string) {
  const metrics = Object.fromEntries(Array.from({ length: MAX_METRICS_PER_READING }, (_, k) => [`m${k}`, k + 0.5]));
  const t0 = Date.UTC(2026, 3, 1);
  return { deviceId, readings: Array.from({ length: MAX_READINGS_PER_REQUEST }, (_, i) => ({ ts: new Date(t0 + i * 1000).toISOString(), seq: i, metrics })) };
}

async function serveIngest(warehouse: WarehouseSink): Promise<ServedFunction> {
  const fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => warehouse } });
  started.push(fn);
  return fn;
}

const readingsOf = async (deviceId: string) =>
  Number((await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM readings WHERE device_id = $1', [deviceId])).rows[0]?.n);

describe('a message at the schema maximum', () => {
  it('is stored whole in PostgreSQL and DuckDB', async () => {
    const duck = await openDuckDbSink(join(makeScratchDir('max-message-'), 'warehouse.duckdb'));
    const fn = await serveIngest(duck);
    const response = await post(fn.url, makePushBody({ data: maxMessage('max-duck'), attributes: { deviceId: 'max-duck' } }));
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(await readingsOf('max-duck')).toBe(500);
    const rows = await duck.query("SELECT count(*) FROM measurements WHERE device_id = 'max-duck'");
    expect(Number(rows.rows[0]?.[0])).toBe(500 * 256);
  });

  it('is stored whole in PostgreSQL and BigQuery', async () => {
    const auth = standInAuth();
    const sink = createBigQuerySink({
      projectId: 'local-project',
      dataset: 'telemetry',
      logger: createLogger({ level: 'error' }),
      apiEndpoint: standIn.url,
      authClient: auth,
    });
    const fn = await serveIngest(sink);
    const response = await post(fn.url, makePushBody({ data: maxMessage('max-bq'), attributes: { deviceId: 'max-bq' } }));
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(await readingsOf('max-bq')).toBe(500);
    expect(standIn.storedRows('telemetry', 'measurements').filter((r) => r.device_id === 'max-bq')).toHaveLength(500 * 256);
  });
});

describe('an unexpected warehouse failure', () => {
  it('rejects the message for good with its payload kept, instead of answering 503 on every delivery', async () => {
    // A warehouse with a bug in it: the same rows fail the same way every time.
    const buggy: WarehouseSink = {
      kind: 'bigquery',
      write: () => Promise.reject(new RangeError('Maximum call stack size exceeded')),
      close: async () => undefined,
    };
    const fn = await serveIngest(buggy);
    const data = { ts: new Date(Date.UTC(2026, 3, 2)).toISOString(), seq: 1, metrics: { temp: 1 } };
    const response = await post(fn.url, makePushBody({ data, attributes: { deviceId: 'max-bug' }, messageId: 'bug-1' }));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'rejected', reason: 'warehouse_failed' });
    const { rows } = await tdb.db.query<{ payload: string }>("SELECT payload FROM rejected WHERE message_id = 'bug-1'");
    expect(JSON.parse(rows[0]?.payload ?? 'null')).toEqual(data);
  });
});
