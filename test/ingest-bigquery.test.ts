/**
 * ingest with the BigQuery sink (the real client against the insertAll stand-in): rows are
 * sent with stable insertIds, a redelivery sends the same ids, and a row BigQuery calls
 * invalid ends in `rejected` (stage "warehouse") while the message is acknowledged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import { createLogger } from '../shared/log.ts';
import { createBigQuerySink } from '../shared/warehouse/bigquery.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from './support/bigquery-standin.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';

let tdb: TestDatabase;
let standIn: BigQueryStandIn;
let fn: ServedFunction;

beforeAll(async () => {
  tdb = await createTestDatabase();
  await createDevice(tdb.db, { deviceId: 'bq-1', site: 'roof' });
  standIn = await startBigQueryStandIn();
  standIn.createTable('telemetry', 'measurements', bigQueryMeasurementsTable());
  const auth = standInAuth();
  const sink = createBigQuerySink({
    projectId: 'local-project',
    dataset: 'telemetry',
    logger: createLogger({ level: 'error' }),
    apiEndpoint: standIn.url,
    authClient: auth,
    initialDelayMs: 1,
    maxDelayMs: 5,
  });
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => sink } });
});
afterAll(async () => {
  await fn?.close();
  await standIn?.close();
  await tdb?.drop();
});

const reading = (seq: number) => ({ ts: new Date(Date.UTC(2026, 5, 1, 0, seq)).toISOString(), seq, metrics: { temp: 20 + seq, status: 'ok' } });

it('sends one row per metric value with insertId reading_id:metric; a redelivery sends the same ids', async () => {
  const push = makePushBody({ data: reading(1), attributes: { deviceId: 'bq-1' }, messageId: 'bq-m1' });
  expect((await post(fn.url, push)).status).toBe(200);
  expect((await post(fn.url, push)).status).toBe(200);
  const sent = standIn.insertAllRequests().flatMap((r) => r.rows);
  const { rows } = await tdb.db.query<{ reading_id: string }>("SELECT reading_id FROM readings WHERE message_id = 'bq-m1'");
  const id = rows[0]?.reading_id as string;
  expect(sent.map((r) => r.insertId).sort()).toEqual([`${id}:status`, `${id}:status`, `${id}:temp`, `${id}:temp`]);
  expect(sent[0]?.json).toMatchObject({ device_id: 'bq-1', site: 'roof', reading_id: id });
  expect(standIn.storedRows('telemetry', 'measurements')).toHaveLength(2);
});

it('a row BigQuery calls invalid goes to rejected; the message is still acknowledged', async () => {
  standIn.failNext({ kind: 'rowErrors', reason: 'invalid', match: (insertId) => insertId.endsWith(':temp') });
  const res = await post(fn.url, makePushBody({ data: reading(2), attributes: { deviceId: 'bq-1' }, messageId: 'bq-m2' }));
  expect(res.status).toBe(200);
  const { rows } = await tdb.db.query<{ reason: string; detail: { rows: { metric: string; reason: string }[] } }>(
    "SELECT reason, detail FROM rejected WHERE stage = 'warehouse' AND message_id = 'bq-m2'",
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]?.reason).toBe('warehouse_invalid_row');
  expect(rows[0]?.detail.rows).toEqual([expect.objectContaining({ metric: 'temp', reason: 'invalid' })]);
  const stored = standIn.storedRows('telemetry', 'measurements').filter((r) => (r as { seq?: number }).seq === 2);
  expect(stored.map((r) => (r as { metric: string }).metric)).toEqual(['status']);
  expect((await tdb.db.query("SELECT 1 FROM readings WHERE message_id = 'bq-m2'")).rowCount).toBe(1);
});

it('BigQuery unavailable: 503, so that Pub/Sub redelivers; the redelivery lands', async () => {
  standIn.failNext(...Array.from({ length: 20 }, () => ({ kind: 'status' as const, status: 503 })));
  const push = makePushBody({ data: reading(3), attributes: { deviceId: 'bq-1' }, messageId: 'bq-m3' });
  expect((await post(fn.url, push)).status).toBe(503);
  standIn.reset();
  standIn.createTable('telemetry', 'measurements', bigQueryMeasurementsTable());
  expect((await post(fn.url, push)).status).toBe(200);
  expect(standIn.storedRows('telemetry', 'measurements')).toHaveLength(2);
  expect((await tdb.db.query("SELECT 1 FROM readings WHERE message_id = 'bq-m3'")).rowCount).toBe(1);
});

it('a text value that looks like a client template token reaches BigQuery verbatim', async () => {
  const data = { ts: new Date(Date.UTC(2026, 5, 1, 1)).toISOString(), seq: 9, metrics: { note: '{{projectId}}' } };
  expect((await post(fn.url, makePushBody({ data, attributes: { deviceId: 'bq-1' }, messageId: 'bq-m9' }))).status).toBe(200);
  const stored = standIn.storedRows('telemetry', 'measurements').find((r) => (r as { message_id?: string }).message_id === 'bq-m9');
  expect((stored as { value_text?: string } | undefined)?.value_text).toBe('{{projectId}}');
});
