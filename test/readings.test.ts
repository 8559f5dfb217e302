/**
 * The readings function on the wire, against real PostgreSQL: every endpoint, every refusal,
 * paging through every row, series checked against values computed here from the inserted
 * readings, the statement timeout, and the query plans (index range scans on readings).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import readingsFunction from '../functions/readings/index.ts';
import { selectBuckets, selectReadings } from '../functions/readings/store.ts';
import type { Sql } from '../shared/db/database.ts';
import { NOT_DECIMAL_DIGITS } from '../schemas/query-integer.ts';
import { FleetResponse, ReadingsResponse, SeriesResponse, SERIES_INTERVALS, type SeriesInterval } from '../schemas/readings-api.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';
import { sendRaw } from './support/wire.ts';

const READ_TOKEN = 'read-token-for-the-wire-tests';
const ADMIN_TOKEN = 'admin-token-for-the-wire-tests';
const HOUR = 3_600_000;

interface Seeded {
  id: string;
  ts: number;
  metrics: Record<string, number | boolean | string>;
  seq: number;
}

/** A small deterministic generator, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const now = Date.now();
/** 2,000 readings over the last 50 hours; one in eight shares the previous reading's timestamp. */
function makeReadings(): Seeded[] {
  const random = prng(14);
  const out: Seeded[] = [];
  let ts = now - 50 * HOUR;
  for (let i = 0; i < 2000; i++) {
    if (i === 0 || random() >= 0.125) ts += Math.floor(random() * 170_000) + 1;
    const metrics: Seeded['metrics'] = { temp: Math.round((15 + random() * 10) * 100) / 100, on: random() < 0.5, label: `L${i % 5}` };
    if (i % 3 === 0) metrics.hum = Math.round(random() * 1000) / 10;
    out.push({ id: `a${String(i).padStart(6, '0')}`, ts, metrics, seq: i });
  }
  return out;
}
const readings = makeReadings();
const byTime = (a: Seeded, b: Seeded) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

let database: TestDatabase;
let fn: ServedFunction;

