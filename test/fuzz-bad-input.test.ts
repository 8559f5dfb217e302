/**
 * Property-based bad input against all four functions, in-process on real PostgreSQL (and the
 * Pub/Sub emulator behind the bridge): generated and mutated bodies, headers and envelopes.
 * Properties: never a 5xx, never an unhandled rejection or uncaught exception, every 4xx names
 * the problem, every message the bridge accepted is stored by ingest, and afterwards every
 * row in every store validates against the row schemas and the reading rules.
 * @see ../docs/architecture.md
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import deadletter from '../functions/deadletter/index.ts';
import ingest from '../functions/ingest/index.ts';
import registry from '../functions/registry/index.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { bodyBytes, EDGE_STRINGS, headerValue, payloadLike } from './support/bad-input.ts';
import { findInvalidRows } from './support/invalid-rows.ts';
import { expectNamedProblem, guardAgainstCrashes, sendRaw, type RawResponse } from './support/wire.ts';
import { startBridge, type BridgeUnderTest } from './support/bridge.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makeMessage, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { waitFor } from './support/net.ts';

/** Every byte of the UTF-8 form escaped (a lone surrogate becomes U+FFFD, as on the wire). */
const percentEncode = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/**
 * Runs are random and their seed is printed on failure (replay it with FUZZ_SEED=<seed>).
 * Under CI=true the seed is fixed, so a red build means the code changed, not the dice;
 * new cases are hunted with random seeds and more runs (FUZZ_RUNS_FACTOR=20) and kept as
 * regression tests below.
 */
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : process.env.CI === 'true' ? 20_261_122 : undefined;
const RUNS_FACTOR = Number(process.env.FUZZ_RUNS_FACTOR ?? 1);
if (FUZZ_SEED !== undefined) fc.configureGlobal({ seed: FUZZ_SEED });
const runs = (n: number) => Math.max(1, Math.round(n * RUNS_FACTOR));

const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
const DEVICE = 'fuzz-dev-1';
/** The regression tests' own device: the registry's fuzzing may patch, block or delete DEVICE. */
const REGRESSION_DEVICE = 'regress-dev-1';
const guard = guardAgainstCrashes();
let tdb: TestDatabase;
let warehouse: DuckDbSink;
let bridge: BridgeUnderTest;
let ingestFn: ServedFunction;
let deadletterFn: ServedFunction;
let registryFn: ServedFunction;
let deviceToken = '';
let regressionToken = '';
/** Tallies for docs/reliability.md: inputs tried and statuses seen per function. */
const tally = new Map<string, Map<number, number>>();

function record(fn: string, response: RawResponse, context: string): void {
  const counts = tally.get(fn) ?? new Map<number, number>();
  counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
  tally.set(fn, counts);
  expect(response.status, `${fn} ${context}: ${response.text.slice(0, 300)}`).toBeLessThan(500);
  if (response.status >= 400) expectNamedProblem(response, `${fn} ${context}`);
}

/** This file's DuckDB directory, removed when the file is done. */
const scratch = mkdtempSync(join(tmpdir(), 'fuzz-'));

beforeAll(async () => {
  tdb = await createTestDatabase();
  deviceToken = (await createDevice(tdb.db, { deviceId: DEVICE, token: true, site: 'fuzz' })).token as string;
  regressionToken = (await createDevice(tdb.db, { deviceId: REGRESSION_DEVICE, token: true, site: 'fuzz' })).token as string;
  warehouse = await openDuckDbSink(join(scratch, 'warehouse.duckdb'));
  const env = { DATABASE_URL: tdb.url, ADMIN_TOKEN };
  bridge = await startBridge({ databaseUrl: tdb.url });
  ingestFn = await startFunction(ingest, { env, providers: { warehouse: async () => warehouse } });
  deadletterFn = await startFunction(deadletter, { env });
  registryFn = await startFunction(registry, { env });
});

afterAll(async () => {
  guard.dispose();
  await bridge?.close();
  await ingestFn?.close();
  await deadletterFn?.close();
  await registryFn?.close();
  await warehouse?.close();
  await tdb?.drop();
  const lines = [...tally].map(([fn, counts]) => `${fn}: ${[...counts].map(([s, n]) => `${s}×${n}`).join(' ')}`);
  process.stdout.write(`bad-input tally\n  ${lines.join('\n  ')}\n`);
  rmSync(scratch, { recursive: true, force: true });
});

