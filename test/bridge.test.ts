/**
 * The bridge on the wire: every body form it accepts, pulled back from the official Pub/Sub
 * emulator with the data and attributes promised; every refusal with its status and issues.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READING_SCHEMA_VERSION } from '../schemas/reading.ts';
import { TransientError } from '../shared/errors.ts';
import { createPubsubPublisher } from '../shared/pubsub/google-publisher.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { createDevice, generateTestKeyPair, type TestKeyPair } from './support/devices.ts';
import { deviceClaims, signJwt } from './support/jwt.ts';
import { sendAsDevice, startBridge, TEST_PROJECT, useEmulator, type BridgeUnderTest, type DeviceRequest } from './support/bridge.ts';
import { freePort, waitFor } from './support/net.ts';

let database: TestDatabase;
let bridge: BridgeUnderTest;
let key: TestKeyPair;
let token: string;
let numId: number;
const DEVICE = 'sensor-01';
const TELEMETRY = `/v1/devices/${DEVICE}/telemetry`;
const IOT_PATH = `/v1/projects/${TEST_PROJECT}/locations/europe-west1/registries/plant-a/devices/${DEVICE}:publishEvent`;
const TS = '2026-03-01T10:00:00.000Z';

beforeAll(async () => {
  database = await createTestDatabase();
  key = generateTestKeyPair('es256');
  const device = await createDevice(database.db, {
    deviceId: DEVICE,
    registry: 'plant-a',
    token: true,
    publicKeys: [{ type: 'es256', pem: key.publicKeyPem }],
  });
  token = device.token as string;
  numId = device.numId;
  bridge = await startBridge({ databaseUrl: database.url });
});

afterAll(async () => {
  await bridge?.close();
  await database?.drop();
});

const send = (path: string, request: Omit<DeviceRequest, 'authorization'> & { authorization?: string }) =>
  sendAsDevice(bridge.served.url + path, { authorization: `Bearer ${token}`, ...request });
const deviceJwt = () => `Bearer ${signJwt({ alg: 'ES256', key: key.privateKeyPem, claims: deviceClaims(TEST_PROJECT) })}`;
const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

type CaseRequest = Omit<DeviceRequest, 'authorization'> & { authorization?: () => string };
/** A table case's request, signed now (JWTs must be fresh), else with the device's token. */
const sendCase = (path: string, { authorization, ...rest }: CaseRequest) =>
  send(path, { ...rest, ...(authorization ? { authorization: authorization() } : {}) });

async function waitForMessage(match: (m: { data: Buffer; attributes: Record<string, string> }) => boolean) {
  let found: { data: Buffer; attributes: Record<string, string> } | undefined;
  await waitFor(() => (found = [...bridge.received.values()].find(match)) !== undefined, { what: 'the IoT Core message on the subscription' });
  return found as { data: Buffer; attributes: Record<string, string> };
}

async function pulled(messageId: string) {
  await waitFor(() => bridge.received.has(messageId), { what: `message ${messageId} on the subscription` });
  const message = bridge.received.get(messageId);
  if (!message) throw new Error('unreachable');
  return { data: JSON.parse(message.data.toString('utf8')) as { deviceId: string; readings: Record<string, unknown>[] }, attributes: message.attributes };
}

interface AcceptCase {
  name: string;
  path?: string;
  request: CaseRequest;
  readings: Record<string, unknown>[];
  attributes?: Record<string, string>;
  /** The published data when it is not `{deviceId, readings}`: a resolved SenML pack, or IoT Core's raw bytes. */
  data?: unknown;
}