async function get(path: string, token: string | null = READ_TOKEN, target: ServedFunction = fn) {
  const response = await fetch(`${target.url}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined, text };
}

const issuePaths = (json: Record<string, unknown> | undefined) => ((json?.issues ?? []) as { path: string }[]).map((i) => i.path).sort();

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  await db.query(`INSERT INTO devices (device_id, registry, site) VALUES
    ('dev-a', 'plant-1', 'lab'), ('dev-b', 'default', 'roof'), ('dev-silent', 'default', 'roof'), ('dev-never', 'default', NULL), ('dev-other', 'default', 'lab')`);
  await db.query(
    `INSERT INTO readings (reading_id, device_id, event_ts, metrics, seq)
     SELECT r.id, 'dev-a', to_timestamp(r.ts / 1000.0), r.metrics, r.seq FROM jsonb_to_recordset($1::jsonb) AS r(id text, ts bigint, metrics jsonb, seq bigint)`,
    [JSON.stringify(readings)],
  );
  // Another device's rows in the same time range must never leak into dev-a's answers.
  await db.query(`INSERT INTO readings (reading_id, device_id, event_ts, metrics)
    SELECT 'o' || g, 'dev-other', now() - g * interval '1 minute', jsonb_build_object('temp', 1000 + g) FROM generate_series(1, 500) g`);
  await db.query(`INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total) VALUES
    ('dev-a', now(), '{"temp": 21.5, "on": true}', now(), 2000),
    ('dev-b', now() - interval '1 minute', '{"temp": 19}', now() - interval '1 minute', 3),
    ('dev-silent', now() - interval '2 hours', '{"temp": 5}', now() - interval '2 hours', 7)`);
  fn = await startFunction(readingsFunction, { env: { DATABASE_URL: database.url, READ_TOKEN, ADMIN_TOKEN } });
});

afterAll(async () => {
  await fn?.close();
  await database?.drop();
});

describe('authentication', () => {
  it.each([
    { name: 'no Authorization header', token: null },
    { name: 'a wrong token', token: 'not-the-token-at-all' },
    { name: 'the read token with a suffix', token: `${READ_TOKEN}x` },
  ])('refuses $name with 401 and WWW-Authenticate', async ({ token }) => {
    const answer = await get('/v1/fleet', token);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('accepts READ_TOKEN and ADMIN_TOKEN', async () => {
    expect((await get('/v1/fleet', READ_TOKEN)).status).toBe(200);
    expect((await get('/v1/fleet', ADMIN_TOKEN)).status).toBe(200);
  });

  it('answers GET only, whatever body another method carries', async () => {
    for (const body of [undefined, 'x']) {
      const answer = await fetch(`${fn.url}/v1/fleet`, { method: 'POST', headers: { authorization: `Bearer ${READ_TOKEN}` }, ...(body ? { body } : {}) });
      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('GET, HEAD');
    }
  });
});

describe('headers', () => {
  it('marks every API answer, errors included, no-store and nosniff', async () => {
    const answers = [
      await get('/v1/fleet'),
      await get('/v1/fleet', null),
      await get('/v1/fleet?pageSize=0'),
      await get('/v1/devices/nobody-here/readings'),
      await get('/v1/nothing-here'),
      await fetch(`${fn.url}/v1/fleet`, { method: 'DELETE', headers: { authorization: `Bearer ${READ_TOKEN}` } }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 401, 400, 404, 404, 405]);
    for (const answer of answers) {
      expect([answer.headers.get('cache-control'), answer.headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff']);
    }
  });
});

describe('query strings', () => {
  it('refuses a parameter given twice, naming it, rather than take the last', async () => {
    const answer = await get('/v1/devices/dev-a/readings?metrics=temp&metrics=hum&pageSize=2000&pageSize=1');
    expect(answer.status).toBe(400);
    expect(issuePaths(answer.json)).toEqual(['metrics', 'pageSize']);
  });

  it.each(['1e2', '0x2', '%205', '5%20', '5.0', '%2B5', '-5', ''])(
    'refuses pageSize=%s with 400 naming it: an integer is plain decimal digits',
    async (size) => {
      for (const path of ['/v1/devices/dev-a/readings', '/v1/fleet']) {
        const answer = await get(`${path}?pageSize=${size}`);
        expect(answer.status, path).toBe(400);
        expect(answer.json?.issues, path).toEqual([{ path: 'pageSize', message: NOT_DECIMAL_DIGITS }]);
      }
    },
  );

  it('reads pageSize=05 as 5, and answers one out of range as before', async () => {
    expect(ReadingsResponse.parse((await get('/v1/devices/dev-a/readings?pageSize=05')).json).readings).toHaveLength(5);
    expect(FleetResponse.parse((await get('/v1/fleet?pageSize=02')).json).devices).toHaveLength(2);
    expect((await get('/v1/fleet?pageSize=0')).json?.issues).toEqual([{ path: 'pageSize', message: 'Too small: expected number to be >=1' }]);
    expect((await get(`/v1/devices/dev-a/readings?pageSize=${'9'.repeat(400)}`)).json?.issues).toEqual([
      { path: 'pageSize', message: 'Too big: expected number to be <=1000' },
    ]);
  });

  it('names at most 50 issues, and says how many more there were', async () => {
    const query = Array.from({ length: 1500 }, (_, i) => `p${i}=1`).join('&');
    const answer = await get(`/v1/fleet?${query}`);
    expect(answer.status).toBe(400);
    const issues = (answer.json?.issues ?? []) as { path: string; message: string }[];
    expect(issues).toHaveLength(51);
    expect(issues.at(-1)).toEqual({ path: '', message: 'and 1450 more issues' });
  });
});

describe('GET /v1/devices/{id}/readings', () => {
  const window = `from=${new Date(now - 51 * HOUR).toISOString()}&to=${new Date(now + 1).toISOString()}`;

  async function pageThrough(query: string): Promise<{ items: ReadingsResponse['readings']; pages: number }> {
    const items: ReadingsResponse['readings'] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const answer = await get(`/v1/devices/dev-a/readings?${query}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
      expect(answer.status, answer.text).toBe(200);
      const page = ReadingsResponse.parse(answer.json);
      items.push(...page.readings);
      token = page.nextPageToken;
      pages++;
    } while (token && pages < 100);
    return { items, pages };
  }

  it('pages through every reading of the window in time order, no duplicates, no gaps', async () => {
    const { items, pages } = await pageThrough(`${window}&pageSize=97`);
    const expected = [...readings].sort(byTime);
    expect(pages).toBe(Math.ceil(expected.length / 97));
    expect(items.map((r) => r.seq)).toEqual(expected.map((r) => r.seq));
    expect(items.map((r) => Date.parse(r.ts))).toEqual(expected.map((r) => r.ts));
    expect(items[0]?.metrics).toEqual(expected[0]?.metrics);
  });

  it('order=desc pages newest first through the same rows', async () => {
    const { items } = await pageThrough(`${window}&pageSize=250&order=desc`);
    expect(items.map((r) => r.seq)).toEqual(
      [...readings]
        .sort(byTime)
        .reverse()
        .map((r) => r.seq),
    );
  });

  it('metrics=a,b returns only readings holding one of them, with only those metrics', async () => {
    const { items } = await pageThrough(`${window}&pageSize=1000&metrics=hum,nosuch`);
    const expected = readings.filter((r) => 'hum' in r.metrics).sort(byTime);
    expect(items.map((r) => r.seq)).toEqual(expected.map((r) => r.seq));
    expect(items.every((r) => Object.keys(r.metrics).join() === 'hum')).toBe(true);
    expect(items.map((r) => r.metrics.hum)).toEqual(expected.map((r) => r.metrics.hum));
  });

  it('pages through a window given by its defaults, which the first page fixes', async () => {
    const asked = Date.now();
    const { items, pages } = await pageThrough('pageSize=150&order=desc');
    expect(pages).toBeGreaterThan(1);
    const expected = readings
      .filter((r) => r.ts >= asked - 24 * HOUR)
      .sort(byTime)
      .reverse();
    expect(items.map((r) => r.seq)).toEqual(expected.map((r) => r.seq));
  });

  it('keeps to [from, to) and defaults to the last 24 hours', async () => {
    const from = now - 10 * HOUR;
    const to = now - 5 * HOUR;
    const { items } = await pageThrough(`from=${from}&to=${to}&pageSize=1000`);
    expect(items.map((r) => r.seq)).toEqual(
      readings
        .filter((r) => r.ts >= from && r.ts < to)
        .sort(byTime)
        .map((r) => r.seq),
    );
    const recent = ReadingsResponse.parse((await get('/v1/devices/dev-a/readings?pageSize=1000&order=desc')).json);
    const expected = readings.filter((r) => r.ts >= Date.now() - 24 * HOUR - 60_000).length;
    expect(Math.abs(recent.readings.length - expected)).toBeLessThanOrEqual(2);
    expect(recent.readings.every((r) => Date.parse(r.ts) >= now - 25 * HOUR)).toBe(true);
  });

  it('answers an empty page for a registered device without readings', async () => {
    expect((await get('/v1/devices/dev-never/readings')).json).toEqual({ readings: [] });
  });

  describe('refuses', () => {
    it.each([
      { name: 'from after to', query: `from=${now}&to=${now - 1000}`, paths: ['from'] },
      { name: 'from equal to to', query: `from=${now}&to=${now}`, paths: ['from'] },
      { name: 'a window over 31 days', query: `from=${now - 32 * 24 * HOUR}&to=${now}`, paths: ['to'] },
      { name: 'a time that is not a time', query: 'from=yesterday&to=2026-13-01T00:00:00Z', paths: ['from', 'to'] },
      { name: 'a page over 1000', query: 'pageSize=1001', paths: ['pageSize'] },
      { name: 'a page of 0', query: 'pageSize=0', paths: ['pageSize'] },
      { name: 'an unknown order', query: 'order=sideways', paths: ['order'] },
      { name: 'a bad metric name', query: 'metrics=ok,9bad', paths: ['metrics.1'] },
      { name: 'an unknown parameter', query: 'limit=5', paths: ['limit'] },
      { name: 'several problems at once, each named', query: 'pageSize=abc&order=up&colour=red', paths: ['colour', 'order', 'pageSize'] },
    ])('$name with 400 naming every issue', async ({ query, paths }) => {
      const answer = await get(`/v1/devices/dev-a/readings?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.json?.error).toBe('invalid_argument');
      expect(issuePaths(answer.json)).toEqual(paths);
    });

    it('an unknown device with 404, an impossible id or a NUL with 400', async () => {
      expect((await get('/v1/devices/nobody-here/readings')).status).toBe(404);
      expect((await get('/v1/devices/x/readings')).status).toBe(400);
      expect((await get('/v1/devices/dev%00a/readings')).status).toBe(400);
      expect((await get('/v1/devices/dev-a/nothing')).status).toBe(404);
    });

    it('page tokens that were tampered with, forged, or belong to another query, with 400', async () => {
      const first = ReadingsResponse.parse((await get(`/v1/devices/dev-a/readings?${window}&pageSize=10`)).json);
      const token = first.nextPageToken as string;
      expect(token).toBeTruthy();
      const [payload, signature] = token.split('.') as [string, string];
      const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { c: { id: string } };
      decoded.c.id = 'a000000';
      const forgedPayload = Buffer.from(JSON.stringify(decoded)).toString('base64url');
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      const variants = {
        'signature altered': `${payload}.${flip(signature, 5)}`,
        'payload altered, old signature': `${forgedPayload}.${signature}`,
        'payload altered by one character': `${flip(payload, 12)}.${signature}`,
        'no signature': payload,
        garbage: 'not-a-token',
      };
      for (const [name, bad] of Object.entries(variants)) {
        const answer = await get(`/v1/devices/dev-a/readings?${window}&pageSize=10&pageToken=${encodeURIComponent(bad)}`);
        expect(answer.status, name).toBe(400);
        expect(issuePaths(answer.json), name).toEqual(['pageToken']);
      }
      for (const other of [`${window}&pageSize=10&order=desc`, `${window}&pageSize=10&metrics=temp`, `from=${now - 10 * HOUR}&to=${now}&pageSize=10`]) {
        const answer = await get(`/v1/devices/dev-a/readings?${other}&pageToken=${encodeURIComponent(token)}`);
        expect(answer.status, other).toBe(400);
        expect(answer.text).toContain('another query');
      }
      expect((await get(`/v1/devices/dev-other/readings?${window}&pageSize=10&pageToken=${encodeURIComponent(token)}`)).status).toBe(400);
      // The genuine token still works, and another page size may follow it.
      expect((await get(`/v1/devices/dev-a/readings?${window}&pageSize=50&pageToken=${encodeURIComponent(token)}`)).status).toBe(200);
    });
  });
});

/** The buckets computed here, independently of SQL, from the inserted readings. */
function expectedBuckets(metric: string, from: number, to: number, widthMs: number) {
  const buckets = new Map<number, { sum: number; min: number; max: number; count: number; last: Seeded; lastValue: number }>();
  for (const r of readings) {
    if (r.ts < from || r.ts >= to) continue;
    const raw = r.metrics[metric];
    const value = typeof raw === 'number' ? raw : typeof raw === 'boolean' ? (raw ? 1 : 0) : undefined;
    if (value === undefined) continue;
    const start = Math.floor(r.ts / widthMs) * widthMs;
    const b = buckets.get(start);
    if (!b) buckets.set(start, { sum: value, min: value, max: value, count: 1, last: r, lastValue: value });
    else {
      b.sum += value;
      b.min = Math.min(b.min, value);
      b.max = Math.max(b.max, value);
      b.count++;
      if (byTime(r, b.last) > 0) {
        b.last = r;
        b.lastValue = value;
      }
    }
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, b]) => ({ ts: start, avg: b.sum / b.count, min: b.min, max: b.max, count: b.count, last: b.lastValue }));
}

describe('GET /v1/devices/{id}/series', () => {
  const cases: { interval: SeriesInterval; metric: string; spanHours: number }[] = [
    { interval: '1m', metric: 'temp', spanHours: 6 },
    { interval: '5m', metric: 'hum', spanHours: 40 },
    { interval: '1h', metric: 'temp', spanHours: 40 },
    { interval: '1d', metric: 'on', spanHours: 40 },
  ];
  for (const { interval, metric, spanHours } of cases) {
    it(`${metric} by ${interval}: aligned UTC buckets, empty ones omitted, every aggregate as computed from the readings`, async () => {
      const width = SERIES_INTERVALS[interval];
      // The seeded readings span roughly the 50 h to 9 h before now.
      const to = now - 11 * HOUR - 7 * 60_000 - 1234;
      const from = to - spanHours * HOUR;
      const answer = await get(
        `/v1/devices/dev-a/series?metric=${metric}&interval=${interval}&agg=avg,min,max,count,last&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
      );
      expect(answer.status, answer.text).toBe(200);
      const series = SeriesResponse.parse(answer.json);
      const alignedFrom = Math.floor(from / width) * width;
      const alignedTo = Math.ceil(to / width) * width;
      expect([series.from, series.to]).toEqual([new Date(alignedFrom).toISOString(), new Date(alignedTo).toISOString()]);
      const expected = expectedBuckets(metric, alignedFrom, alignedTo, width);
      expect(expected.length).toBeGreaterThan(1);
      expect(series.buckets.map((b) => Date.parse(b.ts))).toEqual(expected.map((b) => b.ts));
      expect(series.buckets.every((b) => Date.parse(b.ts) % width === 0)).toBe(true);
      series.buckets.forEach((b, i) => {
        const e = expected[i]!;
        expect(b.count).toBe(e.count);
        expect(b.min).toBe(e.min);
        expect(b.max).toBe(e.max);
        expect(b.last).toBe(e.last);
        expect(b.avg).toBeCloseTo(e.avg, 9);
      });
    });
  }

  it('returns only the aggregates asked for (avg by default)', async () => {
    const only = SeriesResponse.parse((await get('/v1/devices/dev-a/series?metric=temp&interval=1h&agg=max,count')).json);
    expect(only.buckets.length).toBeGreaterThan(0);
    expect(only.buckets.every((b) => Object.keys(b).sort().join() === 'count,max,ts')).toBe(true);
    const defaults = SeriesResponse.parse((await get('/v1/devices/dev-a/series?metric=temp&interval=1h')).json);
    expect(defaults.buckets.every((b) => Object.keys(b).sort().join() === 'avg,ts')).toBe(true);
  });

  it.each(Object.keys(SERIES_INTERVALS))('defaults to a window within the bucket limit for interval=%s', async (interval) => {
    const answer = await get(`/v1/devices/dev-a/series?metric=temp&interval=${interval}`);
    expect(answer.status, answer.text).toBe(200);
  });

  it('has no buckets for a text metric or one the device never sent', async () => {
    expect(SeriesResponse.parse((await get('/v1/devices/dev-a/series?metric=label&interval=1h')).json).buckets).toEqual([]);
    expect(SeriesResponse.parse((await get('/v1/devices/dev-a/series?metric=nosuch&interval=1h')).json).buckets).toEqual([]);
  });

  it.each([
    { name: 'an interval not offered', query: 'metric=temp&interval=2h', paths: ['interval'] },
    { name: 'an unknown aggregate', query: 'metric=temp&agg=avg,median', paths: ['agg.1'] },
    { name: 'no metric', query: 'interval=1h', paths: ['metric'] },
    { name: 'more than 1000 buckets', query: `metric=temp&interval=1m&from=${now - 17 * HOUR}&to=${now}`, paths: ['to'] },
    { name: 'from after to', query: `metric=temp&interval=1h&from=${now}&to=${now - HOUR}`, paths: ['from'] },
  ])('refuses $name with 400', async ({ query, paths }) => {
    const answer = await get(`/v1/devices/dev-a/series?${query}`);
    expect(answer.status).toBe(400);
    expect(issuePaths(answer.json)).toEqual(paths);
  });

  it('aggregates values at the ends of the float8 range, whose squares overflow', async () => {
    const hour = Math.floor(now / HOUR) * HOUR - 3 * HOUR;
    await database.db.query(`INSERT INTO readings (reading_id, device_id, event_ts, metrics) VALUES
      ('huge-1', 'dev-b', to_timestamp(${hour / 1000} + 60), '{"v": 1e200}'), ('huge-2', 'dev-b', to_timestamp(${hour / 1000} + 120), '{"v": 0}'),
      ('huge-3', 'dev-b', to_timestamp(${hour / 1000} + 3660), '{"v": 1.7e308}'), ('huge-4', 'dev-b', to_timestamp(${hour / 1000} + 3720), '{"v": 1.7e308}')`);
    const answer = await get(`/v1/devices/dev-b/series?metric=v&interval=1h&agg=avg,min,max,count,last&from=${hour}&to=${hour + 2 * HOUR}`);
    expect(answer.status, answer.text).toBe(200);
    expect(SeriesResponse.parse(answer.json).buckets).toEqual([
      { ts: new Date(hour).toISOString(), avg: 5e199, min: 0, max: 1e200, count: 2, last: 0 },
      { ts: new Date(hour + HOUR).toISOString(), avg: 1.7e308, min: 1.7e308, max: 1.7e308, count: 2, last: 1.7e308 },
    ]);
  });

  it.each([
    { name: 'readings', query: 'readings?from=253402300700000&to=253402300800000', paths: ['from', 'to'] },
    { name: 'readings', query: 'readings?from=0000-12-31T00:00:00Z&to=0001-01-01T00:00:00Z', paths: ['from'] },
    { name: 'series', query: 'series?metric=temp&interval=1d&from=253402214400000&to=253402300799999', paths: ['from', 'to'] },
  ])('refuses $name at instants outside years 1 to 9999 with 400 ($query)', async ({ query, paths }) => {
    const answer = await get(`/v1/devices/dev-a/${query}`);
    expect(answer.status, answer.text).toBe(400);
    expect(issuePaths(answer.json)).toEqual(paths);
  });

  it('answers 404 for an unknown device', async () => {
    expect((await get('/v1/devices/nobody-here/series?metric=temp')).status).toBe(404);
  });
});