const deviceHeaders = (contentType: string | undefined, gzip: boolean, authorization = `Bearer ${deviceToken}`) => ({
  authorization,
  ...(contentType === undefined ? {} : { 'content-type': contentType }),
  ...(gzip ? { 'content-encoding': 'gzip' } : {}),
});

describe('bridge under bad input', () => {
  it('never answers 5xx and names every problem (device bodies)', async () => {
    await fc.assert(
      fc.asyncProperty(
        bodyBytes,
        fc.option(fc.constantFrom('application/json', 'application/senml+json', 'text/plain', 'application/xml', 'application/json; charset=utf-16')),
        async (b, contentType) => {
          const response = await sendRaw(bridge.served.url, {
            path: `/v1/devices/${DEVICE}/telemetry`,
            headers: deviceHeaders(contentType ?? undefined, b.gzip),
            body: b.body,
          });
          record('bridge', response, b.label);
        },
      ),
      { numRuns: runs(700) },
    );
  });

  it('never answers 5xx on the IoT Core path, odd paths and odd headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          payloadLike.map((p) => ({ binaryData: Buffer.from(JSON.stringify(p) ?? '').toString('base64') })),
          payloadLike,
        ),
        fc.constantFrom(...EDGE_STRINGS, DEVICE).map(percentEncode),
        fc.constantFrom(
          '/v1/devices/%s/telemetry',
          '/v1/projects/test-project/locations/x/registries/default/devices/%s:publishEvent',
          '/v1/devices/%s',
          '/%s',
          '/v1/devices/%s/telemetry/%2e%2e',
          '/v1/devices/%E0%A4%A/telemetry',
        ),
        headerValue,
        headerValue,
        async (body, id, pattern, contentType, authorization) => {
          const path = pattern.replace('%s', id);
          const response = await sendRaw(bridge.served.url, { path, headers: { 'content-type': contentType, authorization }, body: JSON.stringify(body) });
          record('bridge', response, path);
        },
      ),
      { numRuns: runs(300) },
    );
  });

  it('every message the bridge accepted is stored by ingest, none rejected', async () => {
    // The fuzzing above published whatever the bridge accepted; push each to ingest as Pub/Sub would.
    const accepted = tally.get('bridge')?.get(202) ?? 0;
    expect(accepted).toBeGreaterThan(0);
    await waitFor(() => bridge.received.size >= accepted, { timeoutMs: 20_000, what: `${accepted} published messages` });
    for (const message of bridge.received.values()) {
      const envelope = {
        message: makeMessage({ data: message.data, attributes: message.attributes, messageId: message.id }),
        subscription: 'projects/p/subscriptions/fuzz',
      };
      const response = await sendRaw(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
      expect(response.status).toBe(200);
      expect(response.body, response.text).toMatchObject({ status: 'ok' });
    }
  });
});

