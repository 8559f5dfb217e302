/**
 * One reading identity (device, time, seq) with other content: the first one wins in both
 * stores, across messages, inside one message and inside one group-commit batch; and the
 * warehouse's dedupe view keeps only the first message's rows of an identity.
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { readingIdOf } from '../functions/ingest/reading-id.ts';
import { toRows } from '../functions/ingest/to-rows.ts';
import { createTelemetryWriter } from '../functions/ingest/writer.ts';
import { duckDbMeasurementsDdl } from '../schemas/columns.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { renderDedupeView } from '../shared/warehouse/views.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makeScratchDir, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';

let tdb: TestDatabase;
let warehouse: DuckDbSink;
let fn: ServedFunction;

beforeAll(async () => {
  tdb = await createTestDatabase();
  for (const deviceId of ['id-messages', 'id-one-message', 'id-batch']) await createDevice(tdb.db, { deviceId });
  warehouse = await openDuckDbSink(join(makeScratchDir('identity-'), 'warehouse.duckdb'));
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => warehouse } });
});
afterAll(async () => {
  await fn?.close();
  await tdb?.drop();
});

const ts = new Date(Date.UTC(2026, 4, 1, 12)).toISOString();
interface SentReading {
  ts: string;
  seq: number;
  metrics: Record<string, number | boolean>;
}
const first: SentReading = { ts, seq: 7, metrics: { temp: 21, door: true } };
const second: SentReading = { ts, seq: 7, metrics: { temp: 99, hum: 40 } };

async function stored(deviceId: string) {
  const pg = await tdb.db.query<{ metrics: Record<string, unknown> }>('SELECT metrics FROM readings WHERE device_id = $1', [deviceId]);
  const wh = await warehouse.query(
    `SELECT metric, coalesce(CAST(value AS VARCHAR), CAST(value_bool AS VARCHAR)) FROM measurements WHERE device_id = '${deviceId}' ORDER BY metric`,
  );
  return { postgres: pg.rows.map((r) => r.metrics), warehouse: wh.rows };
}

describe('the same reading identity with other content', () => {
  it('keeps the first in both stores when it comes in a later message', async () => {
    for (const data of [first, second]) expect((await post(fn.url, makePushBody({ data, attributes: { deviceId: 'id-messages' } }))).status).toBe(200);
    expect(await stored('id-messages')).toEqual({
      postgres: [{ temp: 21, door: true }],
      warehouse: [
        ['door', 'true'],
        ['temp', '21.0'],
      ],
    });
  });

  it('keeps the first in both stores when both are in one message', async () => {
    const data = { deviceId: 'id-one-message', readings: [first, second] };
    expect((await post(fn.url, makePushBody({ data, attributes: { deviceId: 'id-one-message' } }))).status).toBe(200);
    expect(await stored('id-one-message')).toEqual({
      postgres: [{ temp: 21, door: true }],
      warehouse: [
        ['door', 'true'],
        ['temp', '21.0'],
      ],
    });
  });

  it('keeps the first in both stores when both share one group-commit batch', async () => {
    // Group commit on, with a wait: submissions of one tick share a batch (test/shared/group-commit.test.ts).
    expect(fn.platform.config.ingestBatch).toMatchObject({ enabled: true, maxRows: 1000 });
    expect(fn.platform.config.ingestBatch.maxWaitMs).toBeGreaterThan(0);
    const writer = createTelemetryWriter(fn.platform);
    const device = { deviceId: 'id-batch', registry: 'default', site: null, tags: {}, blocked: false } as unknown as Parameters<typeof toRows>[1]['device'];
    const rowsOf = (reading: SentReading, messageId: string) =>
      toRows([{ ...reading, ts: Date.parse(reading.ts) }], {
        device,
        defaultEventMs: Date.parse(ts),
        receivedAt: new Date(),
        ingestedAt: new Date(),
        messageId,
      });
    // Submitted in the same tick, so the group commit writes them as one batch.
    await Promise.all([writer.write(rowsOf(first, 'batch-1')), writer.write(rowsOf(second, 'batch-2'))]);
    expect(await stored('id-batch')).toEqual({
      postgres: [{ temp: 21, door: true }],
      warehouse: [
        ['door', 'true'],
        ['temp', '21.0'],
      ],
    });
  });
});

describe('measurements_dedup over a table holding both versions (as BigQuery can)', () => {
  it('shows only the rows of the first message that carried the identity', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run(duckDbMeasurementsDdl().replace(/,\s*PRIMARY KEY \([^)]*\)/, ''));
      const later = (metric: string) =>
        `('r-x', 'd', TIMESTAMPTZ '2026-05-01 12:00:00Z', '${metric}', 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 7, NULL, TIMESTAMPTZ '2026-05-01 12:05:00Z', 'm-second')`;
      const earlier = (metric: string) =>
        `('r-x', 'd', TIMESTAMPTZ '2026-05-01 12:00:00Z', '${metric}', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 7, NULL, TIMESTAMPTZ '2026-05-01 12:01:00Z', 'm-first')`;
      await connection.run(`INSERT INTO measurements VALUES ${[later('temp'), later('hum'), earlier('temp'), earlier('door')].join(', ')}`);
      await connection.run(await renderDedupeView('duckdb'));
      const view = await connection.runAndReadAll("SELECT metric, value, message_id FROM measurements_dedup WHERE reading_id = 'r-x' ORDER BY metric");
      expect(view.getRowsJson()).toEqual([
        ['door', 1, 'm-first'],
        ['temp', 1, 'm-first'],
      ]);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('is the same rule in the BigQuery view', async () => {
    const sql = await renderDedupeView('bigquery', { project: 'p', dataset: 'd' });
    expect(sql).toMatch(/FIRST_VALUE\(message_id\)[\s\S]*PARTITION BY reading_id, event_ts/);
    expect(sql).toMatch(/first_message_id IS NOT DISTINCT FROM message_id/);
  });
});

describe('readingIdOf', () => {
  it('derives the ids already stored: a change here would let every redelivery land twice', () => {
    expect(readingIdOf('dev-1', 1764266400000, { seq: 7, metrics: {} })).toBe('f7f89c21b922646028eb2ee61fc1c2c6');
    expect(readingIdOf('dév-🔥', 0, { metrics: { b: 1, a: 'x', c: true } })).toBe('abb4d864cb4876e3bfde17ffee3ce2ec');
    expect(readingIdOf('d', -5, { seq: 0, metrics: {} })).toBe('3a2c490a327b1be6b7d11a85fd397400');
  });
});