describe('GET /v1/fleet', () => {
  it('lists every device with its latest state, pages in id order', async () => {
    const ids: string[] = [];
    let token: string | undefined;
    const all: FleetResponse['devices'] = [];
    do {
      const page = FleetResponse.parse((await get(`/v1/fleet?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`)).json);
      ids.push(...page.devices.map((d) => d.deviceId));
      all.push(...page.devices);
      token = page.nextPageToken;
    } while (token);
    expect(ids).toEqual(['dev-a', 'dev-b', 'dev-never', 'dev-other', 'dev-silent']);
    const a = all.find((d) => d.deviceId === 'dev-a');
    expect(a).toMatchObject({ registry: 'plant-1', site: 'lab', lastMetrics: { temp: 21.5, on: true }, readingsTotal: 2000, blocked: false });
    expect(all.find((d) => d.deviceId === 'dev-never')).toMatchObject({ lastSeenAt: null, lastMetrics: {}, readingsTotal: 0 });
  });

  it('filters by registry, site and silence', async () => {
    const ids = async (query: string) => FleetResponse.parse((await get(`/v1/fleet?${query}`)).json).devices.map((d) => d.deviceId);
    expect(await ids('registry=plant-1')).toEqual(['dev-a']);
    expect(await ids('site=roof')).toEqual(['dev-b', 'dev-silent']);
    expect(await ids('silentFor=15m')).toEqual(['dev-never', 'dev-other', 'dev-silent']);
    expect(await ids('silentFor=30s')).toEqual(['dev-b', 'dev-never', 'dev-other', 'dev-silent']);
    expect(await ids('silentFor=3h&site=roof')).toEqual([]);
  });

  it('refuses bad filters and foreign or altered page tokens with 400', async () => {
    for (const [query, paths] of [
      ['silentFor=15', ['silentFor']],
      ['silentFor=-5m', ['silentFor']],
      ['registry=a&pageSize=5000', ['pageSize', 'registry']],
    ] as const) {
      const answer = await get(`/v1/fleet?${query}`);
      expect(answer.status, query).toBe(400);
      expect(issuePaths(answer.json)).toEqual(paths);
    }
    const token = FleetResponse.parse((await get('/v1/fleet?pageSize=1&site=roof')).json).nextPageToken as string;
    expect((await get(`/v1/fleet?pageSize=1&site=lab&pageToken=${encodeURIComponent(token)}`)).status).toBe(400);
    expect((await get(`/v1/fleet?pageSize=1&site=roof&pageToken=${encodeURIComponent(token.slice(0, -2) + 'xx')}`)).status).toBe(400);
    expect(
      FleetResponse.parse((await get(`/v1/fleet?pageSize=1&site=roof&pageToken=${encodeURIComponent(token)}`)).json).devices.map((d) => d.deviceId),
    ).toEqual(['dev-silent']);
  });
});