/** A push envelope whose every level may be wrong: data, attributes, ids, times, attempts. */
const envelopeLike = fc.record(
  {
    message: fc.oneof(
      fc.record(
        {
          data: fc.oneof(
            bodyBytes.map((b) => b.body.toString('base64')),
            fc.string(),
            fc.constantFrom('!!notbase64', '', 'AAAA'),
          ),
          attributes: fc.oneof(
            fc.dictionary(fc.constantFrom('deviceId', 'receivedAt', 'registry', 'x'), fc.oneof(fc.constant(DEVICE), fc.constantFrom(...EDGE_STRINGS)), {
              maxKeys: 3,
            }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          messageId: fc.oneof(fc.string(), fc.constantFrom(...EDGE_STRINGS), fc.integer()),
          message_id: fc.string(),
          publishTime: fc.oneof(
            fc.constantFrom('0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'soon', ''),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          ),
          orderingKey: fc.string(),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    subscription: fc.oneof(fc.string(), fc.integer()),
    deliveryAttempt: fc.oneof(fc.integer(), fc.constantFrom(...['NaN', 1e308, -0])),
  },
  { requiredKeys: [] },
);

/** Every delivery form, with its required parts sometimes missing. */
const pushRequest = fc.oneof(
  envelopeLike.map((e) => ({ form: 'wrapped', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(e)) })),
  fc.tuple(bodyBytes, fc.subarray(['ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-time']), envelopeLike, headerValue).map(([_b, present, e, v]) => {
    const all: Record<string, string> = {
      'ce-id': 'id-1',
      'ce-source': '//pubsub.googleapis.com/projects/p/topics/t',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-specversion': v === '0.3' ? '0.3' : '1.0',
      'ce-time': 'nope',
    };
    const headers: Record<string, string> = { 'content-type': 'application/json', 'ce-specversion': all['ce-specversion'] as string };
    for (const h of present) headers[h] = all[h] as string;
    return { form: 'ce-binary', headers, body: Buffer.from(JSON.stringify(e)) };
  }),
  fc
    .tuple(
      envelopeLike,
      fc.record({ specversion: headerValue, type: headerValue, source: headerValue, id: headerValue, datacontenttype: headerValue }, { requiredKeys: [] }),
    )
    .map(([e, attrs]) => ({
      form: 'ce-structured',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: Buffer.from(JSON.stringify({ ...attrs, data: e })),
    })),
  fc.tuple(bodyBytes, headerValue, fc.constantFrom(DEVICE, 'nobody-here', "x'; DROP TABLE rejected; --")).map(([b, messageId, deviceId]) => ({
    form: 'unwrapped',
    headers: { 'content-type': 'application/json', 'x-goog-pubsub-message-id': messageId, 'x-goog-pubsub-publish-time': 'later', deviceid: deviceId },
    body: b.body,
  })),
  bodyBytes.map((b) => ({ form: 'raw', headers: { 'content-type': 'application/json', ...(b.gzip ? { 'content-encoding': 'gzip' } : {}) }, body: b.body })),
);

describe.each([
  ['ingest', () => ingestFn],
  ['deadletter', () => deadletterFn],
])('%s under bad input', (name, served) => {
  it('never answers 5xx and names every problem', async () => {
    await fc.assert(
      fc.asyncProperty(pushRequest, async (request) => {
        const response = await sendRaw(served().url, { headers: request.headers, body: request.body });
        record(name, response, request.form);
        if (response.status === 200) expect(['ok', 'rejected']).toContain(response.body?.status);
      }),
      { numRuns: runs(name === 'ingest' ? 700 : 300) },
    );
  });
});

describe('registry under bad input', () => {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const deviceSpec = fc.record(
    {
      deviceId: fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.stringMatching(/^[a-z][a-z0-9-]{2,12}$/)),
      registry: fc.constantFrom(...EDGE_STRINGS, 'reg-1'),
      site: fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.integer()),
      tags: fc.oneof(fc.dictionary(fc.constantFrom(...EDGE_STRINGS), fc.constantFrom(...EDGE_STRINGS), { maxKeys: 3 }), fc.jsonValue({ maxDepth: 1 })),
      blocked: fc.oneof(fc.boolean(), fc.constantFrom('yes', 0)),
      credentials: fc.oneof(
        fc.array(
          fc.oneof(
            fc.constant({ type: 'token' }),
            fc.record(
              {
                type: fc.constantFrom('es256', 'rs256', 'hs256', ''),
                publicKeyPem: fc.constantFrom(...EDGE_STRINGS, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'),
                expiresAt: fc.constantFrom('', 'never', '9999-12-31T00:00:00Z'),
              },
              { requiredKeys: [] },
            ),
          ),
          { maxLength: 5 },
        ),
        fc.jsonValue({ maxDepth: 1 }),
      ),
    },
    { requiredKeys: [] },
  );

  it('never answers 5xx on create, patch, batchCreate, get, list and delete', async () => {
    const id = fc.oneof(fc.constantFrom(...EDGE_STRINGS, DEVICE), fc.string()).map(percentEncode);
    const call = fc.oneof(
      fc
        .tuple(
          fc.oneof(
            deviceSpec.map((s) => JSON.stringify(s)),
            bodyBytes.map((b) => b.body.toString('latin1')),
          ),
        )
        .map(([body]) => ({ method: 'POST', path: '/v1/devices', body })),
      fc.tuple(id, deviceSpec).map(([i, s]) => ({ method: 'PATCH', path: `/v1/devices/${i}`, body: JSON.stringify(s) })),
      fc.array(deviceSpec, { maxLength: 4 }).map((devices) => ({ method: 'POST', path: '/v1/devices:batchCreate', body: JSON.stringify({ devices }) })),
      fc
        .tuple(fc.constantFrom('GET', 'DELETE'), id, fc.constantFrom('', '/state', '/x'))
        .map(([method, i, rest]) => ({ method, path: `/v1/devices/${i}${rest}`, body: '' })),
      fc
        .tuple(fc.oneof(fc.string(), fc.constantFrom(...EDGE_STRINGS)), fc.oneof(fc.string(), fc.constantFrom('0', '-1', '1e308', 'NaN', '1001', '5')))
        .map(([token, size]) => ({
          method: 'GET',
          path: `/v1/devices?pageToken=${percentEncode(token)}&pageSize=${percentEncode(size)}`,
          body: '',
        })),
    );
    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const response = await sendRaw(registryFn.url, { method: c.method, path: c.path, headers: auth, body: c.body });
        record('registry', response, `${c.method} ${c.path}`);
      }),
      { numRuns: runs(600) },
    );
  });
});

describe('after the bad input', () => {
  it('no function crashed and nothing went unhandled', async () => {
    for (const fn of [bridge.served, ingestFn, deadletterFn, registryFn]) expect((await fetch(`${fn.url}/healthz`)).status).toBe(200);
    expect(guard.problems).toEqual([]);
  });

  it('every row in every store validates', async () => {
    const { problems, counted } = await findInvalidRows(tdb.db, warehouse);
    expect(problems).toEqual([]);
    // A delete takes the device's readings with it, and the registry's fuzzing may delete
    // DEVICE; the warehouse keeps its history either way.
    const deviceLeft = (await tdb.db.query('SELECT 1 FROM devices WHERE device_id = $1', [DEVICE])).rowCount > 0;
    expect(deviceLeft ? counted.readings : counted.measurements).toBeGreaterThan(0);
    expect(counted.rejected).toBeGreaterThan(0);
  });
});

describe('regressions the properties found', () => {
  it('registry: a device id with a NUL byte is 400 naming the id, not a 500 from PostgreSQL', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const path of ['/v1/devices/%00', '/v1/devices/a%00bc/state']) {
      const response = await sendRaw(registryFn.url, { method: 'GET', path, headers: auth });
      expect(response.status).toBe(400);
      expect(response.body?.issues).toEqual([
        { path: 'deviceId', message: 'must not contain control characters (NUL included) or unpaired UTF-16 surrogates' },
      ]);
    }
    const forged = Buffer.from(JSON.stringify({ after: 'a\u0000b' })).toString('base64url');
    const page = await sendRaw(registryFn.url, { method: 'GET', path: `/v1/devices?pageToken=${forged}`, headers: auth });
    expect(page.status).toBe(400);
    expect(page.body?.issues).toEqual([{ path: 'pageToken', message: 'is not a page token this registry issued' }]);
  });

  it('ingest: an unparseable publish time is stored with the receive time, not redelivered forever', async () => {
    const response = await sendRaw(ingestFn.url, {
      headers: {
        'content-type': 'application/json',
        'x-goog-pubsub-message-id': 'bad-publish-time',
        'x-goog-pubsub-publish-time': 'later',
        deviceid: REGRESSION_DEVICE,
      },
      body: JSON.stringify({ metrics: { t: -0 } }),
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'ok', readings: 1 });
  });
});