const accepted: AcceptCase[] = [
  {
    name: 'one reading',
    request: { body: { ts: TS, metrics: { temp: 21.5, ok: true, mode: 'eco' }, seq: 7 } },
    readings: [{ ts: TS, metrics: { temp: 21.5, ok: true, mode: 'eco' }, seq: 7 }],
  },
  {
    name: 'one reading naming its device, ts in epoch ms',
    request: { body: { deviceId: DEVICE, ts: Date.parse(TS), metrics: { temp: 1 } } },
    readings: [{ ts: TS, metrics: { temp: 1 } }],
  },
  {
    name: 'an array',
    request: {
      body: [
        { ts: TS, metrics: { a: 1 } },
        { ts: '2026-03-01T11:00:00+01:00', metrics: { a: 2 }, location: { lat: 1, lon: 2 } },
      ],
    },
    readings: [
      { ts: TS, metrics: { a: 1 } },
      { ts: TS, metrics: { a: 2 }, location: { lat: 1, lon: 2 } },
    ],
  },
  {
    name: 'SenML, published in its resolved form',
    request: {
      contentType: 'application/senml+json',
      body: [
        { bn: `urn:dev:${DEVICE}:`, bt: Date.parse(TS) / 1000, n: 'temp', u: 'Cel', v: 22 },
        { n: 'hum', v: 40 },
      ],
    },
    readings: [{}],
    data: [
      { n: `urn:dev:${DEVICE}:temp`, t: Date.parse(TS) / 1000, u: 'Cel', v: 22 },
      { n: `urn:dev:${DEVICE}:hum`, t: Date.parse(TS) / 1000, v: 40 },
    ],
    attributes: { contentType: 'application/senml+json' },
  },
  {
    name: 'JSON with a charset other than UTF-8 (JSON is UTF-8 whatever it says)',
    request: { contentType: 'application/json; charset=iso-8859-1', body: { ts: TS, metrics: { a: 1 } } },
    readings: [{ ts: TS, metrics: { a: 1 } }],
  },
  {
    name: 'gzip',
    request: { contentEncoding: 'gzip', body: gzipSync(JSON.stringify({ ts: TS, metrics: { z: 3 } })) },
    readings: [{ ts: TS, metrics: { z: 3 } }],
  },
  {
    name: 'no Content-Type',
    request: { contentType: null, body: Buffer.from(JSON.stringify({ ts: TS, metrics: { n: 1 } })) },
    readings: [{ ts: TS, metrics: { n: 1 } }],
  },
  {
    name: 'IoT Core binaryData with subFolder',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: base64({ ts: TS, metrics: { temp: 5 } }), subFolder: 'boiler' } },
    readings: [],
    data: { ts: TS, metrics: { temp: 5 } },
    attributes: { deviceRegistryId: 'plant-a', deviceRegistryLocation: 'europe-west1', projectId: TEST_PROJECT, subFolder: 'boiler' },
  },
  {
    name: 'IoT Core binary_data (snake case), SenML inside',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binary_data: base64([{ bt: Date.parse(TS) / 1000, n: 'temp', v: 6 }]) } },
    readings: [],
    data: [{ bt: Date.parse(TS) / 1000, n: 'temp', v: 6 }],
    attributes: { deviceRegistryId: 'plant-a', subFolder: '' },
  },
  {
    name: "IoT Core bytes that are not JSON (the samples' own payload), published unchanged",
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binary_data: Buffer.from('plant-a/sensor-01-payload-1').toString('base64url') } },
    readings: [],
    data: 'plant-a/sensor-01-payload-1',
    attributes: { deviceRegistryId: 'plant-a', subFolder: '' },
  },
  {
    // IoT Core's limit is on the event's bytes (256 KB), not on its base64 body (a third larger).
    name: "IoT Core event of 256 KiB, IoT Core's payload limit, in a body over 256 KiB",
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binary_data: Buffer.alloc(256 * 1024, 'e').toString('base64'), sub_folder: 's'.repeat(256) } },
    readings: [],
    data: 'e'.repeat(256 * 1024),
    attributes: { subFolder: 's'.repeat(256) },
  },
  {
    name: 'IoT Core event of 256 KiB, gzipped',
    path: IOT_PATH,
    request: {
      authorization: deviceJwt,
      contentEncoding: 'gzip',
      body: gzipSync(JSON.stringify({ binaryData: Buffer.alloc(256 * 1024, 'g').toString('base64') })),
    },
    readings: [],
    data: 'g'.repeat(256 * 1024),
  },
];

