/**
 * The registry's lifecycle routes on the wire: who may run maintenance (the admin token, or
 * Cloud Scheduler's OIDC token from an allowed service account, on that route only) and the
 * replay route's input checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import registry from '../functions/registry/index.ts';
import { loadConfig } from '../shared/config.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { startForwardProxy } from './support/net.ts';
import { makeKey, serveCerts, signToken } from './support/oidc-keys.ts';

const ADMIN = 'lifecycle-admin-token';
const AUDIENCE = 'https://registry.example.run.app';
const SCHEDULER = 'telemetry-scheduler@p.iam.gserviceaccount.com';
const key = makeKey('k1');
let certs: { url: string; close: () => Promise<void> };
let database: TestDatabase;
let fn: ServedFunction;

/** The registry with the admin token and Cloud Scheduler's OIDC token both accepted. */
const registryEnv = () => ({
  DATABASE_URL: database.url,
  ADMIN_TOKEN: ADMIN,
  MAINTENANCE_AUTH_AUDIENCE: AUDIENCE,
  MAINTENANCE_AUTH_EMAILS: SCHEDULER,
  MAINTENANCE_AUTH_CERTS_URL: certs.url,
});

beforeAll(async () => {
  certs = await serveCerts([key]);
  database = await createTestDatabase();
  fn = await startFunction(registry, { env: registryEnv() });
});
afterAll(async () => {
  await fn.close();
  await database.drop();
  await certs.close();
});

const post = (path: string, authorization: string | undefined, body = '{}', contentType = 'application/json') =>
  fetch(`${fn.url}${path}`, { method: 'POST', headers: { ...(authorization ? { authorization } : {}), 'content-type': contentType }, body });

describe('POST /v1/maintenance:run', () => {
  const cases = [
    { name: 'the admin token', auth: `Bearer ${ADMIN}`, expected: 200 },
    { name: "Cloud Scheduler's OIDC token", auth: `Bearer ${signToken(key, { aud: AUDIENCE, email: SCHEDULER })}`, expected: 200 },
    { name: 'an OIDC token for another audience', auth: `Bearer ${signToken(key, { aud: 'https://elsewhere', email: SCHEDULER })}`, expected: 401 },
    {
      name: 'an OIDC token of another service account',
      auth: `Bearer ${signToken(key, { aud: AUDIENCE, email: 'intruder@p.iam.gserviceaccount.com' })}`,
      expected: 403,
    },
    { name: 'nothing', auth: undefined, expected: 401 },
  ];
  for (const c of cases) {
    it(`with ${c.name}: ${c.expected}`, async () => {
      const response = await post('/v1/maintenance:run', c.auth);
      expect(response.status).toBe(c.expected);
      if (c.expected === 200) expect(await response.json()).toMatchObject({ partitionsDropped: [], deviceConfigsDeleted: 0 });
    });
  }

  it("does not let the scheduler's token reach any other route", async () => {
    const token = `Bearer ${signToken(key, { aud: AUDIENCE, email: SCHEDULER })}`;
    expect((await post('/v1/rejected:replay', token)).status).toBe(401);
    expect((await fetch(`${fn.url}/v1/devices`, { headers: { authorization: token } })).status).toBe(401);
  });

  it("fetches the scheduler token's certificates through the proxy the environment names", async () => {
    const proxy = await startForwardProxy();
    const proxied = await startFunction(registry, { env: { ...registryEnv(), HTTP_PROXY: proxy.url } });
    try {
      const response = await fetch(`${proxied.url}/v1/maintenance:run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${signToken(key, { aud: AUDIENCE, email: SCHEDULER })}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(response.status).toBe(200);
      expect(proxy.proxied).toEqual([certs.url]);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });
});

describe('POST /v1/rejected:replay input', () => {
  const cases = [
    { name: 'an empty body (no filters)', body: '', expected: 200 },
    { name: 'a dry run by device', body: JSON.stringify({ deviceId: 'dev-1', dryRun: true }), expected: 200 },
    { name: 'until before since', body: JSON.stringify({ since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }), expected: 400, paths: ['until'] },
    { name: 'a bad device id and a limit too large', body: JSON.stringify({ deviceId: 'x', limit: 1e9 }), expected: 400, paths: ['deviceId', 'limit'] },
    { name: 'a NUL in the reason', body: JSON.stringify({ reason: 'a\u0000b' }), expected: 400, paths: ['reason'] },
    { name: 'not an object', body: '[1]', expected: 400, paths: [''] },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.expected}`, async () => {
      const response = await post('/v1/rejected:replay', `Bearer ${ADMIN}`, c.body);
      expect(response.status).toBe(c.expected);
      const body = (await response.json()) as { issues?: { path: string }[]; matched?: number };
      if (c.paths) expect(body.issues?.map((i) => i.path).sort()).toEqual(c.paths);
      else expect(body.matched).toBe(0);
    });
  }

  it('refuses a body that is not JSON with 415', async () => {
    expect((await post('/v1/rejected:replay', `Bearer ${ADMIN}`, 'reason=x', 'text/plain')).status).toBe(415);
  });
});

describe('lifecycle configuration', () => {
  it('reads the retention settings, with their defaults', () => {
    expect(loadConfig({}).retention).toEqual({ readingsDays: 30, rejectedDays: 30, bigQueryPartitionExpirationDays: undefined });
    expect(loadConfig({ READINGS_RETENTION_DAYS: '7', REJECTED_RETENTION_DAYS: ' 14 ', BIGQUERY_PARTITION_EXPIRATION_DAYS: '400' }).retention).toEqual({
      readingsDays: 7,
      rejectedDays: 14,
      bigQueryPartitionExpirationDays: 400,
    });
  });

  const bad = [
    { env: { READINGS_RETENTION_DAYS: '0' }, names: 'READINGS_RETENTION_DAYS' },
    { env: { REJECTED_RETENTION_DAYS: '2.5' }, names: 'REJECTED_RETENTION_DAYS' },
    { env: { BIGQUERY_PARTITION_EXPIRATION_DAYS: 'forever' }, names: 'BIGQUERY_PARTITION_EXPIRATION_DAYS' },
    { env: { MAINTENANCE_AUTH_EMAILS: SCHEDULER }, names: 'MAINTENANCE_AUTH_AUDIENCE' },
    { env: { MAINTENANCE_AUTH_AUDIENCE: AUDIENCE }, names: 'MAINTENANCE_AUTH_EMAILS' },
  ];
  for (const c of bad) {
    it(`stops start-up naming ${c.names} for ${JSON.stringify(c.env)}`, () => {
      expect(() => loadConfig(c.env)).toThrow(c.names);
    });
  }
});
