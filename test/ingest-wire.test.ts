/**
 * ingest at the wire: every delivery form docs/architecture.md lists and every malformed one, against
 * the real PostgreSQL and an embedded DuckDB warehouse.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createDevice } from './support/devices.ts';
import {
  createTestDatabase,
  makeBinaryCloudEvent,
  makeMessage,
  makePushBody,
  makeStructuredCloudEvent,
  makeUnwrappedPush,
  post,
  startFunction,
  type HttpFixture,
  type MessageFixture,
  type ServedFunction,
  type TestDatabase,
} from './support/kit.ts';

let tdb: TestDatabase;
let fn: ServedFunction;
let warehouse: DuckDbSink;

/** This file's DuckDB directory, removed when the file is done. */
const scratch = mkdtempSync(join(tmpdir(), 'ingest-wire-'));

beforeAll(async () => {
  tdb = await createTestDatabase();
  await createDevice(tdb.db, { deviceId: 'sensor-1', registry: 'plant-a', site: 'hall-3', tags: { floor: '2' } });
  warehouse = await openDuckDbSink(join(scratch, 'warehouse.duckdb'));
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => warehouse } });
});
afterAll(async () => {
  await fn?.close();
  await tdb?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

let seq = 0;
const reading = () => ({
  ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
  seq: ++seq,
  metrics: { temp: 20 + seq, door: seq % 2 === 0, mode: 'auto' },
});
/** The attributes IoT Core put on every message it published. */
const IOT_CORE_ATTRIBUTES = { deviceId: 'sensor-1', deviceNumId: '7', projectId: 'p', deviceRegistryId: 'r', deviceRegistryLocation: 'l', subFolder: '' };
const message = (data: unknown = reading(), attributes: Record<string, string> = { deviceId: 'sensor-1' }): MessageFixture => ({ data, attributes });

const forms: { name: string; build: (m: MessageFixture) => HttpFixture }[] = [
  { name: 'binary CloudEvent', build: makeBinaryCloudEvent },
  { name: 'structured CloudEvent', build: makeStructuredCloudEvent },
  { name: 'wrapped push (camelCase)', build: (m) => makePushBody(m) },
  { name: 'wrapped push (snake_case)', build: (m) => makePushBody(m, { snake: true }) },
  { name: 'unwrapped push with metadata headers', build: makeUnwrappedPush },
];

async function storedReading(messageId: string) {
  const { rows } = await tdb.db.query<{ device_id: string; metrics: Record<string, unknown>; message_id: string }>(
    'SELECT device_id, metrics, message_id FROM readings WHERE message_id = $1',
    [messageId],
  );
  return rows;
}

describe('ingest accepts every delivery form', () => {
  it.each(forms)('$name → 200 and rows in both stores', async ({ build }) => {
    const m = message();
    const fixture = build({ ...m, messageId: `msg-${seq}-${Math.random()}` });
    const id =
      JSON.parse(fixture.body).message?.messageId ??
      JSON.parse(fixture.body).message?.message_id ??
      JSON.parse(fixture.body).id ??
      fixture.headers['x-goog-pubsub-message-id'] ??
      fixture.headers['ce-id'];
    const res = await post(fn.url, fixture);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', deviceId: 'sensor-1', readings: 1 });
    const rows = await storedReading(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.metrics).toEqual((m.data as { metrics: unknown }).metrics);
    const measured = await warehouse.query(
      `SELECT metric, value, value_text, value_bool, registry, site FROM measurements WHERE message_id = '${id}' ORDER BY metric`,
    );
    expect(measured.rows).toEqual(
      [
        ['door', null, null, expect.any(Boolean)],
        ['mode', null, 'auto', null],
        ['temp', expect.any(Number), null, null],
      ].map((r) => [...r, 'plant-a', 'hall-3']),
    );
  });

  it.each(['application/cloudevents+json; charset=UTF-8', 'Application/CloudEvents+JSON;charset=utf-8'])(
    'a structured CloudEvent sent as %s → 200 and its reading stored',
    async (contentType) => {
      const messageId = `ct-${Math.random()}`;
      const fixture = makeStructuredCloudEvent({ ...message(), messageId });
      fixture.headers['content-type'] = contentType;
      expect(await post(fn.url, fixture)).toMatchObject({ status: 200, body: { status: 'ok', readings: 1 } });
      expect(await storedReading(messageId)).toHaveLength(1);
    },
  );

  it('a structured CloudEvent the cloudevents SDK sends with its data as data_base64 → 200 and its reading stored', async () => {
    const m = makeMessage(message());
    const event = new CloudEvent({
      id: m.messageId,
      source: '//pubsub.googleapis.com/projects/local-project/topics/telemetry',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      datacontenttype: 'application/json',
      data: Buffer.from(JSON.stringify({ message: m, subscription: 'projects/local-project/subscriptions/eventarc-ingest' })),
    });
    const sent = HTTP.structured(event);
    expect(sent.body).toContain('data_base64');
    const res = await post(fn.url, { headers: sent.headers as Record<string, string>, body: sent.body as string });
    expect(res).toMatchObject({ status: 200, body: { status: 'ok', readings: 1 } });
    expect(await storedReading(m.messageId)).toHaveLength(1);
  });

  it('a wrapped push whose deliveryAttempt is 0 (no dead-letter policy) → 200 and its reading stored', async () => {
    const messageId = `attempt-0-${Math.random()}`;
    const fixture = makePushBody({ ...message(), messageId });
    fixture.body = JSON.stringify({ ...(JSON.parse(fixture.body) as object), deliveryAttempt: 0 });
    expect(await post(fn.url, fixture)).toMatchObject({ status: 200, body: { status: 'ok', readings: 1 } });
    expect(await storedReading(messageId)).toHaveLength(1);
  });

  it('accepts a batch and a SenML pack as message data', async () => {
    const batch = { deviceId: 'sensor-1', readings: [reading(), reading(), reading()] };
    const res = await post(fn.url, makePushBody(message(batch, {})));
    expect(res.body).toMatchObject({ status: 'ok', readings: 3 });
    const senml = [
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.7672256e9, n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', t: -5, u: 'A', v: 1.2 },
    ];
    const res2 = await post(fn.url, makePushBody(message(senml)));
    expect(res2.body).toMatchObject({ status: 'ok', readings: 2 });
  });
});

describe('ingest takes an unwrapped push without metadata (write metadata off): the body is the data', () => {
  const unwrapped = (body: string | Buffer) => fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('stores the readings of the data the bridge published, once however often it arrives', async () => {
    const data = JSON.stringify({ deviceId: 'sensor-1', readings: [reading(), reading()] });
    const answers = [await unwrapped(data), await unwrapped(data)];
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(await answers[0]?.json()).toMatchObject({ status: 'ok', deviceId: 'sensor-1', readings: 2 });
    const ids = (JSON.parse(data) as { readings: { seq: number }[] }).readings.map((r) => r.seq);
    const { rows } = await tdb.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM readings WHERE device_id = 'sensor-1' AND seq = ANY($1)`, [ids]);
    expect(rows).toEqual([{ n: '2' }]);
  });

  it.each([
    ['empty (a message of attributes only)', '', 'invalid_data'],
    ['not JSON', '{"message":', 'invalid_data'],
    ['JSON that is not telemetry', '{"hello":1}', 'invalid_data'],
    ['telemetry without a device id', JSON.stringify(reading()), 'missing_device_id'],
  ])('records data that is %s in rejected, payload kept, and acknowledges it', async (_, body, reason) => {
    const answer = await unwrapped(body);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ status: 'rejected', reason });
    const { rows } = await tdb.db.query<{ reason: string; payload: string }>(
      "SELECT reason, payload FROM rejected WHERE stage = 'ingest' AND message_id IS NULL AND payload = $1 AND detail->>'form' = 'push-unwrapped'",
      [body],
    );
    expect(rows.map((r) => r.reason)).toContain(reason);
  });
});

describe('ingest refuses what is not a Pub/Sub message with 400 and keeps serving', () => {
  const cases: { name: string; fixture: HttpFixture; issue: string }[] = [
    { name: 'message not an object', fixture: { headers: { 'content-type': 'application/json' }, body: '{"message":5}' }, issue: 'message' },
    {
      name: 'message without id',
      fixture: { headers: { 'content-type': 'application/json' }, body: '{"message":{"data":"e30="}}' },
      issue: 'message.messageId',
    },
    {
      name: 'data not base64',
      fixture: { headers: { 'content-type': 'application/json' }, body: '{"message":{"data":"%%%","messageId":"1"}}' },
      issue: 'message.data',
    },
    {
      name: 'binary CloudEvent without ce-id and ce-source',
      fixture: {
        headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished' },
        body: '{}',
      },
      issue: 'ce-id',
    },
    {
      name: 'CloudEvent of another type',
      fixture: { ...makeBinaryCloudEvent(message()), headers: { ...makeBinaryCloudEvent(message()).headers, 'ce-type': 'com.example.other' } },
      issue: 'type',
    },
    {
      name: 'structured CloudEvent without data.message',
      fixture: {
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ specversion: '1.0', type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//x', id: '1', data: {} }),
      },
      issue: 'data.message',
    },
  ];
  it.each(cases)('$name', async ({ fixture, issue }) => {
    const res = await post(fn.url, fixture);
    expect(res.status).toBe(400);
    const body = res.body as { issues: { path: string; message: string }[] };
    expect(body.issues.length).toBeGreaterThan(0);
    expect(body.issues.some((i) => i.path.startsWith(issue))).toBe(true);
    expect((await fetch(`${fn.url}/healthz`)).status).toBe(200);
  });

  it('a batch of CloudEvents with 415, saying batches are not taken', async () => {
    const event = JSON.parse(makeStructuredCloudEvent(message()).body) as unknown;
    const res = await post(fn.url, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify([event]) });
    expect(res).toMatchObject({ status: 415, body: { error: 'unsupported_media_type', issues: [{ path: 'content-type' }] } });
    expect((res.body as { message: string }).message).toMatch(/batch/);
  });

  it('answers 404 and 405 for other routes and methods', async () => {
    expect((await fetch(`${fn.url}/other`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(fn.url, { method: 'GET' })).status).toBe(405);
  });
});

describe('ingest records permanent failures in rejected and acknowledges them', () => {
  const cases: { name: string; m: MessageFixture; reason: string; path: string }[] = [
    { name: 'data not JSON', m: message('not json'), reason: 'invalid_data', path: 'message.data' },
    { name: 'invalid metric name and value', m: message({ metrics: { '9bad': 1, ok: { nested: true } } }), reason: 'invalid_data', path: 'metrics' },
    { name: 'unknown device', m: message(reading(), { deviceId: 'nobody-here' }), reason: 'unknown_device', path: 'attributes.deviceId' },
    { name: 'no device id anywhere', m: message(reading(), {}), reason: 'missing_device_id', path: 'attributes.deviceId' },
    { name: 'timestamp far in the future', m: message({ ts: '2999-01-01T00:00:00Z', metrics: { t: 1 } }), reason: 'invalid_data', path: 'ts' },
    { name: 'SenML must-understand label', m: message([{ n: 'temp', v: 1, foo_: 2 }]), reason: 'invalid_data', path: '0.foo_' },
    // IoT Core's publishEvent carries the device's bytes unjudged: kept, payload and all, to replay once decodable.
    {
      name: 'IoT Core bytes that are CBOR',
      m: message(Buffer.from([0xa1, 0x61, 0x74, 0x18, 0x2a]), IOT_CORE_ATTRIBUTES),
      reason: 'not_telemetry',
      path: 'message.data',
    },
    {
      name: "IoT Core bytes that are the samples' text",
      m: message('my-registry/my-device-payload-1', IOT_CORE_ATTRIBUTES),
      reason: 'not_telemetry',
      path: 'message.data',
    },
    {
      name: 'IoT Core JSON whose bytes are not UTF-8 (Latin-1)',
      m: message(Buffer.from('{"metrics":{"t":1},"tags":{"site":"K\xf6ln"}}', 'latin1'), IOT_CORE_ATTRIBUTES),
      reason: 'not_telemetry',
      path: 'message.data',
    },
    {
      name: 'IoT Core JSON that is not telemetry',
      m: message({ hello: 'world' }, IOT_CORE_ATTRIBUTES),
      reason: 'not_telemetry',
      path: 'metrics',
    },
  ];
  it("keeps the delivery attempt a CloudEvent's messagePublished data carries", async () => {
    const messageId = `poison-ce-${Math.random()}`;
    const fixture = makeStructuredCloudEvent({ ...message('not json'), messageId });
    const event = JSON.parse(fixture.body) as { data: Record<string, unknown> };
    fixture.body = JSON.stringify({ ...event, data: { ...event.data, deliveryAttempt: 3 } });
    expect(await post(fn.url, fixture)).toMatchObject({ status: 200, body: { status: 'rejected', reason: 'invalid_data' } });
    const { rows } = await tdb.db.query<{ delivery_attempt: string }>('SELECT delivery_attempt::text FROM rejected WHERE message_id = $1', [messageId]);
    expect(rows).toEqual([{ delivery_attempt: '3' }]);
  });

  it.each(cases)('$name', async ({ m, reason, path }) => {
    const messageId = `poison-${Math.random()}`;
    const res = await post(fn.url, makePushBody({ ...m, messageId }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rejected', reason });
    const { rows } = await tdb.db.query<{ reason: string; detail: { issues: { path: string }[] }; payload: string }>(
      "SELECT reason, detail, payload FROM rejected WHERE stage = 'ingest' AND message_id = $1",
      [messageId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reason).toBe(reason);
    expect(rows[0]?.detail.issues.some((i) => i.path.startsWith(path))).toBe(true);
    if (reason === 'not_telemetry')
      expect(rows[0]?.payload).toBe(
        Buffer.isBuffer(m.data) ? `base64:${m.data.toString('base64')}` : typeof m.data === 'string' ? m.data : JSON.stringify(m.data),
      );
    // Redelivery of the same poison message is recorded once.
    await post(fn.url, makePushBody({ ...m, messageId }));
    const again = await tdb.db.query('SELECT 1 FROM rejected WHERE message_id = $1', [messageId]);
    expect(again.rowCount).toBe(1);
  });
});