describe('the dashboard', () => {
  it('serves the page, its script and its stylesheet from memory with types, caching and a CSP', async () => {
    const page = await get('/', null);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    const script = /src="(\/assets\/app\.[0-9a-f]{12}\.js)"/.exec(page.text)?.[1];
    const style = /href="(\/assets\/app\.[0-9a-f]{12}\.css)"/.exec(page.text)?.[1];
    expect(script && style).toBeTruthy();
    const js = await get(script!, null);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.text).toContain('uplot');
    const css = await get(style!, null);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.text).toContain('.uplot');
    const revalidated = await fetch(`${fn.url}/`, { headers: { 'if-none-match': page.headers.get('etag')! } });
    expect(revalidated.status).toBe(304);
    expect((await get('/assets/app.000000000000.js', null)).status).toBe(404);
  });
});

describe('the dashboard: one ETag per content coding', () => {
  /** A GET of `path` asking for one coding, with If-None-Match when given. */
  const ask = (path: string, coding: 'gzip' | 'identity', ifNoneMatch?: string) =>
    sendRaw(fn.url, { method: 'GET', path, headers: { 'accept-encoding': coding, ...(ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch }) } });

  it.each(['page', 'script', 'stylesheet'] as const)('gives the %s a gzip representation with its own ETag, revalidated only by it', async (which) => {
    const page = (await get('/', null)).text;
    const path = { page: '/', script: /src="(\/assets\/[^"]+)"/.exec(page)?.[1], stylesheet: /href="(\/assets\/[^"]+)"/.exec(page)?.[1] }[which] as string;
    expect(path).toBeTruthy();
    const identity = await ask(path, 'identity');
    const gzip = await ask(path, 'gzip');
    expect([identity.status, gzip.status]).toEqual([200, 200]);
    expect([identity.headers['content-encoding'], gzip.headers['content-encoding']]).toEqual([undefined, 'gzip']);
    expect([identity.headers.vary, gzip.headers.vary]).toEqual(['Accept-Encoding', 'Accept-Encoding']);
    const [identityTag, gzipTag] = [identity.headers.etag as string, gzip.headers.etag as string];
    expect(identityTag).toMatch(/^"[^"]+"$/);
    expect(gzipTag).toMatch(/^"[^"]+"$/);
    expect(gzipTag).not.toBe(identityTag);

    // Each representation's own tag revalidates it, the 304 naming that tag again.
    for (const [coding, tag] of [
      ['identity', identityTag],
      ['gzip', gzipTag],
    ] as const) {
      const revalidated = await ask(path, coding, tag);
      expect(revalidated.status, coding).toBe(304);
      expect(revalidated.headers.etag, coding).toBe(tag);
      expect([revalidated.headers['content-type'], revalidated.headers['content-encoding']], coding).toEqual([undefined, undefined]);
      // Not `Content-Length: 0`: a 304 may carry only the length the 200 would have had.
      expect(revalidated.headers['content-length'], coding).toBeUndefined();
    }
    // The other coding's tag does not: the answer is the whole representation asked for, with its own tag.
    for (const [coding, tag, own] of [
      ['identity', gzipTag, identityTag],
      ['gzip', identityTag, gzipTag],
    ] as const) {
      const answer = await ask(path, coding, tag);
      expect(answer.status, coding).toBe(200);
      expect(answer.headers.etag, coding).toBe(own);
      expect(answer.headers['content-encoding'], coding).toBe(coding === 'gzip' ? 'gzip' : undefined);
    }
    // A list naming both (a cache holding both), a weak tag, and * revalidate the one asked for.
    expect(await ask(path, 'gzip', `${identityTag}, ${gzipTag}`)).toMatchObject({ status: 304, headers: { etag: gzipTag } });
    expect(await ask(path, 'identity', `${gzipTag}, ${identityTag}`)).toMatchObject({ status: 304, headers: { etag: identityTag } });
    expect(await ask(path, 'gzip', `W/${gzipTag}`)).toMatchObject({ status: 304, headers: { etag: gzipTag } });
    expect(await ask(path, 'identity', '*')).toMatchObject({ status: 304, headers: { etag: identityTag } });
    expect((await ask(path, 'identity', '"something-else"')).status).toBe(200);
  });

  it('sends the identity bytes to a client that refuses gzip with q=0', async () => {
    const refused = await sendRaw(fn.url, { method: 'GET', path: '/', headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    expect(refused.status).toBe(200);
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.text).toContain('<!doctype html>');
    const weighted = await sendRaw(fn.url, { method: 'GET', path: '/', headers: { 'accept-encoding': 'br;q=1.0, gzip;q=0.5' } });
    expect(weighted.headers['content-encoding']).toBe('gzip');
  });
});

