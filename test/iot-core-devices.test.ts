/**
 * Devices built for Cloud IoT Core, against `npm start` (real PostgreSQL, the in-process
 * Pub/Sub, DuckDB): wire-level reproductions of Google's HTTP device samples (Python,
 * `python-docs-samples/iot/api-client/http_example`, and Node, `nodejs-docs-samples/iot/
 * http_example`: same URLs, headers, JWT claims, bodies, and their rule that anything but 200
 * is a failure to retry), the operator's config changes, state reports, every RFC 8428
 * section 5 example into both stores, and the device guide's clients run as written.
 * @see ../docs/devices.md
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceClaims, signJwt } from './support/jwt.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { waitFor } from './support/net.ts';
import { createRegistryClient, type RegistryCall } from './support/registry-client.ts';
import { runQueryScript, stackEnv, startStackProcess, type StackProcess } from './support/stack-process.ts';

const run = promisify(execFile);
const PROJECT = 'iot-samples-project';
const REGION = 'us-central1';
const REGISTRY = 'my-registry';
const ROOT = join(import.meta.dirname, '..');

let database: TestDatabase;
let dataDir: string;
let stack: StackProcess;
let registry: RegistryCall;
const keys = {
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
};
const pem = {
  rsaPrivate: keys.rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  rsaPublic: keys.rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  ecPrivate: keys.ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  ecPublic: keys.ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'iot-core-devices-'));
  stack = await startStackProcess(
    await stackEnv(dataDir, { DATABASE_URL: database.url, GOOGLE_CLOUD_PROJECT: PROJECT, ADMIN_TOKEN: 'admin-secret', CONFIG_REFRESH_MS: '250' }),
  );
  registry = createRegistryClient(stack.state.urls.registry, 'admin-secret');
}, 60_000);

afterAll(async () => {
  if (stack) {
    stack.child.kill('SIGTERM');
    await stack.exited;
  }
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const devicePath = (deviceId: string) => `${stack.state.urls.bridge}/v1/projects/${PROJECT}/locations/${REGION}/registries/${REGISTRY}/devices/${deviceId}`;

/** The JWT PyJWT makes for the Python sample: claims iat/exp/aud (60 min). */
function sampleJwt(alg: 'RS256' | 'ES256', privateKey: string, lifetimeSeconds = 3600): string {
  return signJwt({ alg, key: privateKey, claims: deviceClaims(PROJECT, { lifetimeSeconds }) });
}

interface SampleCounters {
  requests: number;
  retries: number;
}

/**
 * The samples' request rule: `requests.post`/`get` with these headers, and anything but 200
 * is "Not OK" and retried (google.api_core.retry, 60 s deadline). Counts the retries.
 */
async function sampleRequest(counters: SampleCounters, method: 'GET' | 'POST', url: string, jwt: string, body?: unknown) {
  for (;;) {
    counters.requests += 1;
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'cache-control': 'no-cache' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status === 200) return JSON.parse(text) as Record<string, unknown>;
    counters.retries += 1;
    if (counters.retries > 3) throw new Error(`the sample would retry: ${response.status} ${text}`);
  }
}

