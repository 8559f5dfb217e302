/**
 * Identifiers no device can have (NUL or another control character, broken percent-encoding,
 * 5,000 characters, and plain text the id rules refuse: a `goog` prefix, a leading digit, two
 * characters) are refused with 400 naming the id, before authentication and before any store
 * is asked, on every path they arrive by; and such an id is never logged in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bridge from '../functions/bridge/index.ts';
import registry from '../functions/registry/index.ts';
import type { Database } from '../shared/db/database.ts';
import { sendRaw } from './support/wire.ts';
import { captureLogs, startFunction, type ServedFunction } from './support/kit.ts';

const ADMIN = { authorization: 'Bearer ids-admin' };
const LONG_ID = `d${'x'.repeat(4_999)}`;

/** A database that counts how often it is asked and never answers usefully. */
function countingDatabase() {
  const counter = { asked: 0 };
  const fail = () => {
    counter.asked += 1;
    return Promise.reject(new Error('no store should be asked for an invalid id'));
  };
  const database: Database = { kind: 'postgres', query: fail, exec: fail, transaction: fail, close: () => Promise.resolve() };
  return { counter, provider: () => Promise.resolve(database) };
}

describe('the bridge', () => {
  const logs = captureLogs('debug');
  const store = countingDatabase();
  let fn: ServedFunction;
  beforeAll(async () => {
    fn = await startFunction(bridge, {
      env: { GOOGLE_CLOUD_PROJECT: 'ids-project' },
      logger: logs.logger,
      providers: { database: store.provider, publisher: () => Promise.reject(new Error('no publish for an invalid id')) },
    });
  });
  afterAll(() => fn?.close());

  const iot = (project: string, location: string, registryId: string, device: string) =>
    `/v1/projects/${project}/locations/${location}/registries/${registryId}/devices/${device}:publishEvent`;
  const cases: { name: string; path: string; issue: { path: string; message: RegExp } }[] = [
    { name: 'NUL alone', path: '/v1/devices/%00/telemetry', issue: { path: 'deviceId', message: /control characters \(NUL included\)/ } },
    { name: 'NUL inside', path: '/v1/devices/dev%00ice/telemetry', issue: { path: 'deviceId', message: /control characters/ } },
    { name: 'bell character', path: '/v1/devices/dev%07ice/telemetry', issue: { path: 'deviceId', message: /control characters/ } },
    { name: 'malformed escape', path: '/v1/devices/dev%ZZice/telemetry', issue: { path: 'deviceId', message: /percent-encoded UTF-8/ } },
    { name: 'escape that is not UTF-8', path: '/v1/devices/dev%C3ice/telemetry', issue: { path: 'deviceId', message: /percent-encoded UTF-8/ } },
    { name: '5,000 characters', path: `/v1/devices/${LONG_ID}/telemetry`, issue: { path: 'deviceId', message: /at most 255 characters/ } },
    // Plain ids (no escapes) take the bridge's fast path; the ones it refuses must still get zod's issue.
    { name: 'reserved "goog" prefix', path: '/v1/devices/goog-x/telemetry', issue: { path: 'deviceId', message: /must not start with "goog"/ } },
    { name: 'reserved prefix in capitals', path: '/v1/devices/GOOG-sensor/telemetry', issue: { path: 'deviceId', message: /must not start with "goog"/ } },
    { name: 'starting with a digit', path: '/v1/devices/1sensor/telemetry', issue: { path: 'deviceId', message: /must match/ } },
    { name: 'too short', path: '/v1/devices/ab/telemetry', issue: { path: 'deviceId', message: /must match/ } },
    {
      name: 'IoT Core: NUL in the device id',
      path: iot('ids-project', 'europe-west1', 'reg-1', 'dev%00'),
      issue: { path: 'deviceId', message: /control characters/ },
    },
    {
      name: 'IoT Core: NUL in the registry',
      path: iot('ids-project', 'europe-west1', 'reg%00', 'device-1'),
      issue: { path: 'registry', message: /control characters/ },
    },
    {
      name: 'IoT Core: NUL in the project',
      path: iot('ids%00', 'europe-west1', 'reg-1', 'device-1'),
      issue: { path: 'project', message: /control characters/ },
    },
    {
      name: 'IoT Core: NUL in the location',
      path: iot('ids-project', 'eu%00', 'reg-1', 'device-1'),
      issue: { path: 'location', message: /control characters/ },
    },
  ];

  it.each(cases)('$name → 400 naming $issue.path, no store asked, whatever the credential', async ({ path, issue }) => {
    for (const authorization of ['Bearer any-token', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln', '']) {
      const response = await sendRaw(fn.url, {
        path,
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: '{"metrics":{"t":1}}',
      });
      expect(response.status).toBe(400);
      if (path.startsWith('/v1/projects/')) {
        // IoT Core's paths answer in Google's error shape, the issues as a BadRequest's field violations.
        expect(response.body?.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
        expect((response.body?.error as { details?: { fieldViolations?: unknown }[] } | undefined)?.details?.[0]?.fieldViolations).toEqual([
          { field: issue.path, description: expect.stringMatching(issue.message) },
        ]);
      } else {
        expect(response.body?.issues).toEqual([{ path: issue.path, message: expect.stringMatching(issue.message) }]);
      }
    }
    expect(store.counter.asked).toBe(0);
  });

  it('never logs a 5,000-character id in full', async () => {
    logs.lines.length = 0;
    await sendRaw(fn.url, { path: `/v1/devices/${LONG_ID}/telemetry`, headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, body: '{}' });
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const line of logs.lines) expect(line).not.toContain(LONG_ID.slice(0, 1_000));
  });
});

describe('the registry', () => {
  const logs = captureLogs('debug');
  const store = countingDatabase();
  let fn: ServedFunction;
  beforeAll(async () => {
    fn = await startFunction(registry, { env: { ADMIN_TOKEN: 'ids-admin' }, logger: logs.logger, providers: { database: store.provider } });
  });
  afterAll(() => fn?.close());

  it.each([
    { method: 'GET', path: '/v1/devices/%00' },
    { method: 'GET', path: '/v1/devices/dev%00ice/state' },
    { method: 'PATCH', path: '/v1/devices/dev%00ice', body: '{"site":"x"}' },
    { method: 'DELETE', path: '/v1/devices/dev%1Fice' },
  ])('$method $path → 400 naming deviceId, no store asked', async ({ method, path, body }) => {
    const response = await sendRaw(fn.url, { method, path, headers: { ...ADMIN, 'content-type': 'application/json' }, ...(body ? { body } : {}) });
    expect(response.status).toBe(400);
    expect(response.body?.issues).toEqual([{ path: 'deviceId', message: 'must not contain control characters (NUL included) or unpaired UTF-16 surrogates' }]);
    expect(store.counter.asked).toBe(0);
  });

  it('refuses a 5,000-character id with 400 naming the limit, in the path and in a body, and logs it truncated', async () => {
    logs.lines.length = 0;
    const inPath = await sendRaw(fn.url, { method: 'GET', path: `/v1/devices/${LONG_ID}`, headers: ADMIN });
    expect(inPath.status).toBe(400);
    expect(inPath.body?.issues).toEqual([{ path: 'deviceId', message: 'must be at most 255 characters' }]);
    const inBody = await sendRaw(fn.url, {
      path: '/v1/devices',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: LONG_ID, credentials: [] }),
    });
    expect(inBody.status).toBe(400);
    expect(inBody.body?.issues).toEqual([{ path: 'deviceId', message: 'must be at most 255 characters' }]);
    const withNul = await sendRaw(fn.url, {
      path: '/v1/devices',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'dev\u0000ice', credentials: [] }),
    });
    expect(withNul.status).toBe(400);
    expect(store.counter.asked).toBe(0);
    for (const line of logs.lines) expect(line).not.toContain(LONG_ID.slice(0, 1_000));
  });
});
