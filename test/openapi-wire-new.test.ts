/**
 * Real answers of the routes added after openapi-wire.test.ts, checked against docs/openapi/:
 * the readings function, the bridge's configuration and state paths (IoT Core's and the
 * native ones), and the registry's configuration, state, replay and maintenance routes.
 * For readings the other way round too: every status readings.yaml documents was answered.
 * Real PostgreSQL; the official Pub/Sub emulator where something is published.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import readingsFunction from '../functions/readings/index.ts';
import registry from '../functions/registry/index.ts';
import { createDevice, generateTestKeyPair } from './support/devices.ts';
import { sendAsDevice, startBridge, TEST_PROJECT, useEmulator, type BridgeUnderTest } from './support/bridge.ts';
import { deviceClaims, signJwt } from './support/jwt.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { createRegistryClient, type RegistryCall, type RegistryCallOptions } from './support/registry-client.ts';
import { expectDocumentedCode, expectResponseMatches, findTemplate, loadOpenApi, type OpenApiDocument } from './support/openapi.ts';
import { sendRaw } from './support/wire.ts';

const ADMIN = 'wire-new-admin-token';
const READ = 'wire-new-read-token';
const b64 = (text: string) => Buffer.from(text).toString('base64');

let database: TestDatabase;
let bridge: BridgeUnderTest;
let registryServed: ServedFunction;
let readingsServed: ServedFunction;
let call: RegistryCall;
let apis: { bridge: OpenApiDocument; registry: OpenApiDocument; readings: OpenApiDocument };
let token: string;
const es = generateTestKeyPair('es256');

beforeAll(async () => {
  database = await createTestDatabase();
  bridge = await startBridge({ databaseUrl: database.url, env: { CONFIG_REFRESH_MS: '50' } });
  // The registry replays into the bridge's topic on the emulator.
  registryServed = await startFunction(registry, {
    env: {
      DATABASE_URL: database.url,
      ADMIN_TOKEN: ADMIN,
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT,
      TELEMETRY_TOPIC: bridge.topic,
      PUBSUB_EMULATOR_HOST: useEmulator(),
    },
  });
  readingsServed = await startFunction(readingsFunction, { env: { DATABASE_URL: database.url, READ_TOKEN: READ, ADMIN_TOKEN: ADMIN } });
  call = createRegistryClient(registryServed.url, ADMIN);
  token = (await createDevice(database.db, { deviceId: 'wn-token', token: true })).token as string;
  await createDevice(database.db, { deviceId: 'wn-iot', publicKeys: [{ type: 'es256', pem: es.publicKeyPem }] });
  await database.db.query(`INSERT INTO devices (device_id, registry, site) VALUES ('wn-read', 'plant-1', 'lab')`);
  await database.db.query(`INSERT INTO readings (reading_id, device_id, event_ts, metrics, seq, location)
    SELECT 'wn' || g, 'wn-read', now() - g * interval '1 minute', jsonb_build_object('temp', 20 + g, 'on', g % 2 = 0, 'mode', 'eco'), g,
           CASE WHEN g = 1 THEN '{"lat": 48.1, "lon": 11.5}'::jsonb END
    FROM generate_series(1, 30) g`);
  await database.db.query(`INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total)
    VALUES ('wn-read', now() - interval '1 minute', '{"temp": 21, "on": false, "mode": "eco"}', now() - interval '1 minute', 30)`);
  apis = { bridge: await loadOpenApi('bridge'), registry: await loadOpenApi('registry'), readings: await loadOpenApi('readings') };
}, 60_000);

afterAll(async () => {
  await readingsServed?.close();
  await registryServed?.close();
  await bridge?.close();
  await database?.drop();
});

async function registryCall(method: string, path: string, body?: unknown, options: RegistryCallOptions = {}) {
  const answer = await call(method, path, body, options);
  expectResponseMatches(apis.registry, method, path, answer.status, answer.body);
  expectDocumentedCode(apis.registry, answer);
  return answer;
}

/** `template status` of every readings.yaml answer checked below, to find documented statuses never answered. */
const readingsAnswered = new Set<string>();

/**
 * Sends a request to readings (or `target`, another readings function) and checks the answer
 * against readings.yaml: under the path's GET, where a 405 to another method is documented too.
 */
async function readingsCall(
  path: string,
  request: { method?: string; headers?: Record<string, string>; body?: string; bearer?: string | null; target?: ServedFunction } = {},
) {
  const { method = 'GET', headers = {}, body, bearer = READ, target = readingsServed } = request;
  const answer = await sendRaw(target.url, {
    method,
    path,
    headers: {
      ...headers,
      ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
      // Declared: Node's client would send a GET's body unframed.
      ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
    },
    body,
  });
  const json = String(answer.headers['content-type']).startsWith('application/json') ? answer.body : undefined;
  expectResponseMatches(apis.readings, 'GET', path, answer.status, json);
  readingsAnswered.add(`${findTemplate(apis.readings, 'GET', path)} ${answer.status}`);
  return { status: answer.status, headers: answer.headers, text: answer.text, body: json as Record<string, unknown> };
}

