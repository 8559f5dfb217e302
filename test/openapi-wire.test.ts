/**
 * Real answers checked against docs/openapi/: the registry and the bridge served as in
 * production (real PostgreSQL, the official Pub/Sub emulator), every documented answer they
 * give today validated against its operation's schema with expectResponseMatches.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import registry from '../functions/registry/index.ts';
import { createDevice, generateTestKeyPair } from './support/devices.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { createRegistryClient, type RegistryCall } from './support/registry-client.ts';
import { sendAsDevice, startBridge, type BridgeUnderTest, type DeviceRequest } from './support/bridge.ts';
import { expectDocumentedCode, expectResponseMatches, loadOpenApi, type OpenApiDocument } from './support/openapi.ts';

let database: TestDatabase;
let registryServed: ServedFunction;
let call: RegistryCall;
let bridge: BridgeUnderTest;
let registryApi: OpenApiDocument;
let bridgeApi: OpenApiDocument;
let token: string;
/** Devices of their own for the refusals and the rate limit, so that budgets do not mix. */
let invalidToken: string;
let limitedToken: string;

beforeAll(async () => {
  database = await createTestDatabase();
  registryServed = await startFunction(registry, { env: { DATABASE_URL: database.url, ADMIN_TOKEN: 'x' } });
  call = createRegistryClient(registryServed.url, 'x');
  bridge = await startBridge({ databaseUrl: database.url, env: { DEVICE_RATE_LIMIT: '3/h' } });
  token = (await createDevice(database.db, { deviceId: 'wire-sensor', token: true })).token as string;
  invalidToken = (await createDevice(database.db, { deviceId: 'wire-invalid', token: true })).token as string;
  limitedToken = (await createDevice(database.db, { deviceId: 'wire-limited', token: true })).token as string;
  registryApi = await loadOpenApi('registry');
  bridgeApi = await loadOpenApi('bridge');
});

afterAll(async () => {
  await bridge?.close();
  await registryServed?.close();
  await database?.drop();
});

/** Calls the registry and checks the answer against registry.yaml. */
async function registryCall(method: string, path: string, body?: unknown, options: Parameters<RegistryCall>[3] = {}) {
  const answer = await call(method, path, body, options);
  expectResponseMatches(registryApi, method, path, answer.status, answer.body);
  expectDocumentedCode(registryApi, answer);
  return answer;
}

