/**
 * Nobody gets in: device A cannot post as device B by any path; the registry answers nobody
 * without the admin token; forged, expired and not-yet-valid JWTs fail; SQL injection strings
 * are stored verbatim or refused; slow clients and oversize headers are cut off; no secret
 * reaches a log line or a response it should not; production mode wants an OIDC push token.
 * @see ../docs/devices.md
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import deadletter from '../functions/deadletter/index.ts';
import ingest from '../functions/ingest/index.ts';
import registry from '../functions/registry/index.ts';
import { createPlatform } from '../shared/runtime/platform.ts';
import { serveFunction, type RunningFunction } from '../shared/runtime/serve.ts';
import { guardAgainstCrashes, sendRaw, type RawResponse } from './support/wire.ts';
import { startBridge, TEST_PROJECT, type BridgeUnderTest } from './support/bridge.ts';
import { createDevice, generateTestKeyPair, type TestKeyPair } from './support/devices.ts';
import { deviceClaims, signJwt, type SignJwtOptions } from './support/jwt.ts';
import { captureLogs, createTestDatabase, makeMessage, startFunction, testConfig, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { waitFor } from './support/net.ts';
import { makeKey, serveCerts, signToken, type LocalKey } from './support/oidc-keys.ts';

const ADMIN_TOKEN = 'security-admin-token-Zx81kq';
const SQL_INJECTIONS = [
  "'; DROP TABLE readings; --",
  "1' OR '1'='1",
  'x"); DELETE FROM devices; --',
  '$1::text; TRUNCATE rejected',
  "\\'; SELECT pg_sleep(10); --",
];
const logs = captureLogs('debug');
const guard = guardAgainstCrashes();
/** Every secret issued or sent in this suite; none may appear in a log line. */
const secrets = new Set<string>([ADMIN_TOKEN]);
/** Every response body this suite saw, except the registry's create answers (which carry the new token once). */
const responses: string[] = [];
let tdb: TestDatabase;
let bridge: BridgeUnderTest;
let ingestFn: ServedFunction;
let registryFn: ServedFunction;
let keyA: TestKeyPair;
let keyB: TestKeyPair;
const token: Record<'a' | 'b', string> = { a: '', b: '' };

beforeAll(async () => {
  tdb = await createTestDatabase();
  [keyA, keyB] = [generateTestKeyPair('es256'), generateTestKeyPair('es256')];
  token.a = (await createDevice(tdb.db, { deviceId: 'dev-a', token: true, publicKeys: [{ type: 'es256', pem: keyA.publicKeyPem }] })).token as string;
  token.b = (await createDevice(tdb.db, { deviceId: 'dev-b', token: true, publicKeys: [{ type: 'es256', pem: keyB.publicKeyPem }] })).token as string;
  secrets.add(token.a).add(token.b);
  bridge = await startBridge({ databaseUrl: tdb.url, logger: logs.logger });
  const env = { DATABASE_URL: tdb.url, ADMIN_TOKEN, GOOGLE_CLOUD_PROJECT: TEST_PROJECT };
  ingestFn = await startFunction(ingest, { env, logger: logs.logger });
  registryFn = await startFunction(registry, { env, logger: logs.logger });
});

afterAll(async () => {
  guard.dispose();
  await bridge?.close();
  await ingestFn?.close();
  await registryFn?.close();
  await tdb?.drop();
});

async function send(url: string, options: Parameters<typeof sendRaw>[1]): Promise<RawResponse> {
  const response = await sendRaw(url, options);
  responses.push(response.text);
  return response;
}

