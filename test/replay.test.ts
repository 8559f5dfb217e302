/**
 * Replay of rejected messages through the registry's `POST /v1/rejected:replay`, on the whole
 * stack (in process) with PostgreSQL and DuckDB, once with the in-process Pub/Sub and once
 * with the official emulator: messages for a device registered late are rejected
 * (`unknown_device`); after registration a replay lands every reading once in both stores, and
 * replaying again, or the original being redelivered, stores nothing twice.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { startStack, type Stack } from '../local/stack/stack.ts';
import { waitFor } from './support/net.ts';
import { captureLogs, createTestDatabase, makePushBody, testConfig, type TestDatabase } from './support/kit.ts';

const ADMIN = 'replay-admin-token';
const DEVICE = 'late-device-1';
const BASE_MS = Date.now() - 2 * 3_600_000;

/** Three messages: two batches with times and seq, one reading without a time of its own. */
const MESSAGES = [
  { deviceId: DEVICE, readings: [1, 2, 3].map((seq) => ({ ts: BASE_MS + seq * 1000, seq, metrics: { temperature: 20 + seq } })) },
  { deviceId: DEVICE, readings: [4, 5].map((seq) => ({ ts: BASE_MS + seq * 1000, seq, metrics: { temperature: 20 + seq, door: seq % 2 === 0 } })) },
  { metrics: { temperature: 30 } },
];
const READINGS = 6;
/** Metric values of those readings: one warehouse row each. */
const MEASUREMENTS = 8;

const cases = [
  { name: 'the in-process Pub/Sub', env: (): Record<string, string> => ({}) },
  {
    name: 'the Pub/Sub emulator',
    env: (): Record<string, string> => {
      const suffix = randomBytes(4).toString('hex');
      return { PUBSUB_EMULATOR_HOST: inject('pubsubEmulatorHost'), TELEMETRY_TOPIC: `telemetry-${suffix}`, DEAD_LETTER_TOPIC: `telemetry-dl-${suffix}` };
    },
  },
];