describe('registry answers match registry.yaml', () => {
  const es = generateTestKeyPair('es256');
  const rs = generateTestKeyPair('rs256');

  it('creates, reads, lists, changes and deletes devices', async () => {
    const created = await registryCall('POST', '/v1/devices', {
      deviceId: 'wire-1',
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
    expect((await registryCall('GET', '/v1/devices/wire-1')).status).toBe(200);
    expect((await registryCall('GET', '/v1/devices/wire-1/state')).status).toBe(200);
    const page = await registryCall('GET', '/v1/devices?pageSize=1');
    expect(page.status).toBe(200);
    expect(page.body).toHaveProperty('nextPageToken');
    const patched = await registryCall('PATCH', '/v1/devices/wire-1', { site: null, blocked: true, credentials: [{ type: 'token' }] });
    expect(patched.status).toBe(200);
    expect((await registryCall('DELETE', '/v1/devices/wire-1')).status).toBe(204);
  });

  it('creates devices in bulk', async () => {
    const answer = await registryCall('POST', '/v1/devices:batchCreate', {
      devices: [
        { deviceId: 'wire-b1', credentials: [{ type: 'token' }] },
        { deviceId: 'wire-b2', credentials: [] },
      ],
    });
    expect(answer.status).toBe(201);
  });

  it.each([
    { name: 'no admin token', method: 'GET', path: '/v1/devices', body: undefined, options: { token: null }, status: 401 },
    {
      name: 'an invalid device',
      method: 'POST',
      path: '/v1/devices',
      body: { deviceId: '1x', credentials: [{ type: 'es256', publicKeyPem: 'nope' }] },
      options: {},
      status: 400,
    },
    { name: 'malformed JSON', method: 'POST', path: '/v1/devices', body: undefined, options: { rawBody: '{"deviceId":' }, status: 400 },
    {
      name: 'a body not declared as JSON',
      method: 'POST',
      path: '/v1/devices',
      body: undefined,
      options: { rawBody: 'x', headers: { 'content-type': 'text/plain' } },
      status: 415,
    },
    { name: 'an existing id', method: 'POST', path: '/v1/devices', body: { deviceId: 'wire-sensor', credentials: [] }, options: {}, status: 409 },
    { name: 'an invalid page size', method: 'GET', path: '/v1/devices?pageSize=0', body: undefined, options: {}, status: 400 },
    { name: 'an unknown device', method: 'GET', path: '/v1/devices/wire-none', body: undefined, options: {}, status: 404 },
    { name: 'an id no device can have', method: 'GET', path: '/v1/devices/1x', body: undefined, options: {}, status: 400 },
    { name: 'an id that does not percent-decode', method: 'DELETE', path: '/v1/devices/wire%zz', body: undefined, options: {}, status: 400 },
    { name: 'the state of an id that does not percent-decode', method: 'GET', path: '/v1/devices/wire%zz/state', body: undefined, options: {}, status: 400 },
    {
      name: 'a body that does not gunzip',
      method: 'POST',
      path: '/v1/devices',
      body: undefined,
      options: { rawBody: '{"deviceId": "wire-gz", "credentials": []}', headers: { 'content-encoding': 'gzip' } as Record<string, string> },
      status: 400,
    },
    { name: 'the state of an unknown device', method: 'GET', path: '/v1/devices/wire-none/state', body: undefined, options: {}, status: 404 },
    { name: 'a patch of an unknown device', method: 'PATCH', path: '/v1/devices/wire-none', body: { blocked: true }, options: {}, status: 404 },
    {
      name: 'a patch keeping a foreign credential',
      method: 'PATCH',
      path: '/v1/devices/wire-sensor',
      body: { credentials: [{ credentialId: 'not-mine' }] },
      options: {},
      status: 400,
    },
    { name: 'deleting an unknown device', method: 'DELETE', path: '/v1/devices/wire-none', body: undefined, options: {}, status: 404 },
    {
      name: 'a batch with invalid items',
      method: 'POST',
      path: '/v1/devices:batchCreate',
      body: {
        devices: [
          { deviceId: 'wire-ok', credentials: [] },
          { deviceId: '', credentials: [] },
        ],
      },
      options: {},
      status: 400,
    },
    {
      name: 'a batch with an existing id',
      method: 'POST',
      path: '/v1/devices:batchCreate',
      body: { devices: [{ deviceId: 'wire-sensor', credentials: [] }] },
      options: {},
      status: 409,
    },
  ])('refuses $name with a documented error body', async ({ method, path, body, options, status }) => {
    expect((await registryCall(method, path, body, options)).status).toBe(status);
  });

  it('answers /healthz as documented', async () => {
    const response = await fetch(`${registryServed.url}/healthz`);
    expectResponseMatches(registryApi, 'GET', '/healthz', response.status, await response.json());
  });
});

describe('bridge answers match bridge.yaml', () => {
  /** Posts like a device and checks the answer against bridge.yaml. */
  async function post(path: string, request: Partial<DeviceRequest> & { method?: string } = {}) {
    const { method = 'POST', ...rest } = request;
    if (method !== 'POST') {
      const response = await fetch(bridge.served.url + path, { method });
      const body: unknown = await response.json();
      expectResponseMatches(bridgeApi, 'POST', path, response.status, body);
      return { status: response.status, headers: response.headers, body };
    }
    const answer = await sendAsDevice(bridge.served.url + path, { authorization: `Bearer ${token}`, body: { metrics: { temp: 1 } }, ...rest });
    expectResponseMatches(bridgeApi, 'POST', path, answer.status, answer.body);
    return answer;
  }
  const telemetry = (deviceId = 'wire-sensor') => `/v1/devices/${deviceId}/telemetry`;

  it('accepts a reading, a batch and a SenML pack with 202', async () => {
    // DEVICE_RATE_LIMIT is 3/h: these three are this device's whole budget.
    expect((await post(telemetry(), { body: { ts: '2026-03-01T10:00:00Z', metrics: { temp: 21.5, ok: true, mode: 'eco' }, seq: 1 } })).status).toBe(202);
    expect(
      (await post(telemetry(), { body: gzipSync(JSON.stringify([{ metrics: { temp: 1 } }, { metrics: { temp: 2 } }])), contentEncoding: 'gzip' })).status,
    ).toBe(202);
    expect((await post(telemetry(), { body: [{ bn: 'wire-sensor:', n: 'temp', u: 'Cel', v: 20 }], contentType: 'application/senml+json' })).status).toBe(202);
  });

  it.each([
    { name: 'an invalid reading', request: { body: { metrics: { '1bad': 1 } }, authorization: 'invalid' }, status: 400 },
    { name: 'malformed JSON', request: { body: '{"metrics":', authorization: 'invalid' }, status: 400 },
    { name: 'a wrong token', request: { authorization: 'Bearer wrong' }, status: 401 },
    { name: 'no credential', request: { authorization: '' }, status: 401 },
    { name: 'a body over 256 KiB', request: { body: JSON.stringify({ metrics: { note: 'x'.repeat(300 * 1024) } }) }, status: 413 },
    { name: 'an unsupported media type', request: { contentType: 'application/xml' }, status: 415 },
    { name: 'an unsupported encoding', request: { contentEncoding: 'br' }, status: 415 },
  ])('refuses $name with a documented error body', async ({ request, status }) => {
    const { authorization, ...rest } = request;
    const path = authorization === 'invalid' ? telemetry('wire-invalid') : telemetry();
    const answer = await post(path, {
      ...rest,
      ...(authorization === 'invalid' ? { authorization: `Bearer ${invalidToken}` } : authorization !== undefined ? { authorization } : {}),
    });
    expect(answer.status).toBe(status);
  });

  it('refuses a blocked device with 403', async () => {
    const blocked = await createDevice(database.db, { deviceId: 'wire-blocked', token: true, blocked: true });
    expect((await post(telemetry('wire-blocked'), { authorization: `Bearer ${blocked.token as string}` })).status).toBe(403);
  });

  it('answers 405 to another method on a device path', async () => {
    expect((await post(telemetry(), { method: 'PUT' })).status).toBe(405);
  });

  it('answers 429 with Retry-After once the device is over its rate limit', async () => {
    const send = () => post(telemetry('wire-limited'), { authorization: `Bearer ${limitedToken}` });
    let last = await send();
    for (let i = 0; i < 3 && last.status !== 429; i++) last = await send();
    expect(last.status).toBe(429);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers /healthz as documented', async () => {
    const response = await fetch(`${bridge.served.url}/healthz`);
    expectResponseMatches(bridgeApi, 'GET', '/healthz', response.status, await response.json());
  });
});