const reading = { metrics: { temperature: 21.5 } };
const asDevice = (path: string, authorization: string, body: unknown = reading) => {
  if (authorization.startsWith('Bearer ')) secrets.add(authorization.slice('Bearer '.length));
  return send(bridge.served.url, { path, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
};
const iotPath = (deviceId: string) => `/v1/projects/${TEST_PROJECT}/locations/europe-west1/registries/default/devices/${deviceId}:publishEvent`;
const iotBody = (body: unknown = reading) => ({ binaryData: Buffer.from(JSON.stringify(body)).toString('base64') });
const jwtFor = (key: TestKeyPair, options: Partial<SignJwtOptions> = {}) =>
  `Bearer ${signJwt({ alg: 'ES256', key: key.privateKeyPem, claims: deviceClaims(TEST_PROJECT), ...options })}`;
const now = () => Math.floor(Date.now() / 1000);

describe('device A cannot post as device B', () => {
  const attempts: { name: string; path: () => string; auth: () => string; body?: unknown; expected: number[] }[] = [
    { name: "B's telemetry path with A's token", path: () => '/v1/devices/dev-b/telemetry', auth: () => `Bearer ${token.a}`, expected: [401] },
    { name: "B's IoT Core path with A's JWT", path: () => iotPath('dev-b'), auth: () => jwtFor(keyA), body: iotBody(), expected: [401] },
    { name: "B's telemetry path with A's JWT", path: () => '/v1/devices/dev-b/telemetry', auth: () => jwtFor(keyA), expected: [401] },
    {
      name: 'deviceId B in the body of one reading',
      path: () => '/v1/devices/dev-a/telemetry',
      auth: () => `Bearer ${token.a}`,
      body: { ...reading, deviceId: 'dev-b' },
      expected: [400],
    },
    {
      name: 'deviceId B in a batch',
      path: () => '/v1/devices/dev-a/telemetry',
      auth: () => `Bearer ${token.a}`,
      body: { deviceId: 'dev-b', readings: [reading] },
      expected: [400],
    },
    {
      name: 'deviceId B in an array',
      path: () => '/v1/devices/dev-a/telemetry',
      auth: () => `Bearer ${token.a}`,
      body: [reading, { ...reading, deviceId: 'dev-b' }],
      expected: [400],
    },
    // IoT Core does not judge the device's bytes: they are published as A's (attribute deviceId = A).
    {
      name: 'deviceId B inside IoT Core binaryData',
      path: () => iotPath('dev-a'),
      auth: () => jwtFor(keyA),
      body: iotBody({ ...reading, deviceId: 'dev-b' }),
      expected: [200],
    },
    { name: 'B percent-encoded in the path', path: () => '/v1/devices/%64%65%76%2d%62/telemetry', auth: () => `Bearer ${token.a}`, expected: [401] },
    { name: 'dot segments from A to B', path: () => '/v1/devices/dev-a/../dev-b/telemetry', auth: () => `Bearer ${token.a}`, expected: [401, 404] },
    { name: 'encoded slash from A to B', path: () => '/v1/devices/dev-a%2F..%2Fdev-b/telemetry', auth: () => `Bearer ${token.a}`, expected: [400, 401, 404] },
    { name: 'B with different case', path: () => '/v1/devices/DEV-B/telemetry', auth: () => `Bearer ${token.a}`, expected: [401] },
    {
      name: "A's token with B's id in a query string",
      path: () => '/v1/devices/dev-b/telemetry?deviceId=dev-a',
      auth: () => `Bearer ${token.a}`,
      expected: [401],
    },
  ];

  it.each(attempts)('$name → $expected', async ({ path, auth, body, expected }) => {
    const response = await asDevice(path(), auth(), body);
    expect(expected).toContain(response.status);
  });

  it('nothing was published in the name of B', async () => {
    const control = await asDevice('/v1/devices/dev-a/telemetry', `Bearer ${token.a}`);
    expect(control.status).toBe(202);
    await waitFor(() => bridge.received.size >= 1, { what: 'the control message' });
    for (const message of bridge.received.values()) {
      expect(message.attributes.deviceId).toBe('dev-a');
      // Only IoT Core's publishEvent carries the device's own bytes, which may say anything.
      if (message.attributes.projectId === undefined) expect(message.data.toString()).not.toContain('dev-b');
    }
  });
});

describe('JWTs: forged, expired, not yet valid, replayed', () => {
  const cases: { name: string; auth: () => string; expected: number }[] = [
    { name: 'alg none', auth: () => jwtFor(keyA, { alg: 'none' }), expected: 401 },
    { name: 'HS256 keyed with the public key (algorithm confusion)', auth: () => jwtFor(keyA, { alg: 'HS256', key: keyA.publicKeyPem }), expected: 401 },
    { name: 'header says ES256, signed by another key', auth: () => jwtFor(keyB), expected: 401 },
    { name: 'expired', auth: () => jwtFor(keyA, { claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() - 7200, lifetimeSeconds: 3600 }) }), expected: 401 },
    {
      name: 'not yet valid (iat beyond the 10 min skew)',
      auth: () => jwtFor(keyA, { claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() + 3600 }) }),
      expected: 401,
    },
    {
      name: 'replayed after its window (issued 25 h ago, lifetime 24 h)',
      auth: () => jwtFor(keyA, { claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() - 25 * 3600, lifetimeSeconds: 24 * 3600 }) }),
      expected: 401,
    },
    { name: 'lifetime over 24 h', auth: () => jwtFor(keyA, { claims: deviceClaims(TEST_PROJECT, { lifetimeSeconds: 48 * 3600 }) }), expected: 401 },
    { name: 'another audience', auth: () => jwtFor(keyA, { claims: deviceClaims('someone-else') }), expected: 401 },
    { name: 'signature stripped', auth: () => jwtFor(keyA).replace(/\.[^.]+$/, '.'), expected: 401 },
    {
      name: 'crit naming an extension the bridge does not implement (RFC 7515 §4.1.11)',
      auth: () => jwtFor(keyA, { header: { crit: ['exp-ext'], 'exp-ext': true } }),
      expected: 401,
    },
    { name: 'crit empty', auth: () => jwtFor(keyA, { header: { crit: [] } }), expected: 401 },
    {
      name: 'nbf an hour ahead, beyond the skew (RFC 7519 §4.1.5)',
      auth: () => jwtFor(keyA, { claims: { ...deviceClaims(TEST_PROJECT), nbf: now() + 3600 } }),
      expected: 401,
    },
    { name: 'nbf not a number', auth: () => jwtFor(keyA, { claims: { ...deviceClaims(TEST_PROJECT), nbf: 'soon' } }), expected: 401 },
    {
      name: 'nbf a minute ahead, within the skew (control)',
      auth: () => jwtFor(keyA, { claims: { ...deviceClaims(TEST_PROJECT), nbf: now() + 60 } }),
      expected: 200,
    },
    { name: 'valid ES256 (control)', auth: () => jwtFor(keyA), expected: 200 },
  ];
  it.each(cases)('$name → $expected', async ({ auth, expected }) => {
    expect((await asDevice(iotPath('dev-a'), auth(), iotBody())).status).toBe(expected);
  });

  it('logs why a JWT was refused, for operators, and tells the device nothing more', async () => {
    const before = logs.lines.length;
    const response = await asDevice(iotPath('dev-a'), jwtFor(keyA, { header: { crit: ['b64'] } }), iotBody());
    expect(response.status).toBe(401);
    expect(JSON.stringify(response.body)).not.toMatch(/crit/);
    const refusals = logs
      .records()
      .slice(before)
      .filter((r) => r.message === 'device credential refused');
    expect(refusals).toEqual([expect.objectContaining({ deviceId: 'dev-a', reason: expect.stringMatching(/crit/) })]);
  });
});