const readingsGet = (path: string, bearer: string | null = READ) => readingsCall(path, { bearer });

describe('readings answers match readings.yaml', () => {
  it('answers readings, series and the fleet', async () => {
    const page = await readingsGet('/v1/devices/wn-read/readings?pageSize=10&order=desc');
    expect(page.status).toBe(200);
    expect(page.body.nextPageToken).toEqual(expect.any(String));
    const next = await readingsGet(`/v1/devices/wn-read/readings?pageSize=10&order=desc&pageToken=${encodeURIComponent(page.body.nextPageToken as string)}`);
    expect(next.status).toBe(200);
    expect((await readingsGet('/v1/devices/wn-read/readings?metrics=temp,on')).status).toBe(200);
    const series = await readingsGet('/v1/devices/wn-read/series?metric=temp&interval=5m&agg=avg,min,max,count,last');
    expect(series.status).toBe(200);
    expect((series.body.buckets as unknown[]).length).toBeGreaterThan(0);
    const fleet = await readingsGet('/v1/fleet?pageSize=1', ADMIN);
    expect(fleet.status).toBe(200);
    expect(fleet.body.nextPageToken).toEqual(expect.any(String));
    expect((await readingsGet('/v1/fleet?silentFor=15m&registry=default')).status).toBe(200);
  });

  it.each([
    { name: 'no token', path: '/v1/fleet', bearer: null, status: 401 },
    { name: 'a wrong token', path: '/v1/devices/wn-read/readings', bearer: 'wrong', status: 401 },
    { name: 'a series without a token', path: '/v1/devices/wn-read/series?metric=temp', bearer: null, status: 401 },
    {
      name: 'a window over 31 days and a bad order',
      path: '/v1/devices/wn-read/readings?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&order=up',
      bearer: READ,
      status: 400,
    },
    { name: 'an unknown device', path: '/v1/devices/wn-none/readings', bearer: READ, status: 404 },
    { name: 'a series without a metric', path: '/v1/devices/wn-read/series?interval=7m', bearer: READ, status: 400 },
    { name: 'the series of an unknown device', path: '/v1/devices/wn-none/series?metric=temp', bearer: READ, status: 404 },
    { name: 'a bad silentFor', path: '/v1/fleet?silentFor=soon&pageSize=0', bearer: READ, status: 400 },
  ])('refuses $name with a documented error body', async ({ path, bearer, status }) => {
    expect((await readingsGet(path, bearer)).status).toBe(status);
  });

  /** Every path readings.yaml documents but /healthz, with an asset name no build has. */
  const PATHS = ['/v1/devices/wn-read/readings', '/v1/devices/wn-read/series?metric=temp', '/v1/fleet', '/', '/assets/app.000000000000.js'];

  it('serves the dashboard as HTML, its script and stylesheet, each coding revalidated by its own ETag', async () => {
    const page = await readingsCall('/', { bearer: null });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const assets = [...page.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets).toHaveLength(2);
    for (const path of ['/', ...assets]) {
      const etags: string[] = [];
      for (const coding of ['gzip', 'identity']) {
        const first = await readingsCall(path, { bearer: null, headers: { 'accept-encoding': coding } });
        expect(first.status, path).toBe(200);
        etags.push(first.headers.etag as string);
        const again = await readingsCall(path, { bearer: null, headers: { 'accept-encoding': coding, 'if-none-match': first.headers.etag as string } });
        expect(again.status, `${path} ${coding}`).toBe(304);
      }
      expect(new Set(etags).size, path).toBe(2);
    }
    expect((await readingsCall('/assets/app.000000000000.js', { bearer: null })).status).toBe(404);
  });

  it('answers 405 with Allow to any method but GET and HEAD, on every path, before the token', async () => {
    for (const path of [...PATHS, '/healthz']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const answer = await readingsCall(path, { method, bearer: null, ...(method === 'POST' ? { body: '{}' } : {}) });
        expect(answer.status, `${method} ${path}`).toBe(405);
        expect(answer.headers.allow).toBe('GET, HEAD');
      }
    }
  });

  it('answers 413 to a GET that carries a body, and 415 to one with a Content-Encoding, before the token', async () => {
    for (const path of PATHS) {
      expect((await readingsCall(path, { bearer: null, body: 'x' })).status, path).toBe(413);
      expect((await readingsCall(path, { bearer: null, headers: { 'content-encoding': 'gzip' } })).status, path).toBe(415);
    }
  });

  it('answers 503 when PostgreSQL does not answer within the statement timeout', async () => {
    const slow = await startFunction(readingsFunction, { env: { DATABASE_URL: database.url, READ_TOKEN: READ, READINGS_STATEMENT_TIMEOUT_MS: '300' } });
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE devices IN ACCESS EXCLUSIVE MODE');
      for (const path of PATHS.slice(0, 3)) expect((await readingsCall(path, { target: slow })).status, path).toBe(503);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      await slow.close();
    }
  });

  it('gave every answer readings.yaml documents, but the /healthz 503 (a draining process or a stuck store: test/postgres-deadlines.test.ts)', async () => {
    await readingsCall('/healthz', { bearer: null });
    const documented = Object.entries(apis.readings.document.paths).flatMap(([template, item]) =>
      Object.keys(item.get?.responses ?? {}).map((status) => `${template} ${status}`),
    );
    expect(documented.filter((answer) => !readingsAnswered.has(answer) && answer !== '/healthz 503')).toEqual([]);
  });
});