async function registerSampleDevice(deviceId: string, type: 'rs256' | 'es256', publicKeyPem: string, config?: string) {
  const created = await registry('POST', '/v1/devices', {
    deviceId,
    registry: REGISTRY,
    credentials: [{ type, publicKeyPem }],
    ...(config !== undefined ? { config: { binaryData: Buffer.from(config).toString('base64') } } : {}),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

const storedReadings = async (deviceId: string) =>
  (
    await database.db.query<{ metrics: Record<string, unknown>; event_ts: Date }>(
      'SELECT metrics, event_ts FROM readings WHERE device_id = $1 ORDER BY event_ts',
      [deviceId],
    )
  ).rows;

describe("Google's Python HTTP sample, on the wire (RS256, urlsafe base64, binary_data)", () => {
  const deviceId = 'my-python-device';
  const counters: SampleCounters = { requests: 0, retries: 0 };

  it('reads its config, publishes, and reports state without a single retry', async () => {
    await registerSampleDevice(deviceId, 'rs256', pem.rsaPublic, '{"interval_s": 10}');
    const jwt = sampleJwt('RS256', pem.rsaPrivate);
    // main(): get_config("0", ...) first.
    const config = await sampleRequest(counters, 'GET', `${devicePath(deviceId)}/config?local_version=0`, jwt);
    expect(config).toMatchObject({ version: '1', binaryData: Buffer.from('{"interval_s": 10}').toString('base64'), cloudUpdateTime: expect.any(String) });
    // publish_message(): payload "{registry_id}/{device_id}-payload-{i}", urlsafe_b64encode, {"binary_data": ...}.
    for (let i = 1; i <= 3; i++) {
      const payload = `${REGISTRY}/${deviceId}-payload-${i}`;
      const answer = await sampleRequest(counters, 'POST', `${devicePath(deviceId)}:publishEvent`, jwt, {
        binary_data: Buffer.from(payload).toString('base64url'),
      });
      expect(answer).toEqual({});
    }
    // --message_type state: {"state": {"binary_data": ...}}, once per 5 s in the sample.
    const state = await sampleRequest(counters, 'POST', `${devicePath(deviceId)}:setState`, jwt, {
      state: { binary_data: Buffer.from(`${REGISTRY}/${deviceId}-payload-1`).toString('base64url') },
    });
    expect(state).toEqual({});
    expect(counters).toEqual({ requests: 5, retries: 0 });
  });

  it("keeps the sample's non-JSON payloads, each once, in rejected as not_telemetry (replayable)", async () => {
    await waitFor(
      async () =>
        (await database.db.query("SELECT 1 FROM rejected WHERE reason = 'not_telemetry' AND attributes->>'deviceId' = $1", [deviceId])).rowCount === 3,
      { what: 'three not_telemetry rows' },
    );
    const { rows } = await database.db.query<{ payload: string; attributes: Record<string, string> }>(
      "SELECT payload, attributes FROM rejected WHERE reason = 'not_telemetry' AND attributes->>'deviceId' = $1 ORDER BY payload",
      [deviceId],
    );
    expect(rows.map((r) => r.payload)).toEqual([1, 2, 3].map((i) => `${REGISTRY}/${deviceId}-payload-${i}`));
    expect(rows[0]?.attributes).toMatchObject({
      deviceId,
      deviceRegistryId: REGISTRY,
      deviceRegistryLocation: REGION,
      projectId: PROJECT,
      subFolder: '',
      deviceNumId: expect.stringMatching(/^\d+$/),
    });
  });

  it('lists the reported state through the registry, newest first', async () => {
    const states = await registry<{ deviceStates: { updateTime: string; binaryData: string }[] }>('GET', `/v1/devices/${deviceId}/states?numStates=5`);
    expect(states.status).toBe(200);
    expect(states.body.deviceStates.map((s) => Buffer.from(s.binaryData, 'base64').toString())).toEqual([`${REGISTRY}/${deviceId}-payload-1`]);
  });
});

describe("Google's Node HTTP sample, on the wire (ES256, standard base64, events and state)", () => {
  const deviceId = 'my-node-device';
  const counters: SampleCounters = { requests: 0, retries: 0 };

  it('publishes JSON telemetry that lands in both stores, once per publish', async () => {
    await registerSampleDevice(deviceId, 'es256', pem.ecPublic);
    const jwt = sampleJwt('ES256', pem.ecPrivate, 20 * 60);
    expect(await sampleRequest(counters, 'GET', `${devicePath(deviceId)}/config?local_version=0`, jwt)).toMatchObject({ version: '1', binaryData: '' });
    // A reading without ts: IoT Core's 200 means the device does not publish it again.
    const binaryData = Buffer.from(JSON.stringify({ metrics: { temperature: 19.5 } })).toString('base64');
    expect(await sampleRequest(counters, 'POST', `${devicePath(deviceId)}:publishEvent`, jwt, { binary_data: binaryData })).toEqual({});
    expect(counters.retries).toBe(0);
    await waitFor(async () => (await storedReadings(deviceId)).length === 1, { what: 'the reading in PostgreSQL' });
    await waitFor(async () => (await runQueryScript(dataDir, `SELECT metric, value FROM measurements WHERE device_id = '${deviceId}'`)).length === 1, {
      what: 'the reading in DuckDB',
    });
    expect(await storedReadings(deviceId)).toHaveLength(1);
  });
});

describe('configuration, as an operator changes it', () => {
  const deviceId = 'config-device';
  const counters: SampleCounters = { requests: 0, retries: 0 };
  const config = (version: number) =>
    sampleRequest(counters, 'GET', `${devicePath(deviceId)}/config?local_version=${version}`, sampleJwt('ES256', pem.ecPrivate));

  it('serves a new version within seconds, with IoT Core local_version semantics and acknowledgements', async () => {
    await registerSampleDevice(deviceId, 'es256', pem.ecPublic, 'mode=eco');
    expect(await config(0)).toMatchObject({ version: '1', binaryData: Buffer.from('mode=eco').toString('base64') });
    // Up to date: the version alone, no data; asking acknowledged version 1.
    const current = await config(1);
    expect(current).toMatchObject({ version: '1', deviceAckTime: expect.any(String) });
    expect(current).not.toHaveProperty('binaryData');

    const stale = await registry('POST', `/v1/devices/${deviceId}:modifyCloudToDeviceConfig`, {
      binaryData: Buffer.from('x').toString('base64'),
      versionToUpdate: '7',
    });
    expect(stale.status).toBe(409);
    expect(JSON.stringify(stale.body)).toContain('the current version is 1');
    const modified = await registry('POST', `/v1/devices/${deviceId}:modifyCloudToDeviceConfig`, {
      binaryData: Buffer.from('mode=boost').toString('base64'),
      versionToUpdate: '1',
    });
    expect(modified.status, JSON.stringify(modified.body)).toBe(200);
    expect(modified.body).toMatchObject({ version: '2', cloudUpdateTime: expect.any(String), binaryData: Buffer.from('mode=boost').toString('base64') });

    await waitFor(async () => (await config(1)).version === '2', { timeoutMs: 5_000, what: 'version 2 at the bridge' });
    expect(await config(1)).toMatchObject({ version: '2', binaryData: Buffer.from('mode=boost').toString('base64') });
    await config(2);
    const versions = await registry<{ deviceConfigs: { version: string; deviceAckTime?: string }[] }>(
      'GET',
      `/v1/devices/${deviceId}/configVersions?numVersions=10`,
    );
    expect(versions.body.deviceConfigs.map((c) => [c.version, typeof c.deviceAckTime])).toEqual([
      ['2', 'string'],
      ['1', 'string'],
    ]);
    expect(counters.retries).toBe(0);

    // Ahead of the latest version: OUT_OF_RANGE in Google's error shape.
    const ahead = await fetch(`${devicePath(deviceId)}/config?local_version=3`, { headers: { authorization: `Bearer ${sampleJwt('ES256', pem.ecPrivate)}` } });
    expect(ahead.status).toBe(400);
    expect(await ahead.json()).toEqual({ error: { code: 400, message: expect.stringContaining('above the latest'), status: 'OUT_OF_RANGE' } });

    // local_version is an int64: any version up to its largest is out of range, named as sent; past it, malformed.
    const askConfig = (version: string) =>
      fetch(`${devicePath(deviceId)}/config?local_version=${version}`, { headers: { authorization: `Bearer ${sampleJwt('ES256', pem.ecPrivate)}` } });
    // Leading zeros are decimal, however many: 70 of them and a 3 ask for version 3.
    const padded = await askConfig(`${'0'.repeat(70)}3`);
    expect(await padded.json()).toEqual({ error: { code: 400, message: expect.stringContaining('local_version 3 is above'), status: 'OUT_OF_RANGE' } });
    for (const version of ['12345678901234567', '9223372036854775807']) {
      const far = await askConfig(version);
      expect(far.status, version).toBe(400);
      expect(await far.json(), version).toEqual({
        error: { code: 400, message: expect.stringContaining(`local_version ${version} is above`), status: 'OUT_OF_RANGE' },
      });
    }
    for (const malformed of ['9223372036854775808', 'x', '-1', '1.5', '']) {
      const refused = await askConfig(malformed);
      expect(refused.status, malformed).toBe(400);
      expect(((await refused.json()) as { error: { status: string } }).error.status, malformed).toBe('INVALID_ARGUMENT');
    }
  });

  it('keeps the last 10 versions and refuses a second state update within a second', async () => {
    for (let i = 0; i < 11; i++) {
      expect(
        (await registry('POST', `/v1/devices/${deviceId}:modifyCloudToDeviceConfig`, { binaryData: Buffer.from(`v${i}`).toString('base64') })).status,
      ).toBe(200);
    }
    const versions = await registry<{ deviceConfigs: { version: string }[] }>('GET', `/v1/devices/${deviceId}/configVersions`);
    expect(versions.body.deviceConfigs.map((c) => c.version)).toEqual(Array.from({ length: 10 }, (_, i) => String(13 - i)));
    const jwt = sampleJwt('ES256', pem.ecPrivate);
    const setState = () =>
      fetch(`${devicePath(deviceId)}:setState`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({ state: { binaryData: 'e30=' } }),
      });
    expect((await setState()).status).toBe(200);
    const limited = await setState();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.json()).toMatchObject({ error: { code: 429, status: 'RESOURCE_EXHAUSTED' } });
  });

  it('deleting the device deletes its configs and states', async () => {
    expect((await registry('DELETE', `/v1/devices/${deviceId}`)).status).toBe(204);
    const left = await database.db.query(
      'SELECT (SELECT count(*) FROM device_configs WHERE device_id = $1) + (SELECT count(*) FROM device_states WHERE device_id = $1) AS n',
      [deviceId],
    );
    expect(Number((left.rows[0] as { n: string }).n)).toBe(0);
  });
});

interface Rfc8428Example {
  section: string;
  title: string;
  pack: Record<string, unknown>[];
}
const { examples } = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/rfc8428-section-5.json'), 'utf8')) as { examples: Rfc8428Example[] };

describe('every RFC 8428 section 5 example through the bridge into both stores', () => {
  it('stores every value of every example, in PostgreSQL and the warehouse', async () => {
    const created = await registry<{ credentials: { token: string }[] }>('POST', '/v1/devices', { deviceId: 'senml-device', credentials: [{ type: 'token' }] });
    const token = created.body.credentials[0]?.token as string;
    let expectedValues = 0;
    for (const { section, pack } of examples) {
      const response = await fetch(`${stack.state.urls.bridge}/v1/devices/senml-device/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/senml+json' },
        body: JSON.stringify(pack),
      });
      expect(response.status, await response.clone().text()).toBe(202);
      // 5.1.4 is 5.1.3 in resolved form: the same readings, which land once (reading identity).
      if (section !== '5.1.4') expectedValues += pack.filter((r) => ['v', 'vs', 'vb', 'vd', 's'].some((k) => k in r)).length;
    }
    const pgValues = async () => (await storedReadings('senml-device')).reduce((n, r) => n + Object.keys(r.metrics).length, 0);
    await waitFor(async () => (await pgValues()) === expectedValues, { timeoutMs: 15_000, what: `${expectedValues} values in PostgreSQL` });
    let warehouse: Record<string, unknown>[] = [];
    await waitFor(
      async () =>
        (warehouse = await runQueryScript(dataDir, "SELECT metric, unit, value, value_text, value_bool FROM measurements WHERE device_id = 'senml-device'"))
          .length === expectedValues,
      { timeoutMs: 15_000, what: `${expectedValues} measurements` },
    );
    // Same name, three units at one time (5.1.3): three rows, the unit in `unit`.
    expect(warehouse.filter((r) => String(r.metric).startsWith('urn:dev:ow:10e2073a01080063[')).map((r) => r.unit)).toEqual(
      expect.arrayContaining(['%RH', 'lon', 'lat']),
    );
    // Two base names (5.1.6), names starting with a digit.
    expect(warehouse.map((r) => r.metric)).toEqual(
      expect.arrayContaining(['2001:db8::2/temperature', '2001:db8::1/temperature', '2001:db8::2/humidity', '2001:db8::1/humidity']),
    );
    expect(await pgValues()).toBe(expectedValues);
  });
});

describe("the device guide's clients, run as written", () => {
  it('curl (token device): config, telemetry, SenML, state', async () => {
    const created = await registry<{ credentials: { token: string }[] }>('POST', '/v1/devices', {
      deviceId: 'curl-device',
      credentials: [{ type: 'token' }],
      config: { binaryData: Buffer.from('{"interval_s": 60}').toString('base64') },
    });
    const { stdout } = await run('bash', [join(ROOT, 'docs/examples/token-device.sh')], {
      env: { ...process.env, BRIDGE_URL: stack.state.urls.bridge, DEVICE_ID: 'curl-device', DEVICE_TOKEN: created.body.credentials[0]?.token as string },
      timeout: 30_000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ version: '1', binaryData: Buffer.from('{"interval_s": 60}').toString('base64') });
    expect(lines.slice(1)).toEqual([
      { accepted: 1, messageIds: [expect.any(String)] },
      { accepted: 1, messageIds: [expect.any(String)] },
      { accepted: 1, messageIds: [expect.any(String)] },
    ]);
  });

  const clientEnv = async (deviceId: string, algorithm: 'RS256' | 'ES256') => {
    const keyFile = join(dataDir, `${deviceId}.pem`);
    await writeFile(keyFile, algorithm === 'RS256' ? pem.rsaPrivate : pem.ecPrivate);
    await registerSampleDevice(deviceId, algorithm === 'RS256' ? 'rs256' : 'es256', algorithm === 'RS256' ? pem.rsaPublic : pem.ecPublic, 'hello');
    return {
      ...process.env,
      BRIDGE_URL: stack.state.urls.bridge,
      PROJECT_ID: PROJECT,
      REGION,
      REGISTRY_ID: REGISTRY,
      DEVICE_ID: deviceId,
      PRIVATE_KEY_FILE: keyFile,
      ALGORITHM: algorithm,
    };
  };

  it('Python (standard library + PyJWT)', async () => {
    const python = await findPythonWithJwt();
    const { stdout } = await run(python, [join(ROOT, 'docs/examples/iot_core_device.py')], { env: await clientEnv('python-client', 'RS256'), timeout: 30_000 });
    expect(stdout).toContain('config data hello');
    expect(stdout).toMatch(/publishEvent 200 \{\}/);
    expect(stdout).toMatch(/setState 200 \{\}/);
    await waitFor(async () => (await storedReadings('python-client')).length === 1, { what: "the Python client's reading" });
  });

  it('Node (node:crypto only)', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'docs/examples/iot-core-device.mjs')], {
      env: await clientEnv('node-client', 'ES256'),
      timeout: 30_000,
    });
    expect(stdout).toContain('config data hello');
    expect(stdout).toContain('publishEvent 200 {}');
    expect(stdout).toContain('setState 200 {}');
    await waitFor(async () => (await storedReadings('node-client')).length === 1, { what: "the Node client's reading" });
  });
});

/** A Python 3 that has PyJWT (Debian's python3-jwt, or pip's); the test fails without one. */
async function findPythonWithJwt(): Promise<string> {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      await run(candidate, ['-c', 'import jwt, cryptography'], { timeout: 10_000 });
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  throw new Error('no python3 with PyJWT and cryptography: apt-get install python3-jwt python3-cryptography (or pip install pyjwt cryptography)');
}
