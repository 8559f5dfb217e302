/**
 * Through the official Pub/Sub emulator: a topic with a push subscription to the running
 * ingest; messages published with @google-cloud/pubsub land in both stores, once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { waitFor } from './support/net.ts';

const PROJECT = 'ingest-emulator-test';
let tdb: TestDatabase;
let warehouse: DuckDbSink;
let fn: ServedFunction;
let pubsub: PubSub;

/** This file's DuckDB directory, removed when the file is done. */
const scratch = mkdtempSync(join(tmpdir(), 'ingest-emu-'));

beforeAll(async () => {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
  tdb = await createTestDatabase();
  await createDevice(tdb.db, { deviceId: 'emu-1', registry: 'r1', site: 's1' });
  await createDevice(tdb.db, { deviceId: 'emu-2', registry: 'r1', site: 's2' });
  warehouse = await openDuckDbSink(join(scratch, 'warehouse.duckdb'));
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url, GOOGLE_CLOUD_PROJECT: PROJECT }, providers: { warehouse: async () => warehouse } });
  pubsub = new PubSub({ projectId: PROJECT });
});
afterAll(async () => {
  await pubsub?.close();
  await fn?.close();
  await tdb?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

it('messages published to the topic are pushed to ingest and stored once in both stores', async () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const [topic] = await pubsub.createTopic(`telemetry-${suffix}`);
  await topic.createSubscription(`ingest-${suffix}`, { pushConfig: { pushEndpoint: fn.url }, ackDeadlineSeconds: 10 });

  const total = 200;
  const ids = await Promise.all(
    Array.from({ length: total }, (_, i) => {
      const deviceId = i % 2 === 0 ? 'emu-1' : 'emu-2';
      const reading = { ts: new Date(Date.UTC(2026, 4, 1, 0, 0, i)).toISOString(), seq: i, metrics: { temp: 20 + i / 10, ok: true } };
      return topic.publishMessage({ json: reading, attributes: { deviceId, schemaVersion: '1' } });
    }),
  );
  expect(new Set(ids).size).toBe(total);

  const stored = async () => Number((await tdb.db.query<{ n: number }>('SELECT count(*) AS n FROM readings')).rows[0]?.n);
  await waitFor(async () => (await stored()) === total, { timeoutMs: 30_000, what: `${total} readings` });

  const { rows } = await tdb.db.query<{ message_id: string }>('SELECT message_id FROM readings');
  expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(ids));
  const measured = await warehouse.query('SELECT count(*), count(DISTINCT reading_id), min(site), max(site) FROM measurements');
  expect(measured.rows[0]?.map(Number).slice(0, 2)).toEqual([total * 2, total]);
  expect(measured.rows[0]?.slice(2)).toEqual(['s1', 's2']);
  const state = await tdb.db.query<{ device_id: string; readings_total: number }>('SELECT device_id, readings_total FROM device_state ORDER BY device_id');
  expect(state.rows).toEqual([
    { device_id: 'emu-1', readings_total: 100 },
    { device_id: 'emu-2', readings_total: 100 },
  ]);
});

// Payload unwrapping: with write metadata the attributes come as headers; without it the data
// comes alone, and the bridge's data names its device.
it.each([
  ['with write metadata', true],
  ['without write metadata', false],
])('messages pushed unwrapped (%s) are stored once in both stores', async (_, writeMetadata) => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const [topic] = await pubsub.createTopic(`unwrapped-${suffix}`);
  await topic.createSubscription(`ingest-unwrapped-${suffix}`, {
    pushConfig: { pushEndpoint: fn.url, noWrapper: { writeMetadata } },
    ackDeadlineSeconds: 10,
  });
  const device = 'emu-3';
  await tdb.db.query(`INSERT INTO devices (device_id, registry, site) VALUES ($1, 'r1', 's3') ON CONFLICT DO NOTHING`, [device]);
  const seqs = Array.from({ length: 20 }, (_, i) => (writeMetadata ? 1_000 : 2_000) + i);
  await Promise.all(
    seqs.map((seq) =>
      topic.publishMessage({
        json: { deviceId: device, readings: [{ ts: new Date(Date.UTC(2026, 4, 2, 0, 0, seq % 60, seq)).toISOString(), seq, metrics: { temp: seq } }] },
        attributes: { deviceId: device, schemaVersion: '1' },
      }),
    ),
  );
  const stored = async () =>
    Number((await tdb.db.query<{ n: number }>('SELECT count(*) AS n FROM readings WHERE device_id = $1 AND seq = ANY($2)', [device, seqs])).rows[0]?.n);
  await waitFor(async () => (await stored()) === seqs.length, { timeoutMs: 30_000, what: `${seqs.length} readings pushed unwrapped` });
  const measured = await warehouse.query(
    `SELECT count(*), count(DISTINCT reading_id) FROM measurements WHERE device_id = '${device}' AND metric = 'temp' AND value >= ${seqs[0]} AND value <= ${seqs.at(-1)}`,
  );
  expect(measured.rows[0]?.map(Number)).toEqual([seqs.length, seqs.length]);
  await topic.delete();
});