describe.each(cases)('replay through $name', ({ env }) => {
  let database: TestDatabase;
  let dataDir: string;
  let stack: Stack;
  const logs = captureLogs('debug');
  /** Pushes to "/" answered with 2xx so far: ingest's (deadletter gets none here). */
  const ingestAcks = () =>
    logs.records().filter((r) => r.message === 'request' && r.method === 'POST' && r.path === '/' && typeof r.status === 'number' && r.status < 300).length;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'replay-'));
    const extra = env();
    // The Pub/Sub client finds the emulator through the environment, as in a spawned stack.
    if (extra.PUBSUB_EMULATOR_HOST) process.env.PUBSUB_EMULATOR_HOST = extra.PUBSUB_EMULATOR_HOST;
    const config = testConfig({ DATABASE_URL: database.url, DATA_DIR: dataDir, ADMIN_TOKEN: ADMIN, ...extra });
    stack = await startStack({
      config,
      logger: logs.logger,
      ports: { bridge: 0, ingest: 0, registry: 0, deadletter: 0, readings: 0, internal: 0 },
      host: '127.0.0.1',
    });
  }, 60_000);
  afterAll(async () => {
    delete process.env.PUBSUB_EMULATOR_HOST;
    await stack.stop();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const registry = (path: string, body: unknown) =>
    fetch(`${stack.state.urls.registry}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const storedReadings = async () =>
    Number((await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM readings WHERE device_id = $1', [DEVICE])).rows[0]?.n);
  const warehouseReadings = async () => {
    const sink = (await stack.platform.warehouse()) as DuckDbSink;
    const result = await sink.query(`SELECT count(*) AS rows, count(DISTINCT reading_id) AS readings FROM measurements WHERE device_id = '${DEVICE}'`);
    const [rows, readings] = result.rows[0] ?? [];
    return { rows: Number(rows), readings: Number(readings) };
  };
  const readingsTotal = async () =>
    Number((await database.db.query<{ n: number }>('SELECT readings_total::int AS n FROM device_state WHERE device_id = $1', [DEVICE])).rows[0]?.n ?? 0);

  it('lands each reading rejected during a late registration once in both stores, however often it is replayed', async () => {
    const publisher = await stack.platform.publisher();
    for (const message of MESSAGES)
      await publisher.publish(stack.platform.config.telemetryTopic, Buffer.from(JSON.stringify(message)), {
        deviceId: DEVICE,
        receivedAt: new Date().toISOString(),
      });
    const countRejected = async () =>
      Number(
        (
          await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM rejected WHERE reason = 'unknown_device' AND attributes->>'deviceId' = $1", [
            DEVICE,
          ])
        ).rows[0]?.n,
      );
    await waitFor(async () => (await countRejected()) === MESSAGES.length, { timeoutMs: 30_000, what: 'three unknown_device rejections' });
    expect(await storedReadings()).toBe(0);

    // Refused with every issue named.
    const bad = await registry('/v1/rejected:replay', { reason: '', stage: 'nowhere', since: 'yesterday', limit: 0, colour: 'red' });
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { issues: { path: string }[] };
    expect(badBody.issues.map((i) => i.path).sort()).toEqual(['', 'limit', 'reason', 'since', 'stage']);

    // The device is registered late.
    const created = await registry('/v1/devices', { deviceId: DEVICE, credentials: [{ type: 'token' }] });
    expect(created.status).toBe(201);
    // Ingest remembers an unknown device for 2 s (functions/ingest/device-directory.ts): a replay sent
    // sooner is rejected again (and could be replayed again); an operator replays later.
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    const dryRun = await registry('/v1/rejected:replay', { reason: 'unknown_device', deviceId: DEVICE, dryRun: true });
    expect(await dryRun.json()).toMatchObject({ dryRun: true, matched: 3, replayed: 0, more: false });

    const acksBefore = ingestAcks();
    const replay = await registry('/v1/rejected:replay', { reason: 'unknown_device', deviceId: DEVICE });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ dryRun: false, matched: 3, replayed: 3, more: false });
    await waitFor(async () => (await storedReadings()) === READINGS && (await warehouseReadings()).readings === READINGS, {
      timeoutMs: 30_000,
      what: 'six readings in both stores',
    });
    await waitFor(() => ingestAcks() >= acksBefore + 3, { timeoutMs: 30_000, what: 'three replayed pushes acked' });
    const replayedAt = await database.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM rejected WHERE attributes->>'deviceId' = $1 AND replayed_at IS NOT NULL",
      [DEVICE],
    );
    expect(replayedAt.rows[0]?.n).toBe(3);

    // Already replayed: skipped unless asked.
    expect(await (await registry('/v1/rejected:replay', { reason: 'unknown_device', deviceId: DEVICE })).json()).toMatchObject({ matched: 0, replayed: 0 });

    // Replaying again on purpose, and the original pushes arriving again (a redelivery, with
    // their original message ids and publish times), store nothing twice.
    const acksBeforeAgain = ingestAcks();
    const again = await registry('/v1/rejected:replay', { reason: 'unknown_device', deviceId: DEVICE, includeReplayed: true });
    expect(await again.json()).toMatchObject({ matched: 3, replayed: 3 });
    const originals = await database.db.query<{ payload: string; attributes: Record<string, string>; message_id: string; publish_time: string }>(
      "SELECT payload, attributes, message_id, detail->>'publishTime' AS publish_time FROM rejected WHERE attributes->>'deviceId' = $1 ORDER BY id",
      [DEVICE],
    );
    for (const original of originals.rows) {
      const push = makePushBody({
        data: JSON.parse(original.payload) as unknown,
        attributes: original.attributes,
        messageId: original.message_id,
        publishTime: original.publish_time,
      });
      const response = await fetch(`${stack.state.urls.ingest}/`, { method: 'POST', headers: push.headers, body: push.body });
      expect(response.status).toBe(200);
    }
    await waitFor(() => ingestAcks() >= acksBeforeAgain + 6, { timeoutMs: 30_000, what: 'the second replay and the redeliveries acked' });
    expect(await storedReadings()).toBe(READINGS);
    expect(await readingsTotal()).toBe(READINGS);
    expect(await warehouseReadings()).toEqual({ rows: MEASUREMENTS, readings: READINGS });
  }, 90_000);
});