describe('bridge accepts every body form and publishes it', () => {
  it.each(accepted)('$name', async ({ path = TELEMETRY, request, readings, attributes, data }) => {
    const before = Date.now();
    const response = await sendCase(path, request);
    if (path === IOT_PATH) {
      // IoT Core's answer, and its message: the device's bytes as they were sent.
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body).toEqual({});
      const message = await waitForMessage(
        (m) =>
          m.attributes.receivedAt !== undefined &&
          Date.parse(m.attributes.receivedAt) >= before - 1000 &&
          m.attributes.projectId !== undefined &&
          m.data.toString() === (typeof data === 'string' ? data : JSON.stringify(data)),
      );
      expect(message.attributes).toMatchObject({ deviceId: DEVICE, deviceNumId: String(numId), ...attributes });
      return;
    }
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    expect(response.body.accepted).toBe(readings.length);
    const [messageId] = response.body.messageIds as string[];
    const message = await pulled(messageId as string);
    if (data !== undefined) expect(message.data).toEqual(data);
    else expect(message.data).toEqual({ deviceId: DEVICE, readings: readings.map((r) => expect.objectContaining(r)) });
    expect(message.attributes).toMatchObject({ deviceId: DEVICE, registry: 'plant-a', schemaVersion: READING_SCHEMA_VERSION, ...attributes });
    expect(Date.parse(message.attributes.receivedAt as string)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('stamps the receive time on readings without ts, as RFC 3339', async () => {
    const response = await send(TELEMETRY, { body: [{ metrics: { a: 1 } }, { metrics: { a: 2 } }] });
    expect(response.status).toBe(202);
    const message = await pulled((response.body.messageIds as string[])[0] as string);
    const [first, second] = message.data.readings;
    expect(first?.ts).toBe(message.attributes.receivedAt);
    expect(second?.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('returns message ids that are all on the topic, for concurrent requests', async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => send(TELEMETRY, { body: { seq: i, metrics: { i } } })));
    const ids = responses.map((r) => (r.body.messageIds as string[])[0] as string);
    expect(new Set(ids).size).toBe(40);
    const seqs = await Promise.all(ids.map(async (id) => (await pulled(id)).data.readings[0]?.seq));
    expect(seqs.sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

const tooDeep = '{"metrics":{"a":1},"tags":' + '['.repeat(40) + ']'.repeat(40) + '}';

interface RefusalCase {
  name: string;
  path?: string;
  request: CaseRequest;
  status: number;
  /** The native error code, or on IoT Core's paths Google's status name. */
  error: string;
  issuePaths?: string[];
}

const refusals: RefusalCase[] = [
  {
    name: 'invalid reading, every issue named',
    request: { body: { ts: 'yesterday', metrics: { '1bad': 1, ok: [1] }, seq: -1 } },
    status: 400,
    error: 'invalid_argument',
    issuePaths: ['ts', 'metrics.1bad', 'metrics.ok', 'seq'],
  },
  {
    name: 'invalid readings in an array',
    request: { body: [{ metrics: { a: 1 } }, { metrics: {} }, { metrics: { b: 'x' }, extra: 1 }] },
    status: 400,
    error: 'invalid_argument',
    issuePaths: ['1.metrics', '2'],
  },
  {
    name: 'a reading for another device',
    request: { body: { deviceId: 'sensor-02', metrics: { a: 1 } } },
    status: 400,
    error: 'invalid_argument',
    issuePaths: ['deviceId'],
  },
  {
    name: 'readings for another device in an array',
    request: { body: [{ metrics: { a: 1 } }, { deviceId: 'sensor-02', metrics: { a: 1 } }] },
    status: 400,
    error: 'invalid_argument',
    issuePaths: ['1.deviceId'],
  },
  {
    name: 'more than 500 readings',
    request: { body: Array.from({ length: 501 }, () => ({ metrics: { a: 1 } })) },
    status: 400,
    error: 'invalid_argument',
    issuePaths: [''],
  },
  { name: 'invalid SenML', request: { contentType: 'application/senml+json', body: [{ n: 'temp' }] }, status: 400, error: 'invalid_argument' },
  { name: 'not JSON', request: { body: '{"metrics": ' }, status: 400, error: 'invalid_json' },
  {
    name: 'a metric named __proto__',
    request: { body: '{"metrics":{"t":1,"__proto__":42}}' },
    status: 400,
    error: 'invalid_argument',
    issuePaths: ['metrics.__proto__'],
  },
  {
    name: 'JSON in Latin-1, not UTF-8',
    request: { body: Buffer.from('{"metrics":{"a":1},"tags":{"site":"K\xf6ln"}}', 'latin1') },
    status: 400,
    error: 'invalid_json',
  },
  { name: 'empty body', request: { body: '' }, status: 400, error: 'invalid_argument' },
  { name: 'JSON nested too deep', request: { body: tooDeep }, status: 400, error: 'too_deep' },
  { name: 'not gzip though it says so', request: { contentEncoding: 'gzip', body: 'plain' }, status: 400, error: 'bad_gzip' },
  {
    name: 'IoT Core body without binaryData',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { subFolder: 'x' } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['binaryData'],
  },
  {
    name: 'IoT Core binaryData of a length no bytes encode to (Node would decode "A" as nothing)',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: 'A' } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['binaryData'],
  },
  {
    name: 'IoT Core body naming binaryData twice, as binaryData and binary_data (proto3 JSON: one field, once)',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: base64({ metrics: { a: 1 } }), binary_data: base64({ metrics: { a: 2 } }) } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['binaryData', 'binary_data'],
  },
  {
    name: 'IoT Core body naming subFolder twice, even with one value',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: base64({ metrics: { a: 1 } }), subFolder: 'x', sub_folder: 'x' } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['subFolder', 'sub_folder'],
  },
  {
    name: 'IoT Core body that is not JSON',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: 'binary_data=x' },
    status: 400,
    error: 'INVALID_ARGUMENT',
  },
  {
    name: 'IoT Core body as text/plain',
    path: IOT_PATH,
    request: { authorization: deviceJwt, contentType: 'text/plain', body: { binaryData: base64({ metrics: { a: 1 } }) } },
    status: 415,
    error: 'INVALID_ARGUMENT',
  },
  {
    name: 'IoT Core body in brotli',
    path: IOT_PATH,
    request: { authorization: deviceJwt, contentEncoding: 'br', body: 'x' },
    status: 415,
    error: 'INVALID_ARGUMENT',
  },
  {
    name: 'IoT Core event over 256 KiB',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: Buffer.alloc(256 * 1024 + 1).toString('base64') } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['binaryData'],
  },
  {
    name: 'IoT Core event over 256 KiB, unpadded URL-safe base64',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binary_data: Buffer.alloc(256 * 1024 + 1).toString('base64url') } },
    status: 400,
    error: 'INVALID_ARGUMENT',
    issuePaths: ['binary_data'],
  },
  {
    name: 'IoT Core body over what a 256 KiB event needs',
    path: IOT_PATH,
    request: { authorization: deviceJwt, body: { binaryData: 'A'.repeat(360 * 1024) } },
    status: 413,
    error: 'INVALID_ARGUMENT',
  },
  {
    name: 'IoT Core setState body over 256 KiB',
    path: IOT_PATH.replace(':publishEvent', ':setState'),
    request: { authorization: deviceJwt, body: { state: { binaryData: 'A'.repeat(300 * 1024) } } },
    status: 413,
    error: 'INVALID_ARGUMENT',
  },
  { name: 'a text/plain body', request: { contentType: 'text/plain', body: { metrics: { a: 1 } } }, status: 415, error: 'unsupported_media_type' },
  { name: 'over 256 KiB', request: { body: JSON.stringify({ metrics: { s: 'x'.repeat(300 * 1024) } }) }, status: 413, error: 'payload_too_large' },
  {
    name: 'over 256 KiB after gunzip',
    request: { contentEncoding: 'gzip', body: gzipSync(JSON.stringify({ metrics: { a: 1 }, tags: { t: ' '.repeat(300 * 1024) } })) },
    status: 413,
    error: 'payload_too_large',
  },
  {
    name: 'over 256 KiB + 1 KiB while compressed',
    request: { contentEncoding: 'gzip', body: Buffer.concat([gzipSync('{"metrics":{"a":1}}'), Buffer.alloc(258 * 1024)]) },
    status: 413,
    error: 'payload_too_large',
  },
  {
    name: 'a gzip bomb (64 MiB of zeros in 64 KiB)',
    request: { contentEncoding: 'gzip', body: gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 }) },
    status: 413,
    error: 'payload_too_large',
  },
  { name: 'an XML body', request: { contentType: 'application/xml', body: '<r/>' }, status: 415, error: 'unsupported_media_type' },
  { name: 'a form body', request: { contentType: 'application/x-www-form-urlencoded', body: 'a=1' }, status: 415, error: 'unsupported_media_type' },
  { name: 'brotli', request: { contentEncoding: 'br', body: 'x' }, status: 415, error: 'unsupported_encoding' },
  {
    name: 'IoT Core path of another project',
    path: IOT_PATH.replace(TEST_PROJECT, 'another-project'),
    request: { authorization: deviceJwt, body: { binaryData: base64({ metrics: { a: 1 } }) } },
    status: 404,
    error: 'NOT_FOUND',
  },
  {
    name: 'IoT Core path of another registry',
    path: IOT_PATH.replace('plant-a', 'plant-b'),
    request: { authorization: deviceJwt, body: { binaryData: base64({ metrics: { a: 1 } }) } },
    status: 401,
    error: 'UNAUTHENTICATED',
  },
  { name: 'an unknown path', path: '/v1/devices', request: { body: {} }, status: 404, error: 'not_found' },
];