describe('registry without the admin token', () => {
  const routes: [string, string, unknown?][] = [
    ['POST', '/v1/devices', { deviceId: 'intruder-1', credentials: [{ type: 'token' }] }],
    ['POST', '/v1/devices:batchCreate', { devices: [{ deviceId: 'intruder-2' }] }],
    ['GET', '/v1/devices'],
    ['GET', '/v1/devices/dev-a'],
    ['GET', '/v1/devices/dev-a/state'],
    ['PATCH', '/v1/devices/dev-a', { blocked: true }],
    ['DELETE', '/v1/devices/dev-a'],
    ['GET', '/v1/nothing'],
  ];
  const credentials = [
    undefined,
    '',
    'Bearer',
    'Bearer wrong',
    `Bearer ${ADMIN_TOKEN}x`,
    `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
    `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
    ADMIN_TOKEN,
    `bearer  ${token.a}`,
  ];

  it('answers 401 on every route for every wrong credential, and changes nothing', async () => {
    for (const [method, path, body] of routes) {
      for (const authorization of credentials) {
        const response = await send(registryFn.url, {
          method,
          path,
          headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect(response.status, `${method} ${path} with ${String(authorization)}`).toBe(401);
        expect(response.body).toMatchObject({ error: 'unauthenticated' });
      }
    }
    const { rows } = await tdb.db.query<{ device_id: string; blocked: boolean }>('SELECT device_id, blocked FROM devices ORDER BY device_id');
    expect(rows).toEqual([
      { device_id: 'dev-a', blocked: false },
      { device_id: 'dev-b', blocked: false },
    ]);
  });
});

describe('SQL injection strings are stored verbatim or refused', () => {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

  it('registry: refused as device ids and page tokens, verbatim as site and tags', async () => {
    for (const s of SQL_INJECTIONS) {
      expect((await send(registryFn.url, { path: '/v1/devices', headers: admin, body: JSON.stringify({ deviceId: s }) })).status).toBe(400);
      expect((await send(registryFn.url, { method: 'GET', path: `/v1/devices/${encodeURIComponent(s)}`, headers: admin })).status).toBe(400);
      const forged = Buffer.from(JSON.stringify({ after: s })).toString('base64url');
      expect((await send(registryFn.url, { method: 'GET', path: `/v1/devices?pageToken=${forged}`, headers: admin })).status).toBe(400);
      expect((await send(registryFn.url, { method: 'GET', path: `/v1/devices?pageToken=${encodeURIComponent(s)}`, headers: admin })).status).toBe(400);
    }
    const tags = Object.fromEntries(SQL_INJECTIONS.map((s, i) => [`k${i}`, s]));
    const created = await sendRaw(registryFn.url, {
      path: '/v1/devices',
      headers: admin,
      body: JSON.stringify({ deviceId: 'dev-inject', site: SQL_INJECTIONS[0], tags, credentials: [{ type: 'token' }] }),
    });
    expect(created.status).toBe(201);
    secrets.add(((created.body?.credentials as { token: string }[])[0] as { token: string }).token);
    const read = await send(registryFn.url, { method: 'GET', path: '/v1/devices/dev-inject', headers: admin });
    expect(read.body).toMatchObject({ site: SQL_INJECTIONS[0], tags });
  });

  it('bridge and ingest: metric text values, tags and message attributes verbatim', async () => {
    const injected = {
      ts: new Date(Date.now() - 60_000).toISOString(),
      seq: 4242,
      metrics: { note: SQL_INJECTIONS[0], other: SQL_INJECTIONS[1] },
      tags: { [SQL_INJECTIONS[2] as string]: SQL_INJECTIONS[3] },
    };
    const before = bridge.received.size;
    expect((await asDevice('/v1/devices/dev-a/telemetry', `Bearer ${token.a}`, injected)).status).toBe(202);
    await waitFor(() => bridge.received.size > before, { what: 'the injected message' });
    for (const message of bridge.received.values()) {
      const envelope = {
        message: makeMessage({ data: message.data, attributes: message.attributes, messageId: message.id }),
        subscription: 'projects/p/subscriptions/s',
      };
      expect((await send(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) })).body).toMatchObject({
        status: 'ok',
      });
    }
    const { rows } = await tdb.db.query<{ metrics: Record<string, string> }>('SELECT metrics FROM readings WHERE seq = 4242');
    expect(rows).toEqual([{ metrics: injected.metrics }]);

    const poison = {
      message: makeMessage({ data: reading, attributes: { deviceId: 'nobody-here', evil: SQL_INJECTIONS[4] as string }, messageId: SQL_INJECTIONS[0] }),
    };
    expect((await send(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(poison) })).body).toMatchObject({
      status: 'rejected',
      reason: 'unknown_device',
    });
    const rejected = await tdb.db.query<{ message_id: string; attributes: Record<string, string> }>(
      'SELECT message_id, attributes FROM rejected WHERE message_id = $1',
      [SQL_INJECTIONS[0]],
    );
    expect(rejected.rows[0]?.attributes.evil).toBe(SQL_INJECTIONS[4]);
    // Every table is still there and whole.
    const counts = await tdb.db.query<{ n: number }>('SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM device_credentials) AS n');
    expect(Number(counts.rows[0]?.n)).toBeGreaterThanOrEqual(3 + 3);
  });
});

