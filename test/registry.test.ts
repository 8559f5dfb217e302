/**
 * registry: every endpoint over HTTP against real PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { deviceTokenMatches } from '../shared/auth/device-token.ts';
import type { DeviceResponse, DeviceStateResponse } from '../schemas/device.ts';
import { generateKeyPairSync } from 'node:crypto';
import { generateTestKeyPair } from './support/devices.ts';
import { useRegistryUnderTest, type RegistryCall } from './support/registry-client.ts';

interface ErrorBody {
  error: string;
  message: string;
  issues?: { path: string; message: string }[];
}

const registryUnderTest = useRegistryUnderTest();
const call: RegistryCall = (...args) => registryUnderTest.call(...args);

const es = generateTestKeyPair('es256');
const es2 = generateTestKeyPair('es256');
const rs = generateTestKeyPair('rs256');
const path = (id: string) => `/v1/devices/${encodeURIComponent(id)}`;

async function storedTokenHash(credentialId: string): Promise<string | undefined> {
  const r = await registryUnderTest.db.query<{ secret_hash: string }>('SELECT secret_hash FROM device_credentials WHERE credential_id = $1', [credentialId]);
  return r.rows[0]?.secret_hash;
}

describe('admin authentication', () => {
  it.each([
    { name: 'no Authorization header', token: null },
    { name: 'a wrong token', token: 'y' },
    { name: 'an empty bearer', token: '' },
  ])('answers 401 for $name', async ({ token }) => {
    const answer = await call<ErrorBody>('GET', '/v1/devices', undefined, { token });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    expect(answer.body.error).toBe('unauthenticated');
  });

  it('answers 401 for another scheme', async () => {
    const answer = await call('GET', '/v1/devices', undefined, { token: null, headers: { authorization: 'Basic eDp4' } });
    expect(answer.status).toBe(401);
  });

  it('answers 401 before reading the body of a create', async () => {
    const answer = await call('POST', '/v1/devices', { deviceId: 'never-made', credentials: [] }, { token: 'nope' });
    expect(answer.status).toBe(401);
    expect((await call('GET', path('never-made'))).status).toBe(404);
  });
});

describe('POST /v1/devices', () => {
  it('creates a device whose token secret is shown once and stored only as a hash', async () => {
    const created = await call<DeviceResponse>('POST', '/v1/devices', {
      deviceId: 'thermo-1',
      registry: 'plant-registry',
      site: 'plant-a',
      tags: { line: '3' },
      credentials: [
        { type: 'token' },
        { type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: '2131-01-01T00:00:00Z' },
        { type: 'rs256', publicKeyPem: rs.publicKeyPem },
      ],
    });
    expect(created.status).toBe(201);
    const device = created.body;
    expect(device).toMatchObject({ deviceId: 'thermo-1', registry: 'plant-registry', site: 'plant-a', tags: { line: '3' }, blocked: false });
    expect(device.numId).toBeGreaterThan(0);
    const [token, ecKey, rsaKey] = device.credentials;
    expect(token).toMatchObject({ type: 'token', expiresAt: null });
    expect(token?.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(token).not.toHaveProperty('publicKeyPem');
    expect(ecKey).toMatchObject({ type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: '2131-01-01T00:00:00.000Z' });
    expect(rsaKey).toMatchObject({ type: 'rs256', publicKeyPem: rs.publicKeyPem, expiresAt: null });
    expect(JSON.stringify(device)).not.toMatch(/sha256:|secret/i);

    const hash = await storedTokenHash(token?.credentialId ?? '');
    expect(deviceTokenMatches(token?.token ?? '', hash ?? '')).toBe(true);
    expect(hash).not.toContain(token?.token ?? '');

    const read = await call<DeviceResponse>('GET', path('thermo-1'));
    expect(read.status).toBe(200);
    expect(read.body.credentials.map((c) => c.credentialId)).toEqual(device.credentials.map((c) => c.credentialId));
    expect(read.body.credentials.some((c) => 'token' in c)).toBe(false);
    expect(JSON.stringify(read.body)).not.toContain(token?.token ?? '');
    expect(read.body).toEqual({ ...device, credentials: device.credentials.map(({ token: _t, ...rest }) => rest) });
  });

  it('defaults registry, site, tags and blocked', async () => {
    const created = await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'bare-device', credentials: [] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ registry: 'default', site: null, tags: {}, blocked: false, credentials: [] });
  });

  it('answers 409 for a device id that exists', async () => {
    const body = { deviceId: 'twice-made', credentials: [{ type: 'token' }] };
    expect((await call('POST', '/v1/devices', body)).status).toBe(201);
    const again = await call<ErrorBody>('POST', '/v1/devices', body);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('already_exists');
  });

  it.each([
    { name: 'too short', deviceId: 'ab' },
    { name: 'too long', deviceId: 'a'.repeat(256) },
    { name: 'starting with a digit', deviceId: '1sensor' },
    { name: 'starting with a dash', deviceId: '-sensor' },
    { name: 'starting with goog', deviceId: 'goog-sensor' },
    { name: 'starting with GOOG', deviceId: 'GOOGsensor' },
    { name: 'with a space', deviceId: 'my sensor' },
    { name: 'with a slash', deviceId: 'my/sensor' },
    { name: 'with a colon', deviceId: 'my:sensor' },
    { name: 'not a string', deviceId: 42 },
  ])('answers 400 for a device id $name', async ({ deviceId }) => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', { deviceId, credentials: [] });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_argument');
    expect(answer.body.issues?.map((i) => i.path)).toEqual(['deviceId']);
  });

  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  it.each([
    { name: 'text that is no PEM', spec: { type: 'es256', publicKeyPem: 'hello' }, message: /not a PEM public key/ },
    { name: 'an RSA key as es256', spec: { type: 'es256', publicKeyPem: rs.publicKeyPem }, message: /EC P-256/ },
    { name: 'a P-384 key as es256', spec: { type: 'es256', publicKeyPem: p384 }, message: /EC P-256/ },
    { name: 'an EC key as rs256', spec: { type: 'rs256', publicKeyPem: es.publicKeyPem }, message: /RSA public key/ },
    { name: 'a 1024-bit RSA key', spec: { type: 'rs256', publicKeyPem: rsa1024 }, message: /at least 2048 bits/ },
    { name: 'a private key', spec: { type: 'es256', publicKeyPem: es.privateKeyPem }, message: /./ },
    { name: 'text before the PEM block', spec: { type: 'es256', publicKeyPem: `my device key\n${es.publicKeyPem}` }, message: /text outside/ },
    { name: 'text after the PEM block', spec: { type: 'rs256', publicKeyPem: `${rs.publicKeyPem}rotated 2026-01` }, message: /text outside/ },
    { name: 'two keys in one PEM', spec: { type: 'es256', publicKeyPem: es.publicKeyPem + es2.publicKeyPem }, message: /holds 2 PEM blocks/ },
    { name: 'a bad expiresAt', spec: { type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: 'tomorrow' }, message: /./, field: 'expiresAt' },
    { name: 'an unknown type', spec: { type: 'hs256', publicKeyPem: es.publicKeyPem }, message: /./, field: 'type' },
  ])('answers 400 naming the credential index for $name', async ({ spec, message, field }) => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', { deviceId: 'key-check', credentials: [{ type: 'token' }, spec] });
    expect(answer.status).toBe(400);
    const issue = answer.body.issues?.[0];
    expect(issue?.path).toBe(`credentials.1.${field ?? 'publicKeyPem'}`);
    if (!field) expect(issue?.message).toMatch(message);
    expect((await call('GET', path('key-check'))).status).toBe(404);
  });

  it('takes a PEM with whitespace around its block, and refuses two keys on batchCreate and patch too', async () => {
    const spaced = `\n${es.publicKeyPem.replaceAll('\n', '\r\n')}\n\n`;
    const created = await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'pem-spaced', credentials: [{ type: 'es256', publicKeyPem: spaced }] });
    expect(created.status).toBe(201);
    const twoKeys = { type: 'es256', publicKeyPem: es.publicKeyPem + es2.publicKeyPem };
    const batch = await call<ErrorBody>('POST', '/v1/devices:batchCreate', {
      devices: [
        { deviceId: 'pem-b0', credentials: [] },
        { deviceId: 'pem-b1', credentials: [{ type: 'token' }, twoKeys] },
      ],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.issues).toEqual([{ path: 'devices.1.credentials.1.publicKeyPem', message: 'holds 2 PEM blocks; a credential is one key' }]);
    const patch = await call<ErrorBody>('PATCH', path('pem-spaced'), { credentials: [twoKeys] });
    expect(patch.status).toBe(400);
    expect(patch.body.issues).toEqual([{ path: 'credentials.0.publicKeyPem', message: 'holds 2 PEM blocks; a credential is one key' }]);
    expect((await call<DeviceResponse>('GET', path('pem-spaced'))).body.credentials.map((c) => c.publicKeyPem)).toEqual([spaced]);
    expect((await call('GET', path('pem-b0'))).status).toBe(404);
  });

  it('answers 400 for more than 3 credentials', async () => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', { deviceId: 'many-creds', credentials: Array.from({ length: 4 }, () => ({ type: 'token' })) });
    expect(answer.status).toBe(400);
    expect(answer.body.issues?.[0]?.path).toBe('credentials');
  });

  it('answers 400 listing every issue at once', async () => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', { deviceId: '1x', site: '', tags: { a: 1 }, extra: true });
    expect(answer.status).toBe(400);
    expect(answer.body.issues?.map((i) => i.path).sort()).toEqual(['', 'credentials', 'deviceId', 'site', 'tags.a']);
  });

  it('answers 400 for more tags than a device may have, on create and on patch', async () => {
    // Tags are copied onto every measurement row: 50,000 of them once grew the stack past 13 GB.
    const tags = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`t${i}`, 'x']));
    const created = await call<ErrorBody>('POST', '/v1/devices', { deviceId: 'many-tags', tags, credentials: [] });
    expect(created.status).toBe(400);
    expect(created.body.issues).toEqual([{ path: 'tags', message: 'at most 64 tags' }]);
    await call('POST', '/v1/devices', { deviceId: 'few-tags', credentials: [] });
    const patched = await call<ErrorBody>('PATCH', path('few-tags'), { tags: { a: 'v'.repeat(256), b: 'v'.repeat(256), c: 'v'.repeat(256) } });
    expect(patched.status).toBe(200);
    const tooLong = await call<ErrorBody>('PATCH', path('few-tags'), {
      tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'.repeat(256)])),
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.issues).toEqual([{ path: 'tags', message: 'at most 4096 characters of tag keys and values in all' }]);
  });

  it('answers 400 for a "__proto__" tag rather than drop it, on create, patch and batchCreate', async () => {
    const create = await call<ErrorBody>('POST', '/v1/devices', undefined, {
      rawBody: '{"deviceId":"proto-tag","tags":{"a":"b","__proto__":"x"},"credentials":[]}',
    });
    expect(create.status).toBe(400);
    expect(create.body.issues).toEqual([{ path: 'tags.__proto__', message: '"__proto__" is not allowed as a key' }]);
    expect((await call('GET', path('proto-tag'))).status).toBe(404);
    await call('POST', '/v1/devices', { deviceId: 'proto-patch', credentials: [] });
    const patch = await call<ErrorBody>('PATCH', path('proto-patch'), undefined, { rawBody: '{"tags":{"__proto__":"x"}}' });
    expect(patch.status).toBe(400);
    const batch = await call<ErrorBody>('POST', '/v1/devices:batchCreate', undefined, {
      rawBody: '{"devices":[{"deviceId":"proto-b0","credentials":[]},{"deviceId":"proto-b1","tags":{"__proto__":"x"},"credentials":[]}]}',
    });
    expect(batch.status).toBe(400);
    expect(batch.body.issues?.map((i) => i.path)).toEqual(['devices.1.tags.__proto__']);
  });

  it('answers 400 for a snake_case name on create, batchCreate and patch: only the camelCase names are taken', async () => {
    // So a field given under both names is refused too, as an unknown key beside the known one.
    const key = { type: 'es256', publicKeyPem: es.publicKeyPem, public_key_pem: es.publicKeyPem, expires_at: '2131-01-01T00:00:00Z' };
    const unknown = [{ path: 'credentials.0', message: 'Unrecognized keys: "public_key_pem", "expires_at"' }];
    const create = await call<ErrorBody>('POST', '/v1/devices', { deviceId: 'snake-key', credentials: [key] });
    expect(create.status).toBe(400);
    expect(create.body.issues).toEqual(unknown);
    const batch = await call<ErrorBody>('POST', '/v1/devices:batchCreate', { devices: [{ deviceId: 'snake-key', credentials: [key] }] });
    expect(batch.status).toBe(400);
    expect(batch.body.issues).toEqual(unknown.map((i) => ({ ...i, path: `devices.0.${i.path}` })));
    await call('POST', '/v1/devices', { deviceId: 'snake-patch', credentials: [] });
    const patch = await call<ErrorBody>('PATCH', path('snake-patch'), { credentials: [key] });
    expect(patch.status).toBe(400);
    expect(patch.body.issues).toEqual(unknown);
    expect((await call('GET', path('snake-key'))).status).toBe(404);
  });

  it('answers 400 naming the problem for malformed JSON', async () => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', undefined, { rawBody: '{"deviceId": "x",' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_json');
    expect(answer.body.message).toMatch(/malformed JSON body: .+/);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const answer = await call<ErrorBody>('POST', '/v1/devices', undefined, {
      rawBody: 'deviceId=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(answer.status).toBe(415);
  });
});

describe('device ids with %, + and ~ in the path', () => {
  it.each(['pct%20dev', 'plus+dev', 'tilde~dev', 'mix.-_%+~end'])('serves %s through every route', async (deviceId) => {
    const created = await call<DeviceResponse>('POST', '/v1/devices', { deviceId, credentials: [] });
    expect(created.status).toBe(201);
    expect((await call<DeviceResponse>('GET', path(deviceId))).body.deviceId).toBe(deviceId);
    expect((await call<DeviceResponse>('PATCH', path(deviceId), { site: 's1' })).body.site).toBe('s1');
    expect((await call<DeviceStateResponse>('GET', `${path(deviceId)}/state`)).body.deviceId).toBe(deviceId);
    expect((await call('DELETE', path(deviceId))).status).toBe(204);
    expect((await call('GET', path(deviceId))).status).toBe(404);
  });

  it('answers 400 for a path that does not percent-decode', async () => {
    expect((await call('GET', '/v1/devices/bad%zzid')).status).toBe(400);
  });
});

describe('GET, PATCH and DELETE /v1/devices/{id}', () => {
  it('answers 404 for an unknown device on every route', async () => {
    for (const [method, suffix, body] of [
      ['GET', ''],
      ['PATCH', '', { site: 'x' }],
      ['DELETE', ''],
      ['GET', '/state'],
    ] as const) {
      const answer = await call<ErrorBody>(method, path('nobody-here') + suffix, body);
      expect(answer.status, `${method} ${suffix}`).toBe(404);
      expect(answer.body.error).toBe('not_found');
    }
  });

  it('changes site, tags and blocked and bumps updatedAt', async () => {
    const created = (await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'patch-me', site: 'old', tags: { a: '1' }, credentials: [] })).body;
    const patched = await call<DeviceResponse>('PATCH', path('patch-me'), { tags: { b: '2' }, blocked: true });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ site: 'old', tags: { b: '2' }, blocked: true, createdAt: created.createdAt });
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));
    const cleared = await call<DeviceResponse>('PATCH', path('patch-me'), { site: null });
    expect(cleared.body).toMatchObject({ site: null, tags: { b: '2' }, blocked: true });
    const unblocked = await call<DeviceResponse>('PATCH', path('patch-me'), { blocked: false });
    expect(unblocked.body.blocked).toBe(false);
  });

  it('rotates credentials: keeps listed ones, adds new ones, removes the rest', async () => {
    const created = (
      await call<DeviceResponse>('POST', '/v1/devices', {
        deviceId: 'rotate-me',
        credentials: [{ type: 'token' }, { type: 'es256', publicKeyPem: es.publicKeyPem }],
      })
    ).body;
    const [oldToken, ecKey] = created.credentials;
    const next = generateTestKeyPair('rs256');
    const rotated = await call<DeviceResponse>('PATCH', path('rotate-me'), {
      credentials: [
        { credentialId: ecKey?.credentialId },
        { type: 'token' },
        { type: 'rs256', publicKeyPem: next.publicKeyPem, expiresAt: '2132-02-02T00:00:00+01:00' },
      ],
    });
    expect(rotated.status).toBe(200);
    const [kept, newToken, newKey] = rotated.body.credentials;
    expect(kept).toEqual(ecKey);
    expect(newToken?.type).toBe('token');
    expect(newToken?.token).toBeTruthy();
    expect(newToken?.token).not.toBe(oldToken?.token);
    expect(newKey).toMatchObject({ type: 'rs256', publicKeyPem: next.publicKeyPem, expiresAt: '2132-02-01T23:00:00.000Z' });
    expect(rotated.body.credentials.map((c) => c.credentialId)).not.toContain(oldToken?.credentialId);
    expect(await storedTokenHash(oldToken?.credentialId ?? '')).toBeUndefined();
    expect(deviceTokenMatches(newToken?.token ?? '', (await storedTokenHash(newToken?.credentialId ?? '')) ?? '')).toBe(true);
    const read = await call<DeviceResponse>('GET', path('rotate-me'));
    expect(read.body.credentials.some((c) => 'token' in c)).toBe(false);
    expect(read.body.credentials).toHaveLength(3);
  });

  it('refuses a key already expired on create, batchCreate and patch, and keeps a stored key that has expired since', async () => {
    const expired = { type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: new Date(Date.now() - 60_000).toISOString() };
    const issue = { message: 'is not in the future: the device could never authenticate with this key' };
    const create = await call<ErrorBody>('POST', '/v1/devices', { deviceId: 'expired-key', credentials: [{ type: 'token' }, expired] });
    expect(create.status).toBe(400);
    expect(create.body.issues).toEqual([{ path: 'credentials.1.expiresAt', ...issue }]);
    const batch = await call<ErrorBody>('POST', '/v1/devices:batchCreate', { devices: [{ deviceId: 'expired-key', credentials: [expired] }] });
    expect(batch.status).toBe(400);
    expect(batch.body.issues).toEqual([{ path: 'devices.0.credentials.0.expiresAt', ...issue }]);
    expect((await call('GET', path('expired-key'))).status).toBe(404);

    const soon = new Date(Date.now() + 60_000).toISOString();
    const created = await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'expiring-key', credentials: [{ ...expired, expiresAt: soon }] });
    expect(created.status).toBe(201);
    const stored = created.body.credentials[0]?.credentialId;
    const patch = await call<ErrorBody>('PATCH', path('expiring-key'), { credentials: [{ credentialId: stored }, expired] });
    expect(patch.status).toBe(400);
    expect(patch.body.issues).toEqual([{ path: 'credentials.1.expiresAt', ...issue }]);
    // As if the minute had passed: the stored key has expired, and a PATCH may still keep it.
    await registryUnderTest.db.query("UPDATE device_credentials SET expires_at = now() - interval '1 day' WHERE credential_id = $1", [stored]);
    const kept = await call<DeviceResponse>('PATCH', path('expiring-key'), { site: 'lab', credentials: [{ credentialId: stored }] });
    expect(kept.status).toBe(200);
    expect(kept.body.credentials.map((c) => c.credentialId)).toEqual([stored]);
  });

  it('refuses a rotation that would leave more than 3 credentials, or keeps a foreign one', async () => {
    const mine = (await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'rotate-bad', credentials: [{ type: 'token' }] })).body;
    const other = (await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'rotate-other', credentials: [{ type: 'token' }] })).body;
    const tooMany = await call<ErrorBody>('PATCH', path('rotate-bad'), {
      credentials: [{ credentialId: mine.credentials[0]?.credentialId }, { type: 'token' }, { type: 'token' }, { type: 'token' }],
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.issues?.[0]?.path).toBe('credentials');
    const foreign = await call<ErrorBody>('PATCH', path('rotate-bad'), {
      credentials: [
        { credentialId: other.credentials[0]?.credentialId },
        { credentialId: mine.credentials[0]?.credentialId },
        { credentialId: mine.credentials[0]?.credentialId },
      ],
    });
    expect(foreign.status).toBe(400);
    expect(foreign.body.issues).toEqual([
      { path: 'credentials.0.credentialId', message: 'is not a credential of this device' },
      { path: 'credentials.2.credentialId', message: 'is listed twice' },
    ]);
    const badKey = await call<ErrorBody>('PATCH', path('rotate-bad'), { credentials: [{ type: 'es256', publicKeyPem: rs.publicKeyPem }] });
    expect(badKey.status).toBe(400);
    expect(badKey.body.issues?.[0]?.path).toBe('credentials.0.publicKeyPem');
    const read = await call<DeviceResponse>('GET', path('rotate-bad'));
    expect(read.body.credentials.map((c) => c.credentialId)).toEqual(mine.credentials.map((c) => c.credentialId));
  });

  it('removes every credential when the list is empty, and refuses unknown fields', async () => {
    await call('POST', '/v1/devices', { deviceId: 'strip-me', credentials: [{ type: 'token' }] });
    expect((await call<DeviceResponse>('PATCH', path('strip-me'), { credentials: [] })).body.credentials).toEqual([]);
    const unknown = await call<ErrorBody>('PATCH', path('strip-me'), { deviceId: 'renamed' });
    expect(unknown.status).toBe(400);
  });

  it('deletes a device and its credentials', async () => {
    await call('POST', '/v1/devices', { deviceId: 'delete-me', credentials: [{ type: 'token' }, { type: 'es256', publicKeyPem: es.publicKeyPem }] });
    const deleted = await call('DELETE', path('delete-me'));
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    expect((await call('GET', path('delete-me'))).status).toBe(404);
    const left = await registryUnderTest.db.query("SELECT 1 FROM device_credentials WHERE device_id = 'delete-me'");
    expect(left.rowCount).toBe(0);
  });
});

describe('GET /v1/devices/{id}/state', () => {
  it('answers zeros and nulls before the first reading, then the stored state', async () => {
    await call('POST', '/v1/devices', { deviceId: 'stateful', credentials: [] });
    const empty = await call<DeviceStateResponse>('GET', `${path('stateful')}/state`);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ deviceId: 'stateful', lastEventTs: null, lastMetrics: null, lastSeenAt: null, readingsTotal: 0 });

    await registryUnderTest.db.query(
      `INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total)
       VALUES ('stateful', '2026-03-04T05:06:07.089Z', '{"temp": 21.5, "door": true}', '2026-03-04T05:06:08Z', 42)`,
    );
    const state = await call<DeviceStateResponse>('GET', `${path('stateful')}/state`);
    expect(state.body).toEqual({
      deviceId: 'stateful',
      lastEventTs: '2026-03-04T05:06:07.089Z',
      lastMetrics: { temp: 21.5, door: true },
      lastSeenAt: '2026-03-04T05:06:08.000Z',
      readingsTotal: 42,
    });
  });
});

describe('query parameters on routes that take none', () => {
  const unknownParameter = (name: string) => [{ path: name, message: 'is not a parameter of this endpoint' }];

  it("refuses IoT Core's updateMask on PATCH with 400 naming it, changing nothing (a PATCH replaces every field it names)", async () => {
    expect((await call('POST', '/v1/devices', { deviceId: 'mask-1', credentials: [{ type: 'token' }] })).status).toBe(201);
    const patched = await call<ErrorBody>('PATCH', `${path('mask-1')}?updateMask=blocked`, { blocked: true, credentials: [] });
    expect(patched.status).toBe(400);
    expect(patched.body.issues).toEqual(unknownParameter('updateMask'));
    const kept = await call<DeviceResponse>('GET', path('mask-1'));
    expect([kept.body.blocked, kept.body.credentials.length]).toEqual([false, 1]);
  });

  it('refuses validateOnly on create without creating the device', async () => {
    const created = await call<ErrorBody>('POST', '/v1/devices?validateOnly=true', { deviceId: 'vo-1', credentials: [] });
    expect(created.status).toBe(400);
    expect(created.body.issues).toEqual(unknownParameter('validateOnly'));
    expect((await call('GET', path('vo-1'))).status).toBe(404);
  });

  it.each([
    ['GET', path('mask-1'), 'view'],
    ['GET', `${path('mask-1')}/state`, 'pageSize'],
    ['DELETE', path('mask-1'), 'force'],
    ['POST', `${path('mask-1')}:modifyCloudToDeviceConfig`, 'x'],
    ['POST', '/v1/devices:batchCreate', 'x'],
    ['POST', '/v1/rejected:replay', 'dryRun'],
  ] as const)('refuses %s %s?%s=… with 400 naming the parameter', async (method, route, name) => {
    const body = method === 'POST' ? { binaryData: 'AAAA', devices: [{ deviceId: 'never-made', credentials: [] }] } : undefined;
    const answer = await call<ErrorBody>(method, `${route}?${name}=1`, body);
    expect(answer.status).toBe(400);
    expect(answer.body.issues).toEqual(unknownParameter(name));
  });

  it('still serves those routes without a query string, or with an empty one', async () => {
    expect((await call('GET', path('mask-1'))).status).toBe(200);
    expect((await call('GET', `${path('mask-1')}?`)).status).toBe(200);
    expect((await call('GET', `${path('mask-1')}/state`)).status).toBe(200);
  });
});

describe('routing', () => {
  it('answers 404 JSON for an unknown route', async () => {
    const answer = await call<ErrorBody>('GET', '/v2/things');
    expect(answer.status).toBe(404);
    expect(answer.headers.get('content-type')).toMatch(/application\/json/);
    expect(answer.body.error).toBe('not_found');
  });

  it('answers /healthz without a token', async () => {
    expect((await call('GET', '/healthz', undefined, { token: null })).status).toBe(200);
  });
});