describe('registry configuration, states and lifecycle answers match registry.yaml', () => {
  it('modifies the configuration, lists versions and states', async () => {
    expect(
      (await registryCall('POST', '/v1/devices', { deviceId: 'wn-cfg', credentials: [{ type: 'token' }], config: { binaryData: b64('a=1') } })).status,
    ).toBe(201);
    expect((await registryCall('POST', '/v1/devices/wn-cfg:modifyCloudToDeviceConfig', { binaryData: b64('a=2'), versionToUpdate: '1' })).status).toBe(200);
    expect((await registryCall('POST', '/v1/devices/wn-cfg:modifyCloudToDeviceConfig', { binary_data: b64('a=3') })).status).toBe(200);
    const versions = await registryCall('GET', '/v1/devices/wn-cfg/configVersions?numVersions=2');
    expect(versions.status).toBe(200);
    expect(versions.body).toMatchObject({ deviceConfigs: [{ version: '3' }, { version: '2' }] });
    expect((await registryCall('GET', '/v1/devices/wn-cfg/states')).status).toBe(200);
  });

  it.each([
    {
      name: 'a stale versionToUpdate',
      method: 'POST',
      path: '/v1/devices/wn-cfg:modifyCloudToDeviceConfig',
      body: { binaryData: b64('x'), versionToUpdate: 1 },
      options: {},
      status: 409,
    },
    {
      name: 'a config without data',
      method: 'POST',
      path: '/v1/devices/wn-cfg:modifyCloudToDeviceConfig',
      body: { versionToUpdate: 1 },
      options: {},
      status: 400,
    },
    {
      name: 'the config of an unknown device',
      method: 'POST',
      path: '/v1/devices/wn-none:modifyCloudToDeviceConfig',
      body: { binaryData: b64('x') },
      options: {},
      status: 404,
    },
    {
      name: 'a config without the admin token',
      method: 'POST',
      path: '/v1/devices/wn-cfg:modifyCloudToDeviceConfig',
      body: { binaryData: b64('x') },
      options: { token: null },
      status: 401,
    },
    { name: 'too many versions', method: 'GET', path: '/v1/devices/wn-cfg/configVersions?numVersions=11', body: undefined, options: {}, status: 400 },
    { name: 'the versions of an unknown device', method: 'GET', path: '/v1/devices/wn-none/configVersions', body: undefined, options: {}, status: 404 },
    { name: 'a bad numStates', method: 'GET', path: '/v1/devices/wn-cfg/states?numStates=abc', body: undefined, options: {}, status: 400 },
    { name: 'the states of an unknown device', method: 'GET', path: '/v1/devices/wn-none/states', body: undefined, options: {}, status: 404 },
    {
      name: 'a replay with bad filters',
      method: 'POST',
      path: '/v1/rejected:replay',
      body: { stage: 'nowhere', since: 'yesterday', extra: 1 },
      options: {},
      status: 400,
    },
    {
      name: 'a replay not declared as JSON',
      method: 'POST',
      path: '/v1/rejected:replay',
      body: undefined,
      options: { rawBody: '{}', headers: { 'content-type': 'text/plain' } },
      status: 415,
    },
    { name: 'a replay without the admin token', method: 'POST', path: '/v1/rejected:replay', body: {}, options: { token: null }, status: 401 },
    { name: 'maintenance without a token', method: 'POST', path: '/v1/maintenance:run', body: undefined, options: { token: null }, status: 401 },
    { name: 'maintenance with a query parameter', method: 'POST', path: '/v1/maintenance:run?days=7', body: undefined, options: {}, status: 400 },
  ])('refuses $name with a documented error body', async ({ method, path, body, options, status }) => {
    expect((await registryCall(method, path, body, options)).status).toBe(status);
  });

  it('replays a rejected message (dry run, then for real) and runs maintenance', async () => {
    await database.db.query(
      `INSERT INTO rejected (stage, reason, detail, payload, attributes, message_id)
      VALUES ('ingest', 'unknown_device', '{}', $1, '{"deviceId": "wn-token"}', 'wn-original')`,
      [JSON.stringify({ metrics: { temp: 1 } })],
    );
    const dry = await registryCall('POST', '/v1/rejected:replay', { reason: 'unknown_device', dryRun: true });
    expect(dry.body).toMatchObject({ dryRun: true, matched: 1, replayed: 0 });
    const replayed = await registryCall('POST', '/v1/rejected:replay', { reason: 'unknown_device', deviceId: 'wn-token' });
    expect(replayed.body).toMatchObject({ dryRun: false, replayed: 1 });
    const maintenance = await registryCall('POST', '/v1/maintenance:run', undefined);
    expect(maintenance.status).toBe(200);
  });
});

