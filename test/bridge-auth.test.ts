/**
 * The bridge's authentication matrix, against real PostgreSQL and the Pub/Sub emulator:
 * every bad credential gets the same 401, a blocked device 403, good ones 202.
 */
import { sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../shared/db/database.ts';
import { captureLogs, createTestDatabase, type TestDatabase } from './support/kit.ts';
import { generateDeviceToken, hashDeviceToken } from '../shared/auth/device-token.ts';
import { createDevice, generateTestKeyPair, type TestKeyPair } from './support/devices.ts';
import { deviceClaims, signJwt, type SignJwtOptions } from './support/jwt.ts';
import { sendAsDevice, startBridge, TEST_PROJECT, type BridgeUnderTest } from './support/bridge.ts';
import { rawConnection, waitFor } from './support/net.ts';

const READING = { metrics: { temperature: 21.5 } };
const HOUR = 3600;
const now = () => Math.floor(Date.now() / 1000);

let database: TestDatabase;
let bridge: BridgeUnderTest;
const logs = captureLogs('info');
let es: TestKeyPair;
let rs: TestKeyPair;
let otherEs: TestKeyPair;
let expiredEs: TestKeyPair;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  database = await createTestDatabase();
  [es, rs, otherEs, expiredEs] = [generateTestKeyPair('es256'), generateTestKeyPair('rs256'), generateTestKeyPair('es256'), generateTestKeyPair('es256')];
  const main = await createDevice(database.db, {
    deviceId: 'dev-main',
    token: true,
    publicKeys: [
      { type: 'es256', pem: es.publicKeyPem },
      { type: 'rs256', pem: rs.publicKeyPem },
    ],
  });
  const other = await createDevice(database.db, { deviceId: 'dev-other', token: true, publicKeys: [{ type: 'es256', pem: otherEs.publicKeyPem }] });
  await createDevice(database.db, {
    deviceId: 'dev-old-key',
    publicKeys: [{ type: 'es256', pem: expiredEs.publicKeyPem, expiresAt: new Date(Date.now() - 60_000) }],
  });
  const blocked = await createDevice(database.db, { deviceId: 'dev-blocked', token: true, blocked: true });
  tokens.main = main.token as string;
  tokens.other = other.token as string;
  tokens.blocked = blocked.token as string;
  bridge = await startBridge({ databaseUrl: database.url, logger: logs.logger, env: { CREDENTIAL_CACHE_TTL_MS: '300' } });
});

afterAll(async () => {
  await bridge?.close();
  await database?.drop();
});

const jwt = (options: Partial<SignJwtOptions> & { key?: string }) =>
  `Bearer ${signJwt({ alg: 'ES256', key: es.privateKeyPem, claims: deviceClaims(TEST_PROJECT), ...options })}`;

interface AuthCase {
  name: string;
  deviceId?: string;
  authorization: () => string | undefined;
  expected: 202 | 401 | 403;
}

const cases: AuthCase[] = [
  { name: 'no credential', authorization: () => undefined, expected: 401 },
  { name: 'not a bearer credential', authorization: () => `Basic ${Buffer.from(`dev-main:${tokens.main}`).toString('base64')}`, expected: 401 },
  { name: 'wrong token', authorization: () => 'Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', expected: 401 },
  { name: "another device's token", authorization: () => `Bearer ${tokens.other}`, expected: 401 },
  { name: 'unknown device', deviceId: 'dev-nobody', authorization: () => `Bearer ${tokens.main}`, expected: 401 },
  {
    name: 'expired JWT',
    authorization: () => jwt({ claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() - 2 * HOUR, lifetimeSeconds: HOUR }) }),
    expected: 401,
  },
  {
    name: 'JWT issued beyond the clock skew',
    authorization: () => jwt({ claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() + 15 * 60 }) }),
    expected: 401,
  },
  { name: 'JWT for another audience', authorization: () => jwt({ claims: deviceClaims('other-project') }), expected: 401 },
  { name: 'JWT living longer than 24 h', authorization: () => jwt({ claims: deviceClaims(TEST_PROJECT, { lifetimeSeconds: 24 * HOUR + 60 }) }), expected: 401 },
  { name: 'JWT without exp', authorization: () => jwt({ claims: { aud: TEST_PROJECT, iat: now() } }), expected: 401 },
  { name: 'JWT with alg none', authorization: () => jwt({ alg: 'none' }), expected: 401 },
  { name: 'HS256 with the public key as secret', authorization: () => jwt({ alg: 'HS256', key: es.publicKeyPem }), expected: 401 },
  { name: 'ES256 header over an RS256 signature', authorization: () => jwt({ alg: 'RS256', key: rs.privateKeyPem, header: { alg: 'ES256' } }), expected: 401 },
  { name: 'a key of another device', authorization: () => jwt({ key: otherEs.privateKeyPem }), expected: 401 },
  { name: 'an expired key', deviceId: 'dev-old-key', authorization: () => jwt({ key: expiredEs.privateKeyPem }), expected: 401 },
  { name: 'a blocked device', deviceId: 'dev-blocked', authorization: () => `Bearer ${tokens.blocked}`, expected: 403 },
  { name: 'valid token', authorization: () => `Bearer ${tokens.main}`, expected: 202 },
  { name: 'valid ES256 JWT', authorization: () => jwt({}), expected: 202 },
  { name: 'valid RS256 JWT', authorization: () => jwt({ alg: 'RS256', key: rs.privateKeyPem }), expected: 202 },
  { name: 'valid JWT within the clock skew', authorization: () => jwt({ claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() + 5 * 60 }) }), expected: 202 },
];