describe('regressions: envelope times', () => {
  it.each(['0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z'])(
    'ingest stamps a reading without ts at its receive time when the publish time is %s',
    async (publishTime) => {
      const id = `far-publish-time-${randomUUID()}`;
      const message = {
        ...makeMessage({ data: { metrics: { t: 1 } }, attributes: { deviceId: REGRESSION_DEVICE, receivedAt: publishTime }, messageId: id }),
        publishTime,
      };
      const before = Date.now();
      const response = await sendRaw(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok', readings: 1 });
      const { rows } = await tdb.db.query<{ event_ts: Date; received_at: Date }>('SELECT event_ts, received_at FROM readings WHERE message_id = $1', [id]);
      expect(rows).toHaveLength(1);
      for (const time of [rows[0]?.event_ts, rows[0]?.received_at]) expect(time?.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(rows[0]?.event_ts.getTime()).toBeLessThanOrEqual(Date.now());
    },
  );
});

describe('regressions: lone surrogates', () => {
  it('ingest records a message whose attributes hold a lone surrogate instead of answering 500', async () => {
    const body = JSON.stringify({ message: { attributes: { deviceId: '\udfff', note: 'a\ud800' }, messageId: 'lone-surrogate' } });
    const response = await sendRaw(ingestFn.url, { headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'rejected' });
    const { rows } = await tdb.db.query<{ attributes: Record<string, string> }>("SELECT attributes FROM rejected WHERE message_id = 'lone-surrogate'");
    expect(rows[0]?.attributes).toEqual({ deviceId: '\ufffd', note: 'a\ufffd' });
  });
});

describe('regressions: the NUL character', () => {
  const nulId = (label: string) => `${label}-${randomUUID()}-a\u0000b`;
  const storedId = (id: string) => id.replace('\u0000', '\ufffd');

  it('ingest records a message without data whose id holds NUL, instead of answering 500', async () => {
    const id = nulId('no-data');
    const response = await sendRaw(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { messageId: id } }) });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'rejected' });
    const { rows } = await tdb.db.query<{ reason: string }>('SELECT reason FROM rejected WHERE message_id = $1', [storedId(id)]);
    expect(rows).toHaveLength(1);
  });

  it('ingest stores a good reading whose message id holds NUL, with U+FFFD in its place', async () => {
    const id = nulId('good');
    const envelope = {
      message: makeMessage({ data: { deviceId: REGRESSION_DEVICE, metrics: { t: 21.5 } }, attributes: { deviceId: REGRESSION_DEVICE }, messageId: id }),
    };
    const response = await sendRaw(ingestFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'ok', readings: 1 });
    const { rows } = await tdb.db.query('SELECT 1 FROM readings WHERE message_id = $1', [storedId(id)]);
    expect(rows).toHaveLength(1);
  });

  it('deadletter keeps a message whose id, subscription and payload hold NUL', async () => {
    const id = nulId('dead');
    const envelope = { message: makeMessage({ data: 'poison\u0000', messageId: id }), subscription: 'projects/p/subscriptions/s\u0000', deliveryAttempt: 5 };
    const response = await sendRaw(deadletterFn.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    expect(response.status).toBe(200);
    const { rows } = await tdb.db.query<{ payload: string; subscription: string }>('SELECT payload, subscription FROM rejected WHERE message_id = $1', [
      storedId(id),
    ]);
    expect(rows).toEqual([{ payload: 'poison\ufffd', subscription: 'projects/p/subscriptions/s\ufffd' }]);
  });

  it('the bridge refuses NUL and unpaired surrogates in text a device sends, naming each place', async () => {
    const body = JSON.stringify({ metrics: { state: 'on\u0000' }, tags: { room: '\ud800' }, units: { state: 'x\u0000' } });
    const response = await sendRaw(bridge.served.url, {
      path: `/v1/devices/${REGRESSION_DEVICE}/telemetry`,
      headers: deviceHeaders('application/json', false, `Bearer ${regressionToken}`),
      body,
    });
    expect(response.status).toBe(400);
    const paths = (response.body?.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(['metrics.state', 'tags.room', 'units.state']);
  });

  it('the registry refuses NUL in a site, a tag, a public key and a kept credential id with 400', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const create = { deviceId: 'nul-device', site: 'a\u0000', tags: { 'k\u0000': 'v' }, credentials: [{ type: 'es256', publicKeyPem: `${pem}\u0000` }] };
    const created = await sendRaw(registryFn.url, { method: 'POST', path: '/v1/devices', headers: auth, body: JSON.stringify(create) });
    expect(created.status).toBe(400);
    expect((created.body?.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['credentials.0.publicKeyPem', 'site', 'tags.k\u0000']);
    const patch = { credentials: [{ credentialId: 'c\u0000' }] };
    const patched = await sendRaw(registryFn.url, { method: 'PATCH', path: `/v1/devices/${REGRESSION_DEVICE}`, headers: auth, body: JSON.stringify(patch) });
    expect(patched.status, patched.text).toBe(400);
  });
});