describe('limits', () => {
  it('cancels a query that outlives the statement timeout: 503, then answers again', async () => {
    const slow = await startFunction(readingsFunction, { env: { DATABASE_URL: database.url, READ_TOKEN, READINGS_STATEMENT_TIMEOUT_MS: '300' } });
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE readings IN ACCESS EXCLUSIVE MODE');
      const blocked = await get('/v1/devices/dev-a/readings', READ_TOKEN, slow);
      expect(blocked.status).toBe(503);
      expect(blocked.headers.get('retry-after')).toBe('1');
      await locker.query('ROLLBACK');
      expect((await get('/v1/devices/dev-a/readings', READ_TOKEN, slow)).status).toBe(200);
    } finally {
      await locker.end();
      await slow.close();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)];

/** An Sql that EXPLAINs each statement instead of running it, collecting the plans. */
function explaining(sql: Sql, plans: PlanNode[]): Sql {
  return {
    async query<R>(text: string, params?: unknown[]) {
      const { rows } = await sql.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${text}`, params);
      plans.push(rows[0]!['QUERY PLAN'][0].Plan);
      return { rows: [] as R[], rowCount: 0 };
    },
    exec: (text) => sql.exec(text),
  };
}

describe('query plans', () => {
  it('reads one device and window through an index range scan on readings, never a sequential scan', async () => {
    // Enough other devices' rows (120,000) that a sequential scan would be the planner's
    // choice if the index did not serve the predicate.
    await database.db.query(`INSERT INTO readings (reading_id, device_id, event_ts, metrics)
      SELECT 'bg' || g, 'bg-' || (g % 200), now() - (g % 100000) * interval '3 seconds', jsonb_build_object('temp', g % 30) FROM generate_series(1, 120000) g`);
    await database.db.query('ANALYZE readings');
    const plans: PlanNode[] = [];
    const sql = explaining(database.db, plans);
    const window = { deviceId: 'dev-a', fromMs: now - 6 * HOUR, toMs: now };
    await selectReadings(sql, { ...window, order: 'asc', limit: 101 });
    await selectReadings(sql, { ...window, order: 'desc', limit: 101, metrics: ['hum'], after: { ts: new Date(now - HOUR).toISOString(), id: 'a001000' } });
    await selectBuckets(sql, { ...window, metric: 'temp', widthMs: 60_000 });
    expect(plans).toHaveLength(3);
    for (const plan of plans) {
      const nodes = flatten(plan);
      expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
      const indexScans = nodes.filter((n) => /Index/.test(n['Node Type']) && /^readings/.test(n['Index Name'] ?? ''));
      expect(indexScans.length, JSON.stringify(plan)).toBeGreaterThan(0);
    }
  });
});