describe('bridge refuses bad requests clearly', () => {
  it.each(refusals)('$name → $status', async ({ path = TELEMETRY, request, status, error, issuePaths }) => {
    const response = await sendCase(path, request);
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    if (path.startsWith('/v1/projects/')) {
      // Google's error body: {"error": {"code", "message", "status"}}, issues as field violations.
      const google = response.body.error as { code: number; message: string; status: string; details?: { fieldViolations: { field: string }[] }[] };
      expect(google).toMatchObject({ code: status, status: error, message: expect.any(String) });
      for (const p of issuePaths ?? []) expect(google.details?.[0]?.fieldViolations.map((v) => v.field)).toContain(p);
      return;
    }
    expect(response.body.error).toBe(error);
    if (issuePaths) {
      const paths = (response.body.issues as { path: string }[]).map((i) => i.path);
      for (const p of issuePaths) expect(paths).toContain(p);
    }
  });

  it('answers 405 to GET and keeps serving after every refusal', async () => {
    const response = await fetch(bridge.served.url + TELEMETRY);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect((await send(TELEMETRY, { body: { metrics: { still: 1 } } })).status).toBe(202);
  });
});

describe('bridge rate limit (DEVICE_RATE_LIMIT)', () => {
  it('answers 429 with Retry-After and the limit name once a device spent its bucket', async () => {
    const limited = await startBridge({ databaseUrl: database.url, env: { DEVICE_RATE_LIMIT: '3/min' } });
    try {
      const other = await createDevice(database.db, { deviceId: 'sensor-limited-2', token: true });
      const url = limited.served.url + TELEMETRY;
      for (let i = 0; i < 3; i++) expect((await sendAsDevice(url, { authorization: `Bearer ${token}`, body: { metrics: { i } } })).status).toBe(202);
      const refused = await sendAsDevice(url, { authorization: `Bearer ${token}`, body: { metrics: { i: 4 } } });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(refused.body).toMatchObject({ error: 'rate_limited', limit: 'DEVICE_RATE_LIMIT' });
      expect(refused.body.message).toContain('3/min');
      const otherUrl = `${limited.served.url}/v1/devices/sensor-limited-2/telemetry`;
      expect((await sendAsDevice(otherUrl, { authorization: `Bearer ${other.token as string}`, body: { metrics: { a: 1 } } })).status).toBe(202);
    } finally {
      await limited.close();
    }
  });
});

