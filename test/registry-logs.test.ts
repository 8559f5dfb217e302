/**
 * registry: what it logs. The generated admin token is announced once; no secret (admin
 * token, device token, Authorization header) reaches any log line. Also runs the registry on
 * PGlite, the embedded default of `npm start`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import registry from '../functions/registry/index.ts';
import { openPglite } from '../shared/db/pglite.ts';
import { migrate } from '../shared/db/migrate.ts';
import type { DeviceListResponse, DeviceResponse } from '../schemas/device.ts';
import { captureLogs, createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { createRegistryClient } from './support/registry-client.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('registry logs', () => {
  let fn: ServedFunction | undefined;
  afterAll(async () => {
    await fn?.close();
  });

  it('announces a generated admin token once, accepts it, and never logs a secret', async () => {
    const logs = captureLogs('debug');
    fn = await startFunction(registry, { env: { DATABASE_URL: t.url, ADMIN_TOKEN: undefined }, logger: logs.logger });
    const warnings = logs.records().filter((r) => r.severity === 'WARNING');
    expect(warnings).toHaveLength(1);
    const adminToken = /generated one for this process: (\S+)$/.exec(String(warnings[0]?.message))?.[1] ?? '';
    expect(adminToken.length).toBeGreaterThanOrEqual(32);

    const call = createRegistryClient(fn.url, adminToken);
    expect((await call('GET', '/v1/devices', undefined, { token: 'guess' })).status).toBe(401);
    const created = await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'logged-1', credentials: [{ type: 'token' }] });
    expect(created.status).toBe(201);
    const deviceToken = created.body.credentials[0]?.token ?? '';
    expect(deviceToken).not.toBe('');
    await call('PATCH', '/v1/devices/logged-1', { credentials: [{ type: 'token' }] });
    await call('POST', '/v1/devices', undefined, { rawBody: `{"deviceId": "${deviceToken}"` });

    const requestLines = logs.records().filter((r) => r.message === 'request');
    expect(requestLines.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/v1/devices', 401],
      ['POST', '/v1/devices', 201],
      ['PATCH', '/v1/devices/logged-1', 200],
      ['POST', '/v1/devices', 400],
    ]);
    const afterStartup = logs.lines.slice(1).join('\n');
    expect(afterStartup).not.toContain(adminToken);
    expect(afterStartup).not.toContain(deviceToken);
    expect(afterStartup.toLowerCase()).not.toContain('authorization');
    expect(afterStartup).not.toContain('sha256:');
  });
});

describe('registry on PGlite', () => {
  it('creates, batch-creates, lists and patches devices', async () => {
    const db = await openPglite();
    await migrate(db);
    const fn = await startFunction(registry, { env: { ADMIN_TOKEN: 'x' }, providers: { database: () => Promise.resolve(db) } });
    try {
      const call = createRegistryClient(fn.url, 'x');
      const single = await call<DeviceResponse>('POST', '/v1/devices', { deviceId: 'lite-000', tags: { k: 'v' }, credentials: [{ type: 'token' }] });
      expect(single.status).toBe(201);
      expect(single.body.numId).toBeTypeOf('number');
      const batch = await call('POST', '/v1/devices:batchCreate', {
        devices: Array.from({ length: 20 }, (_, i) => ({ deviceId: `lite-${String(i + 1).padStart(3, '0')}`, credentials: [{ type: 'token' }] })),
      });
      expect(batch.status).toBe(201);
      const page = await call<DeviceListResponse>('GET', '/v1/devices?pageSize=15');
      expect(page.body.devices.map((d) => d.deviceId)).toEqual(Array.from({ length: 15 }, (_, i) => `lite-${String(i).padStart(3, '0')}`));
      expect(page.body.nextPageToken).toBeTruthy();
      const patched = await call<DeviceResponse>('PATCH', '/v1/devices/lite-000', { site: 'here', credentials: [] });
      expect(patched.body).toMatchObject({ site: 'here', tags: { k: 'v' }, credentials: [] });
      const state = await call('GET', '/v1/devices/lite-000/state');
      expect(state.body).toMatchObject({ readingsTotal: 0, lastMetrics: null });
    } finally {
      await fn.close();
    }
  });
});