/**
 * Proves the bridge loaded the device again: past the credentials' TTL (300 ms) a token is
 * added, and waited for until the bridge takes it, which it can only after a reload.
 */
async function awaitReload(db: Database, url: string, deviceId: string, credentialId: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 400));
  const token = generateDeviceToken();
  await db.query(`INSERT INTO device_credentials (credential_id, device_id, type, secret_hash) VALUES ($1, $2, 'token', $3)`, [
    credentialId,
    deviceId,
    hashDeviceToken(token),
  ]);
  await waitFor(async () => (await sendAsDevice(url, { authorization: `Bearer ${token}`, body: READING })).status === 202, {
    what: 'the reload that takes the new token',
  });
}

describe('bridge authentication', () => {
  const unauthorisedBodies = new Set<string>();

  it.each(cases)('$name → $expected', async ({ deviceId = 'dev-main', authorization, expected }) => {
    const auth = authorization();
    const response = await sendAsDevice(`${bridge.served.url}/v1/devices/${deviceId}/telemetry`, {
      ...(auth !== undefined ? { authorization: auth } : {}),
      body: READING,
    });
    expect(response.status).toBe(expected);
    if (expected === 401) {
      unauthorisedBodies.add(JSON.stringify(response.body));
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
    if (expected === 202) expect(response.body).toMatchObject({ accepted: 1 });
  });

  it('gives no hint which part of a credential failed: one 401 body for all', () => {
    expect(unauthorisedBodies.size).toBe(1);
    expect([...unauthorisedBodies][0]).toBe('{"error":"unauthenticated","message":"missing or invalid device credential"}');
  });

  it('logs why a JWT was refused (never telling the device): DER signature, wrong aud, expired, expired key', async () => {
    const derSigned = (() => {
      const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(deviceClaims(TEST_PROJECT))).toString('base64url')}`;
      // What `openssl dgst -sha256 -sign` writes: an ASN.1 DER signature, not JWS's raw R||S.
      return `${input}.${sign('sha256', Buffer.from(input), es.privateKeyPem).toString('base64url')}`;
    })();
    const attempts: [string, string, string][] = [
      ['dev-main', `Bearer ${derSigned}`, 'DER-encoded'],
      ['dev-main', jwt({ claims: deviceClaims('other-project') }), '"other-project"; it must be the project id'],
      ['dev-main', jwt({ claims: deviceClaims(TEST_PROJECT, { nowSeconds: now() - 2 * HOUR, lifetimeSeconds: HOUR }) }), 'the token expired'],
      ['dev-old-key', jwt({ key: expiredEs.privateKeyPem }), 'a key of the device that has expired'],
    ];
    for (const [deviceId, authorization, reason] of attempts) {
      const response = await sendAsDevice(`${bridge.served.url}/v1/devices/${deviceId}/telemetry`, { authorization, body: READING });
      expect(response.status).toBe(401);
      expect(JSON.stringify(response.body)).not.toContain(reason);
      await waitFor(
        () => logs.records().some((r) => r.message === 'device credential refused' && r.deviceId === deviceId && String(r.reason).includes(reason)),
        { what: `the log line "${reason}"` },
      );
    }
  });

  it('accepts a cached JWT again, and the IoT Core path refuses a plain token', async () => {
    const token = jwt({ alg: 'RS256', key: rs.privateKeyPem });
    for (let i = 0; i < 3; i++) {
      expect((await sendAsDevice(`${bridge.served.url}/v1/devices/dev-main/telemetry`, { authorization: token, body: READING })).status).toBe(202);
    }
    const iotPath = `/v1/projects/${TEST_PROJECT}/locations/europe-west1/registries/default/devices/dev-main:publishEvent`;
    const binaryData = Buffer.from(JSON.stringify(READING)).toString('base64');
    expect((await sendAsDevice(bridge.served.url + iotPath, { authorization: `Bearer ${tokens.main}`, body: { binaryData } })).status).toBe(401);
    expect((await sendAsDevice(bridge.served.url + iotPath, { authorization: token, body: { binaryData } })).status).toBe(200);
  });

  it("refuses a token whose stored hash is not one the registry writes, logs why, and still takes the device's other token", async () => {
    const first = await createDevice(database.db, { deviceId: 'dev-two-tokens', token: true });
    const second = generateDeviceToken();
    await database.db.query(
      `INSERT INTO device_credentials (credential_id, device_id, type, secret_hash) VALUES ('dev-two-tokens-2', 'dev-two-tokens', 'token', $1)`,
      [hashDeviceToken(second).toUpperCase()],
    );
    const url = `${bridge.served.url}/v1/devices/dev-two-tokens/telemetry`;
    expect((await sendAsDevice(url, { authorization: `Bearer ${second}`, body: READING })).status).toBe(401);
    expect((await sendAsDevice(url, { authorization: `Bearer ${first.token as string}`, body: READING })).status).toBe(202);
    await awaitReload(database.db, url, 'dev-two-tokens', 'dev-two-tokens-3');
    expect((await sendAsDevice(url, { authorization: `Bearer ${second}`, body: READING })).status).toBe(401);
    expect(logs.records().filter((r) => r.message === 'device token hash cannot be used' && r.credentialId === 'dev-two-tokens-2')).toHaveLength(1);
  });

  it('logs a stored public key that does not load once, across reloads, and still takes the device token', async () => {
    const device = await createDevice(database.db, { deviceId: 'dev-bad-key', token: true });
    await database.db.query(
      `INSERT INTO device_credentials (credential_id, device_id, type, public_key_pem) VALUES ('dev-bad-key-es', 'dev-bad-key', 'es256', $1)`,
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'],
    );
    const url = `${bridge.served.url}/v1/devices/dev-bad-key/telemetry`;
    expect((await sendAsDevice(url, { authorization: `Bearer ${device.token as string}`, body: READING })).status).toBe(202);
    expect((await sendAsDevice(url, { authorization: jwt({}), body: READING })).status).toBe(401);
    await awaitReload(database.db, url, 'dev-bad-key', 'dev-bad-key-2');
    expect(logs.records().filter((r) => r.message === 'device public key cannot be used' && r.credentialId === 'dev-bad-key-es')).toHaveLength(1);
  });

  it("refuses a device's expired token and takes the valid one stored beside it", async () => {
    const expired = generateDeviceToken();
    const valid = generateDeviceToken();
    await createDevice(database.db, { deviceId: 'dev-token-rotation' });
    await database.db.query(
      `INSERT INTO device_credentials (credential_id, device_id, type, secret_hash, expires_at)
       VALUES ('rotation-old', 'dev-token-rotation', 'token', $1, now() - interval '1 minute'),
              ('rotation-new', 'dev-token-rotation', 'token', $2, now() + interval '1 day')`,
      [hashDeviceToken(expired), hashDeviceToken(valid)],
    );
    const url = `${bridge.served.url}/v1/devices/dev-token-rotation/telemetry`;
    for (const [token, status] of [
      [expired, 401],
      [valid, 202],
      [expired, 401],
    ] as const) {
      expect((await sendAsDevice(url, { authorization: `Bearer ${token}`, body: READING })).status).toBe(status);
    }
  });

  it('refuses a device within the cache TTL once it is blocked, its key removed, or it is deleted', async () => {
    const created = await createDevice(database.db, { deviceId: 'dev-rotating', token: true, publicKeys: [{ type: 'es256', pem: otherEs.publicKeyPem }] });
    const authorization = `Bearer ${created.token as string}`;
    const rotatingUrl = `${bridge.served.url}/v1/devices/dev-rotating/telemetry`;
    expect((await sendAsDevice(rotatingUrl, { authorization, body: READING })).status).toBe(202);
    const signed = jwt({ key: otherEs.privateKeyPem });
    expect((await sendAsDevice(rotatingUrl, { authorization: signed, body: READING })).status).toBe(202);

    await database.db.query(`UPDATE devices SET blocked = true WHERE device_id = 'dev-rotating'`);
    await waitFor(async () => (await sendAsDevice(rotatingUrl, { authorization, body: READING })).status === 403, { what: 'blocked device refused' });
    await database.db.query(`UPDATE devices SET blocked = false WHERE device_id = 'dev-rotating'`);
    await database.db.query(`DELETE FROM device_credentials WHERE device_id = 'dev-rotating' AND type = 'es256'`);
    // The cached verification of this JWT must not outlive the key that signed it.
    await waitFor(async () => (await sendAsDevice(rotatingUrl, { authorization: signed, body: READING })).status === 401, { what: 'removed key refused' });
    expect((await sendAsDevice(rotatingUrl, { authorization, body: READING })).status).toBe(202);
    await database.db.query(`DELETE FROM devices WHERE device_id = 'dev-rotating'`);
    await waitFor(async () => (await sendAsDevice(rotatingUrl, { authorization, body: READING })).status === 401, { what: 'deleted device refused' });
  });
});

describe('a body from a caller not yet authenticated', () => {
  /** Declares a 200 KB body, sends 10 bytes of it, and returns what the bridge answered before closing. */
  const partialPost = async (path: string, headers: string) => {
    const { socket, closed, received } = await rawConnection(bridge.served.url);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n${headers}\r\n{"metrics"`);
    await closed;
    return received();
  };

  it('is not read: the credential is refused first, and the connection closed', async () => {
    expect(await partialPost('/v1/devices/dev-main/telemetry', '')).toMatch(/^HTTP\/1\.1 401 /);
    expect(await partialPost('/v1/devices/dev-main/telemetry', 'Authorization: Bearer not-the-token\r\n')).toMatch(/^HTTP\/1\.1 401 /);
    const iot = `/v1/projects/${TEST_PROJECT}/locations/europe-west1/registries/default/devices/dev-main:publishEvent`;
    expect(await partialPost(iot, '')).toMatch(/^HTTP\/1\.1 401 [^]*UNAUTHENTICATED/);
  });
});

describe('bridge operations', () => {
  it('logs every device request with device id and outcome, and never a credential', () => {
    const requests = logs.records().filter((r) => r.message === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(cases.length);
    for (const line of requests) {
      expect(line).toHaveProperty('deviceId');
      expect(line).toHaveProperty('outcome');
      expect(line).toHaveProperty('latencyMs');
    }
    const outcomes = new Set(requests.map((r) => r.outcome));
    for (const outcome of ['accepted', 'unauthenticated', 'permission_denied']) expect(outcomes).toContain(outcome);
    const text = logs.lines.join('\n');
    for (const secret of Object.values(tokens)) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
  });

  it('touches no database at steady state: one credentials query per device per TTL', async () => {
    let queries = 0;
    const others: string[] = [];
    const counting = async (): Promise<Database> => ({
      ...database.db,
      query: (text, params) => {
        if (text.includes('device_credentials')) queries++;
        else others.push(text);
        return database.db.query(text, params);
      },
      close: () => Promise.resolve(),
    });
    const steady = await startBridge({ databaseUrl: database.url, providers: { database: counting }, env: { CREDENTIAL_CACHE_TTL_MS: '60000' } });
    try {
      const url = `${steady.served.url}/v1/devices/dev-main/telemetry`;
      const signed = jwt({});
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => sendAsDevice(url, { authorization: i % 2 ? signed : `Bearer ${tokens.main}`, body: READING })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(30).fill(202));
      // Thirty concurrent requests of one device share one lookup.
      expect(queries).toBe(1);
      // Besides, at most the feed of devices changed lately: once a second for the whole fleet, its first read the clock alone.
      expect(others).toEqual(['SELECT now() AS now']);
    } finally {
      await steady.close();
    }
  });
});