describe('bridge when Pub/Sub cannot be reached', () => {
  it('answers 503 with Retry-After within seconds, accepting nothing', async () => {
    const closedPort = await freePort();
    const unreachable = await startBridge({
      databaseUrl: database.url,
      providers: { publisher: () => Promise.resolve(createPubsubPublisher({ projectId: TEST_PROJECT, emulatorHost: `127.0.0.1:${closedPort}` })) },
    });
    try {
      const started = Date.now();
      const response = await sendAsDevice(unreachable.served.url + TELEMETRY, { authorization: `Bearer ${token}`, body: { metrics: { a: 1 } } });
      console.info(`503 after ${Date.now() - started} ms`);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.body).not.toHaveProperty('accepted');
    } finally {
      await unreachable.close();
    }
  });
});

describe('bridge whose first Pub/Sub open fails', () => {
  it('answers 503 for that request, then opens Pub/Sub again and accepts the next', async () => {
    let opens = 0;
    const flaky = await startBridge({
      databaseUrl: database.url,
      providers: {
        publisher: () =>
          ++opens === 1
            ? Promise.reject(new TransientError('Pub/Sub client could not be opened'))
            : Promise.resolve(createPubsubPublisher({ projectId: TEST_PROJECT, emulatorHost: useEmulator() })),
      },
    });
    try {
      const first = await sendAsDevice(flaky.served.url + TELEMETRY, { authorization: `Bearer ${token}`, body: { metrics: { attempt: 1 } } });
      expect(first.status).toBe(503);
      expect(first.body).not.toHaveProperty('accepted');
      const second = await sendAsDevice(flaky.served.url + TELEMETRY, { authorization: `Bearer ${token}`, body: { metrics: { attempt: 2 } } });
      expect(second.status, JSON.stringify(second.body)).toBe(202);
      const [messageId] = (second.body as { messageIds: string[] }).messageIds;
      await waitFor(() => flaky.received.has(messageId as string), { what: 'the second reading on the topic' });
      expect(JSON.parse(flaky.received.get(messageId as string)?.data.toString() ?? '')).toMatchObject({
        deviceId: DEVICE,
        readings: [{ metrics: { attempt: 2 } }],
      });
      expect(opens).toBe(2);
    } finally {
      await flaky.close();
    }
  });
});