describe('slow clients and oversize headers', () => {
  let served: RunningFunction;
  let url: URL;
  beforeAll(async () => {
    const platform = createPlatform({ config: testConfig({ DATABASE_URL: tdb.url }), logger: logs.logger });
    served = await serveFunction(deadletter, platform, { port: 0, host: '127.0.0.1', timeouts: { headersMs: 1_000, requestMs: 2_000, checkIntervalMs: 100 } });
    url = new URL(served.url);
  });
  afterAll(() => served?.stop());

  /** Trickles `text` one byte per `intervalMs`; resolves with the bytes sent before the server hung up. */
  function trickle(text: string, intervalMs: number): Promise<{ sent: number; answer: string }> {
    return new Promise((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      let sent = 0;
      let answer = '';
      const timer = setInterval(() => {
        if (sent >= text.length) return;
        socket.write(text[sent] as string);
        sent += 1;
      }, intervalMs);
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ sent, answer });
      });
    });
  }

  it('cuts off a client that sends its headers one byte at a time (slowloris)', async () => {
    const headers = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${'X-Pad: 0123456789\r\n'.repeat(20)}\r\n`;
    const result = await trickle(headers, 100);
    expect(result.sent).toBeLessThan(headers.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
  });

  it('cuts off a client that trickles its body', async () => {
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n';
    const result = await trickle(head + ' '.repeat(400), 20);
    expect(result.sent).toBeLessThan(head.length + 400);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
  });

  it('refuses oversize headers with 431 and keeps serving', async () => {
    const response = await sendRaw(served.url, { headers: { 'x-huge': 'h'.repeat(64 * 1024) }, body: '{}' }).catch(() => ({ status: 431 }));
    expect(response.status).toBe(431);
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v']));
    expect((await sendRaw(served.url, { headers: many, body: '{}' })).status).toBeLessThan(500);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
  });
});

describe('production mode: pushes need a valid OIDC token', () => {
  const AUDIENCE = 'https://ingest.example.run.app/';
  const PUSHER = 'push@security-test.iam.gserviceaccount.com';
  const trusted = makeKey('k1');
  // The same kid as the trusted key: only the signature tells them apart.
  const stranger = makeKey('k1');
  let certs: Awaited<ReturnType<typeof serveCerts>>;
  let prodIngest: ServedFunction;
  let prodDeadletter: ServedFunction;

  const idToken = (key: LocalKey, claims: Record<string, unknown> = {}): string => {
    const iat = now();
    const signed = signToken(key, { aud: AUDIENCE, email: PUSHER, iat, exp: iat + 600, ...claims });
    secrets.add(signed);
    return signed;
  };

  beforeAll(async () => {
    certs = await serveCerts([trusted]);
    const env = {
      DATABASE_URL: tdb.url,
      NODE_ENV: 'production',
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT,
      PUSH_AUTH_AUDIENCE: AUDIENCE,
      PUSH_AUTH_ALLOWED_EMAILS: PUSHER,
      PUSH_AUTH_CERTS_URL: certs.url,
    };
    prodIngest = await startFunction(ingest, { env, logger: logs.logger });
    prodDeadletter = await startFunction(deadletter, { env, logger: logs.logger });
  });
  afterAll(async () => {
    await prodIngest?.close();
    await prodDeadletter?.close();
    await certs?.close();
  });

  const push = () => JSON.stringify({ message: makeMessage({ data: reading, attributes: { deviceId: 'dev-a' } }), subscription: 'projects/p/subscriptions/s' });

  const cases: [string, () => string | undefined, number][] = [
    ['no token', () => undefined, 401],
    ['a token signed by another key', () => idToken(stranger), 401],
    ['a token for another audience', () => idToken(trusted, { aud: 'https://elsewhere/' }), 401],
    ['an expired token', () => idToken(trusted, { iat: now() - 7200, exp: now() - 3600 }), 401],
    ['a token of another service account', () => idToken(trusted, { email: 'evil@x.iam.gserviceaccount.com' }), 403],
    ['a valid token', () => idToken(trusted), 200],
  ];
  it.each(cases)('%s → %i', async (_name, tokenOf, expected) => {
    const t = tokenOf();
    for (const fn of [prodIngest, prodDeadletter]) {
      const response = await send(fn.url, { headers: { 'content-type': 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}) }, body: push() });
      expect(response.status, fn.name).toBe(expected);
    }
  });

  it('refuses a push without a token before reading its body: 401 for 17 MB, not 413', async () => {
    const body = Buffer.alloc(17 * 1024 * 1024, 0x20);
    for (const fn of [prodIngest, prodDeadletter]) {
      const response = await send(fn.url, { headers: { 'content-type': 'application/json' }, body });
      expect(response.status, fn.name).toBe(401);
    }
  });
});

describe('secrets', () => {
  it('no token, JWT or admin token appears in any log line or other response', () => {
    expect(logs.lines.length).toBeGreaterThan(50);
    expect(secrets.size).toBeGreaterThan(10);
    const leaks: string[] = [];
    for (const secret of secrets) {
      for (const line of logs.lines) if (line.includes(secret)) leaks.push(`log: ${line.slice(0, 200)}`);
      for (const body of responses) if (body.includes(secret)) leaks.push(`response: ${body.slice(0, 200)}`);
    }
    expect(leaks).toEqual([]);
  });

  it('nothing went unhandled', () => {
    expect(guard.problems).toEqual([]);
  });
});