describe('bridge configuration and state answers match bridge.yaml', () => {
  const iotPath = (deviceId: string, tail: string) => `/v1/projects/${TEST_PROJECT}/locations/europe-west1/registries/default/devices/${deviceId}${tail}`;
  const jwt = () => `Bearer ${signJwt({ alg: 'ES256', key: es.privateKeyPem, claims: deviceClaims(TEST_PROJECT) })}`;

  async function device(method: 'GET' | 'POST', path: string, authorization: string, body?: unknown) {
    const response =
      method === 'GET'
        ? await fetch(bridge.served.url + path, { headers: { authorization } })
        : await sendAsDevice(bridge.served.url + path, { authorization, body });
    const answer = 'json' in response ? { status: response.status, headers: response.headers, body: (await response.json()) as unknown } : response;
    expectResponseMatches(apis.bridge, method, path, answer.status, answer.body);
    return answer;
  }

  it("answers IoT Core's publishEvent, setState and config as documented", async () => {
    expect((await device('POST', iotPath('wn-iot', ':publishEvent'), jwt(), { binaryData: b64('{"metrics":{"temp":1}}'), subFolder: 'x' })).status).toBe(200);
    expect((await device('POST', iotPath('wn-iot', ':setState'), jwt(), { state: { binaryData: b64('on') } })).status).toBe(200);
    expect((await device('GET', iotPath('wn-iot', '/config?local_version=0'), jwt())).status).toBe(200);
    // A device that has the latest version gets the version alone, as the document says.
    const upToDate = await device('GET', iotPath('wn-iot', '/config?local_version=1'), jwt());
    expect(upToDate.status).toBe(200);
    expect(upToDate.body).not.toHaveProperty('binaryData');
  });

  it.each([
    { name: 'a publishEvent without data', method: 'POST' as const, tail: ':publishEvent', body: { subFolder: 'x' }, status: 400 },
    { name: 'a setState twice in a second', method: 'POST' as const, tail: ':setState', body: { state: { binaryData: b64('again') } }, status: 429 },
    { name: 'a local_version above the latest', method: 'GET' as const, tail: '/config?local_version=9', body: undefined, status: 400 },
    { name: 'a plain token on the IoT Core path', method: 'POST' as const, tail: ':publishEvent', body: { binaryData: b64('x') }, status: 401, token: true },
  ])("refuses $name in Google's error shape", async ({ method, tail, body, status, token: plain }) => {
    if (status === 429) await device('POST', iotPath('wn-iot', tail), jwt(), body);
    expect((await device(method, iotPath('wn-iot', tail), plain ? `Bearer ${token}` : jwt(), body)).status).toBe(status);
  });

  it('answers the native config and state paths as documented', async () => {
    expect((await device('GET', '/v1/devices/wn-token/config', `Bearer ${token}`)).status).toBe(200);
    expect((await device('POST', '/v1/devices/wn-token/state', `Bearer ${token}`, { mode: 'eco' })).status).toBe(202);
    expect((await device('POST', '/v1/devices/wn-token/state', `Bearer ${token}`, { mode: 'again' })).status).toBe(429);
    expect((await device('GET', '/v1/devices/wn-token/config?local_version=x', `Bearer ${token}`)).status).toBe(400);
    expect((await device('GET', '/v1/devices/wn-token/config', 'Bearer wrong')).status).toBe(401);
    expect((await device('POST', '/v1/devices/wn-token/state', `Bearer ${token}`, '{"mode":')).status).toBe(400);
  });
});