describe('configuration and state on the device paths', () => {
  const IOT_BASE = IOT_PATH.replace(':publishEvent', '');

  it("publishes an IoT Core setState to STATE_TOPIC with IoT Core's attributes, answering 200 {}", async () => {
    const state = Buffer.from('{"fw":"1.0"}');
    const response = await send(`${IOT_BASE}:setState`, { authorization: deviceJwt(), body: { state: { binaryData: state.toString('base64') } } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toEqual({});
    await waitFor(() => [...bridge.states.values()].some((m) => m.data.equals(state)), { what: 'the state notification' });
    const message = [...bridge.states.values()].find((m) => m.data.equals(state));
    expect(message?.attributes).toEqual({
      deviceId: DEVICE,
      deviceNumId: String(numId),
      deviceRegistryId: 'plant-a',
      deviceRegistryLocation: 'europe-west1',
      projectId: TEST_PROJECT,
    });
  });

  it('takes a JSON state on the native path (202) and serves the config to a token device', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100)); // one state per second per device
    const response = await send(`/v1/devices/${DEVICE}/state`, { body: { fw: '1.1' } });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    expect(response.body).toMatchObject({ accepted: 1, messageIds: [expect.any(String)] });
    const config = await fetch(`${bridge.served.url}/v1/devices/${DEVICE}/config`, { headers: { authorization: `Bearer ${token}` } });
    expect(config.status).toBe(200);
    expect(await config.json()).toMatchObject({ version: '1', binaryData: '' });
  });

  it("refuses a gateway's setState or publishEvent for a bound device (gatewayInfo.delegatedDeviceId), and takes a device's own sent through a gateway (gatewayId)", async () => {
    // A gateway speaking for a device it names: the bridge has no gateways, and taking the
    // request would file that device's state or event as the gateway's own.
    const fieldsOf = (body: Record<string, unknown>) =>
      (body.error as { details: { fieldViolations: { field: string }[] }[] }).details[0]?.fieldViolations.map((v) => v.field);
    const delegatedState = await send(`${IOT_BASE}:setState`, {
      authorization: deviceJwt(),
      body: { state: { binaryData: Buffer.from('theirs').toString('base64') }, gatewayInfo: { delegatedDeviceId: 'thermo-7' } },
    });
    expect(delegatedState.status, JSON.stringify(delegatedState.body)).toBe(400);
    expect(fieldsOf(delegatedState.body)).toEqual(['gatewayInfo.delegatedDeviceId']);
    const delegatedEvent = await send(`${IOT_BASE}:publishEvent`, {
      authorization: deviceJwt(),
      body: { binary_data: Buffer.from('theirs').toString('base64'), gateway_info: { delegated_device_id: 'thermo-7' } },
    });
    expect(delegatedEvent.status, JSON.stringify(delegatedEvent.body)).toBe(400);
    expect(fieldsOf(delegatedEvent.body)).toEqual(['gateway_info.delegated_device_id']);
    // The device's own path and JWT, relayed by a gateway: the device's, as IoT Core took it.
    await new Promise((resolve) => setTimeout(resolve, 1100)); // one state per second per device
    for (const [tail, body] of [
      [':publishEvent', { binaryData: Buffer.from('mine').toString('base64'), gatewayInfo: { gatewayId: 'gw-1' } }],
      [':setState', { state: { binary_data: Buffer.from('mine').toString('base64') }, gateway_info: { gateway_id: 'gw-1' } }],
    ] as const) {
      const relayed = await send(`${IOT_BASE}${tail}`, { authorization: deviceJwt(), body });
      expect(relayed.status, `${tail} ${JSON.stringify(relayed.body)}`).toBe(200);
    }
  });

  it('refuses a setState naming binaryData twice, and a config query naming local_version twice, naming both', async () => {
    const state = { binaryData: Buffer.from('a').toString('base64'), binary_data: Buffer.from('b').toString('base64') };
    const twice = await send(`${IOT_BASE}:setState`, { authorization: deviceJwt(), body: { state } });
    expect(twice.status).toBe(400);
    const violations = (twice.body.error as { details: { fieldViolations: { field: string }[] }[] }).details[0]?.fieldViolations.map((v) => v.field);
    expect(violations).toEqual(expect.arrayContaining(['state.binaryData', 'state.binary_data']));
    const config = await fetch(`${bridge.served.url}${IOT_BASE}/config?local_version=0&localVersion=1`, {
      headers: { authorization: deviceJwt() },
    });
    expect(config.status).toBe(400);
    const body = (await config.json()) as { error: { status: string; details: { fieldViolations: { field: string }[] }[] } };
    expect(body.error.status).toBe('INVALID_ARGUMENT');
    expect(body.error.details[0]?.fieldViolations.map((v) => v.field)).toEqual(expect.arrayContaining(['local_version', 'localVersion']));
    // One name given twice: which copy counts would decide whether version 1 is acknowledged.
    const repeated = await fetch(`${bridge.served.url}${IOT_BASE}/config?local_version=1&local_version=0`, { headers: { authorization: deviceJwt() } });
    expect(repeated.status).toBe(400);
    const repeatedBody = (await repeated.json()) as { error: { details: { fieldViolations: { field: string; description: string }[] }[] } };
    expect(repeatedBody.error.details[0]?.fieldViolations).toEqual([{ field: 'local_version', description: expect.stringContaining('more than once') }]);
    // Parameters IoT Core did not define are ignored, repeated or not: a device may send its own.
    const extras = await fetch(`${bridge.served.url}${IOT_BASE}/config?local_version=0&cb=a&cb=b&_=1`, { headers: { authorization: deviceJwt() } });
    expect(extras.status).toBe(200);
    // Either name alone still serves the config.
    for (const query of ['local_version=0', 'localVersion=0']) {
      const alone = await fetch(`${bridge.served.url}${IOT_BASE}/config?${query}`, { headers: { authorization: deviceJwt() } });
      expect(alone.status, query).toBe(200);
    }
  });

  it.each([{ state: {} }, { state: { binaryData: 'AAAAA' } }])(
    "refuses a setState without good binaryData in Google's error shape, naming the field: %j",
    async (body) => {
      const response = await send(`${IOT_BASE}:setState`, { authorization: deviceJwt(), body });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ fieldViolations: [{ field: 'state.binaryData' }] }] },
      });
    },
  );
});
