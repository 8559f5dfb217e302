/**
 * registry: batchCreate (10,000 devices in one call, all-or-nothing) and paging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import registry from '../functions/registry/index.ts';
import { deviceTokenMatches } from '../shared/auth/device-token.ts';
import type { BatchItemError, DeviceListResponse, DeviceResponse } from '../schemas/device.ts';
import { NOT_DECIMAL_DIGITS } from '../schemas/query-integer.ts';
import { createTestDatabase, startFunction } from './support/kit.ts';
import { generateTestKeyPair } from './support/devices.ts';
import { createRegistryClient, useRegistryUnderTest, type RegistryCall } from './support/registry-client.ts';

interface BatchErrorBody {
  error: string;
  message: string;
  issues: { path: string; message: string }[];
  errors: BatchItemError[];
}

const registryUnderTest = useRegistryUnderTest();
const call: RegistryCall = (...args) => registryUnderTest.call(...args);

async function countDevices(prefix: string): Promise<number> {
  const r = await registryUnderTest.db.query<{ n: number }>('SELECT count(*)::int AS n FROM devices WHERE device_id LIKE $1', [`${prefix}%`]);
  return r.rows[0]?.n ?? -1;
}

describe('POST /v1/devices:batchCreate', () => {
  it('creates 10,000 devices with tokens in one call', { timeout: 120_000 }, async () => {
    const es = generateTestKeyPair('es256');
    const devices = Array.from({ length: 10_000 }, (_, i) => ({
      deviceId: `bulk-${String(i).padStart(5, '0')}`,
      site: `site-${i % 7}`,
      tags: { batch: 'b1' },
      credentials: i % 10 === 0 ? [{ type: 'token' }, { type: 'es256', publicKeyPem: es.publicKeyPem }] : [{ type: 'token' }],
    }));
    const started = performance.now();
    const answer = await call<{ devices: DeviceResponse[] }>('POST', '/v1/devices:batchCreate', { devices });
    const elapsedMs = Math.round(performance.now() - started);
    console.info(`batchCreate of 10,000 devices took ${elapsedMs} ms`);

    expect(answer.status).toBe(201);
    expect(answer.body.devices).toHaveLength(10_000);
    expect(answer.body.devices.map((d) => d.deviceId)).toEqual(devices.map((d) => d.deviceId));
    expect(await countDevices('bulk-')).toBe(10_000);
    const creds = await registryUnderTest.db.query<{ n: number }>("SELECT count(*)::int AS n FROM device_credentials WHERE device_id LIKE 'bulk-%'");
    expect(creds.rows[0]?.n).toBe(11_000);

    const sample = answer.body.devices[1234];
    const token = sample?.credentials[0];
    expect(sample).toMatchObject({ deviceId: 'bulk-01234', site: 'site-2', tags: { batch: 'b1' } });
    const stored = await registryUnderTest.db.query<{ secret_hash: string }>('SELECT secret_hash FROM device_credentials WHERE credential_id = $1', [
      token?.credentialId,
    ]);
    expect(deviceTokenMatches(token?.token ?? '', stored.rows[0]?.secret_hash ?? '')).toBe(true);
    const read = await call<DeviceResponse>('GET', '/v1/devices/bulk-01234');
    expect(read.body.credentials.some((c) => 'token' in c)).toBe(false);
  });

  it('creates nothing and lists every refused item when any item is invalid', async () => {
    await call('POST', '/v1/devices', { deviceId: 'taken-1', credentials: [] });
    const devices = [
      { deviceId: 'mixed-0', credentials: [{ type: 'token' }] },
      { deviceId: 'mixed-1', credentials: [] },
      { deviceId: '2bad', credentials: [{ type: 'es256', publicKeyPem: 'nope' }] },
      { deviceId: 'taken-1', credentials: [] },
      { deviceId: 'mixed-0', credentials: [] },
      'not an object',
      { credentials: [] },
    ];
    const answer = await call<BatchErrorBody>('POST', '/v1/devices:batchCreate', { devices });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_argument');
    expect(answer.body.errors).toEqual([
      {
        index: 2,
        deviceId: '2bad',
        issues: [
          { path: 'deviceId', message: expect.any(String) },
          { path: 'credentials.0.publicKeyPem', message: 'is not a PEM public key' },
        ],
      },
      { index: 3, deviceId: 'taken-1', issues: [{ path: 'deviceId', message: 'a device with this id already exists' }] },
      { index: 4, deviceId: 'mixed-0', issues: [{ path: 'deviceId', message: 'repeats the id of item 0' }] },
      { index: 5, deviceId: null, issues: [{ path: '', message: expect.any(String) }] },
      { index: 6, deviceId: null, issues: [{ path: 'deviceId', message: expect.any(String) }] },
    ]);
    expect(answer.body.issues.map((i) => i.path)).toContain('devices.2.credentials.0.publicKeyPem');
    expect(await countDevices('mixed-')).toBe(0);
  });

  it('answers 409 when the only problems are ids that exist or repeat', async () => {
    await call('POST', '/v1/devices', { deviceId: 'taken-2', credentials: [] });
    const answer = await call<BatchErrorBody>('POST', '/v1/devices:batchCreate', {
      devices: [
        { deviceId: 'conflict-0', credentials: [{ type: 'token' }] },
        { deviceId: 'taken-2', credentials: [] },
        { deviceId: 'conflict-0', credentials: [] },
      ],
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('already_exists');
    expect(answer.body.errors.map((e) => e.index)).toEqual([1, 2]);
    expect(await countDevices('conflict-')).toBe(0);
  });

  it('names the raced items by index when concurrent batches create the same ids', async () => {
    const batch = { devices: [0, 1, 2].map((i) => ({ deviceId: `raced-${i}`, credentials: [] })) };
    const answers = await Promise.all(Array.from({ length: 5 }, () => call<BatchErrorBody>('POST', '/v1/devices:batchCreate', batch)));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status === 409)) {
      expect(answer.body.error).toBe('already_exists');
      expect(answer.body.errors.map((e) => [e.index, e.deviceId])).toEqual([
        [0, 'raced-0'],
        [1, 'raced-1'],
        [2, 'raced-2'],
      ]);
    }
    expect(await countDevices('raced-')).toBe(3);
  });

  it.each([
    { name: 'an empty list', body: { devices: [] } },
    { name: 'no list', body: {} },
    { name: 'a list that is not an array', body: { devices: { deviceId: 'x' } } },
  ])('answers 400 for $name', async ({ body }) => {
    const answer = await call<BatchErrorBody>('POST', '/v1/devices:batchCreate', body);
    expect(answer.status).toBe(400);
    expect(answer.body.issues[0]?.path).toBe('devices');
  });

  it('is not mistaken for a device id route', async () => {
    expect((await call('GET', '/v1/devices:batchCreate')).status).toBe(404);
  });
});

describe('GET /v1/devices paging', () => {
  let ids: string[];

  beforeAll(async () => {
    const fresh = await createTestDatabase();
    const served = await startFunction(registry, { env: { DATABASE_URL: fresh.url, ADMIN_TOKEN: 'x' } });
    pagingCall = createRegistryClient(served.url, 'x');
    pagingClose = async () => {
      await served.close();
      await fresh.drop();
    };
    // Created in shuffled order: the listing must still come back in device-id order.
    ids = Array.from({ length: 250 }, (_, i) => `page-${String(i).padStart(3, '0')}`);
    const shuffled = [...ids].sort(() => Math.random() - 0.5);
    const created = await pagingCall('POST', '/v1/devices:batchCreate', {
      devices: shuffled.map((deviceId) => ({ deviceId, credentials: [{ type: 'token' }] })),
    });
    expect(created.status).toBe(201);
  });

  let pagingCall: RegistryCall;
  let pagingClose: () => Promise<void>;
  afterAll(async () => {
    await pagingClose();
  });

  it('pages through 250 devices in id order, 100 at a time by default', async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken: string | undefined;
    do {
      const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
      const page = await pagingCall<DeviceListResponse>('GET', `/v1/devices${query}`);
      expect(page.status).toBe(200);
      sizes.push(page.body.devices.length);
      for (const d of page.body.devices) {
        seen.push(d.deviceId);
        expect(d.credentials).toHaveLength(1);
        expect(d.credentials[0]).not.toHaveProperty('token');
      }
      pageToken = page.body.nextPageToken;
    } while (pageToken);
    expect(sizes).toEqual([100, 100, 50]);
    expect(seen).toEqual(ids);
  });

  it('honours pageSize and omits nextPageToken on the last page', async () => {
    const first = await pagingCall<DeviceListResponse>('GET', '/v1/devices?pageSize=249');
    expect(first.body.devices).toHaveLength(249);
    const last = await pagingCall<DeviceListResponse>('GET', `/v1/devices?pageSize=249&pageToken=${first.body.nextPageToken ?? ''}`);
    expect(last.body.devices.map((d) => d.deviceId)).toEqual(['page-249']);
    expect(last.body).not.toHaveProperty('nextPageToken');
    const all = await pagingCall<DeviceListResponse>('GET', '/v1/devices?pageSize=1000');
    expect(all.body.devices).toHaveLength(250);
    expect(all.body).not.toHaveProperty('nextPageToken');
  });

  it.each(['1e2', '0x2', '%205', '5.0', '%2B5', ''])('refuses pageSize=%s with 400 naming it: an integer is plain decimal digits', async (size) => {
    const answer = await pagingCall<BatchErrorBody>('GET', `/v1/devices?pageSize=${size}`);
    expect(answer.status).toBe(400);
    expect(answer.body.issues).toEqual([{ path: 'pageSize', message: NOT_DECIMAL_DIGITS }]);
  });

  it.each([
    { query: 'pageSize=5&registry=plant-a', issues: [{ path: 'registry', message: 'is not a parameter of this endpoint' }] },
    { query: 'page_size=5', issues: [{ path: 'page_size', message: 'is not a parameter of this endpoint' }] },
    {
      query: 'pageSize=5&pageSize=6',
      issues: [{ path: 'pageSize', message: 'is given more than once; give it once (a list is one comma-separated value: a,b)' }],
    },
  ])('refuses $query with 400 naming the parameter, rather than ignoring it or taking one copy', async ({ query, issues }) => {
    const answer = await pagingCall<BatchErrorBody>('GET', `/v1/devices?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.issues).toEqual(issues);
  });

  it('reads pageSize=05 as 5', async () => {
    expect((await pagingCall<DeviceListResponse>('GET', '/v1/devices?pageSize=05')).body.devices).toHaveLength(5);
  });

  it.each([
    { query: 'pageSize=0', path: 'pageSize' },
    { query: 'pageSize=1001', path: 'pageSize' },
    { query: 'pageSize=ten', path: 'pageSize' },
    { query: 'pageToken=%%%', path: 'pageToken' },
    { query: 'pageToken=bm90LWpzb24', path: 'pageToken' },
  ])('answers 400 for $query', async ({ query, path }) => {
    const answer = await pagingCall<BatchErrorBody>('GET', `/v1/devices?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.issues[0]?.path).toBe(path);
  });
});
