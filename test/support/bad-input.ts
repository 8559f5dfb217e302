/**
 * Generators of bad input for the property tests: readings with wrong types and extreme
 * values, unicode edge cases, far timestamps, SenML with relative times and unknown `_`
 * fields, and byte-level mutations of a body (truncation, duplicate keys, deep nesting,
 * random bytes, gzip garbage).
 * @see https://www.rfc-editor.org/rfc/rfc8428 (SenML) and https://fast-check.dev/
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';

/** Strings that break naive code: control characters, lone surrogates, bidi, SQL, paths. */
export const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '\uDFFF',
  '\uFFFF',
  '\uFEFF',
  'a\u202Eb',
  '\u200B',
  'é',
  'e\u0301',
  '𝔘𝔫𝔦',
  '🔥',
  'x'.repeat(129),
  'y'.repeat(5000),
  "'; DROP TABLE readings; --",
  "' OR '1'='1",
  '$1',
  '%00',
  '%2F..%2F',
  '..',
  '\\',
  '"',
  'NaN',
  'Infinity',
  '-0',
  'null',
  'true',
  '__proto__',
  'constructor',
];

/** Numbers at the edges, plus the strings naive parsers turn into numbers. */
export const EDGE_NUMBERS: unknown[] = [1e308, -1e308, 5e-324, -0, 0, 2 ** 53 + 1, -(2 ** 63), 2 ** 64, 'NaN', 'Infinity', '-Infinity', '1e309', '0x10', ''];

/** Event times far away, malformed, or at the edge of what the schema allows. */
export const EDGE_TIMES: unknown[] = [
  '0001-01-01T00:00:00Z',
  '1969-12-31T23:59:59Z',
  '1999-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59Z',
  '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-03-01T12:00:00',
  '2026-03-01',
  'yesterday',
  '',
  -1,
  0,
  8.64e15,
  8.64e15 + 1,
  -8.64e15,
  1e20,
  1.5,
  'NaN',
  null,
  true,
  {},
  [],
];

const edgeString = fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
const metricName = fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:/-]{0,20}$/), edgeString);
const edgeValue = fc.oneof(fc.constantFrom(...EDGE_NUMBERS), fc.double(), fc.boolean(), edgeString, fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
const recentMs = () => Date.now() - 3_600_000;
const goodTime = fc.integer({ min: 0, max: 3_000_000 }).map((d) => new Date(recentMs() - d).toISOString());
const edgeTime = fc.oneof(fc.constantFrom(...EDGE_TIMES), goodTime, fc.integer(), fc.double());

/** A reading where any field may be missing, mistyped or extreme, with unknown fields now and then. */
export const readingLike = fc.record(
  {
    ts: edgeTime,
    metrics: fc.oneof(fc.dictionary(metricName, edgeValue, { maxKeys: 6 }), fc.jsonValue({ maxDepth: 2 })),
    seq: fc.oneof(fc.integer(), fc.constantFrom(...EDGE_NUMBERS)),
    location: fc.oneof(fc.record({ lat: fc.oneof(fc.double(), fc.constantFrom(...EDGE_NUMBERS)), lon: fc.double() }), edgeValue),
    tags: fc.oneof(fc.dictionary(edgeString, edgeString, { maxKeys: 4 }), edgeValue),
    deviceId: edgeString,
    extra: edgeValue,
  },
  { requiredKeys: [] },
);

/** A SenML record with base fields, relative times, unknown `_` fields and mistyped values. */
export const senmlRecordLike = fc.record(
  {
    bn: edgeString,
    bt: edgeTime,
    bu: edgeString,
    bver: fc.oneof(fc.integer(), edgeValue),
    n: metricName,
    u: edgeString,
    t: fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), edgeTime),
    v: fc.oneof(fc.double(), fc.constantFrom(...EDGE_NUMBERS)),
    vs: edgeString,
    vb: fc.oneof(fc.boolean(), edgeValue),
    vd: edgeString,
    s: edgeValue,
    ut: edgeValue,
    _x: edgeValue,
    _comment: edgeString,
    unknown_: edgeValue,
  },
  { requiredKeys: [] },
);

/** Readings that are valid but extreme: edge numbers, unicode text values and tags, oldest times. */
export const extremeValidReading = fc.record(
  {
    ts: fc.oneof(goodTime, fc.constantFrom('2000-01-01T00:00:00Z', '2000-01-01T00:00:00.000+14:00'), fc.constant(Date.now() + 3_600_000)),
    metrics: fc.dictionary(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$/),
      fc.oneof(
        fc.constantFrom(1e308, -1e308, 5e-324, -0, 2 ** 53 + 1),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.string({ unit: 'grapheme', maxLength: 50 }).filter((t) => !t.includes('\u0000')),
      ),
      { minKeys: 1, maxKeys: 5 },
    ),
    seq: fc.nat(),
    tags: fc.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 30 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['metrics'] },
);

/** Any JSON-ish telemetry payload: one reading, an array, a batch, a SenML pack, or anything. */
export const payloadLike: fc.Arbitrary<unknown> = fc.oneof(
  extremeValidReading,
  fc.array(extremeValidReading, { minLength: 1, maxLength: 5 }),
  readingLike,
  fc.array(readingLike, { maxLength: 5 }),
  fc.record({ deviceId: edgeString, readings: fc.oneof(fc.array(readingLike, { maxLength: 4 }), edgeValue) }, { requiredKeys: [] }),
  fc.array(senmlRecordLike, { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 4 }),
);

/** JSON text with duplicate keys: the second `metrics` (or any key) wins in JSON.parse. */
function duplicateKeys(text: string): string {
  return text.startsWith('{') && text.length > 2 ? `{"metrics":{"shadow":1},"ts":"bogus",${text.slice(1)}` : text;
}

/** Bodies as bytes: payloads serialised, then sometimes broken on the way. */
export const bodyBytes: fc.Arbitrary<{ body: Buffer; gzip: boolean; label: string }> = fc.oneof(
  payloadLike.map((p) => ({ body: Buffer.from(JSON.stringify(p) ?? 'undefined'), gzip: false, label: 'json' })),
  fc.tuple(payloadLike, fc.nat()).map(([p, cut]) => {
    const text = JSON.stringify(p) ?? '';
    return { body: Buffer.from(text.slice(0, text.length === 0 ? 0 : cut % text.length)), gzip: false, label: 'truncated' };
  }),
  payloadLike.map((p) => ({ body: Buffer.from(duplicateKeys(JSON.stringify(p) ?? '{}')), gzip: false, label: 'duplicate-keys' })),
  fc.integer({ min: 20, max: 20_000 }).map((n) => ({ body: Buffer.from('['.repeat(n) + ']'.repeat(n)), gzip: false, label: 'deep' })),
  fc.integer({ min: 20, max: 2000 }).map((n) => ({ body: Buffer.from('{"a":'.repeat(n) + '1' + '}'.repeat(n)), gzip: false, label: 'deep-object' })),
  fc
    .constantFrom('1e309', '-1e309', '{"metrics":{"t":1e309}}', '{"metrics":{"t":-0}}', '{"metrics":{"t":NaN}}', '[]', '{}', 'null', '""', '\uFEFF{}')
    .map((text) => ({ body: Buffer.from(text), gzip: false, label: 'edge-literal' })),
  fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ body: Buffer.from(bytes), gzip: false, label: 'random-bytes' })),
  fc
    .uint8Array({ maxLength: 256 })
    .map((bytes) => ({ body: Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from(bytes)]), gzip: true, label: 'gzip-garbage' })),
  fc.tuple(payloadLike, fc.nat()).map(([p, cut]) => {
    const zipped = gzipSync(Buffer.from(JSON.stringify(p) ?? 'null'));
    return { body: zipped.subarray(0, Math.max(1, cut % zipped.length)), gzip: true, label: 'gzip-truncated' };
  }),
  payloadLike.map((p) => ({ body: gzipSync(Buffer.from(JSON.stringify(p) ?? 'null')), gzip: true, label: 'gzip-json' })),
  fc.constant({ body: gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20)), gzip: true, label: 'gzip-bomb' }),
  fc.constant({ body: Buffer.from(JSON.stringify({ metrics: { big: 'z'.repeat(300 * 1024) } })), gzip: false, label: 'huge' }),
);

/** Header values a client can send (visible Latin-1, no CR/LF). */
export const headerValue = fc.oneof(
  fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
  fc.constantFrom(
    '',
    ' ',
    'application/json',
    'application/senml+json',
    'text/plain',
    'application/json; charset=latin1',
    'application/xml',
    'application/cloudevents+json',
    '1.0',
    '0.3',
    'gzip',
    'br',
    'identity, gzip',
    'Bearer',
    'Bearer  ',
    'null',
  ),
);

/** The device that deviceReadingLike's readings sometimes name. */
export const DEVICE_READING_ID = 'fast-dev-1';

/** A valid reading as devices send it, fields in any order, sometimes naming DEVICE_READING_ID. */
export const deviceReadingLike = fc
  .record(
    {
      ts: fc.oneof(
        fc.integer({ min: 0, max: 3_000_000 }).map((d) => new Date(Date.now() - d).toISOString()),
        fc.integer({ min: 1_000_000_000_000, max: Date.now() }),
      ),
      seq: fc.nat(),
      metrics: fc.dictionary(
        fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/),
        fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string({ maxLength: 12 })),
        { minKeys: 1, maxKeys: 8 },
      ),
      units: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
      location: fc.record(
        {
          lat: fc.double({ min: -90, max: 90, noNaN: true }),
          lon: fc.double({ min: -180, max: 180, noNaN: true }),
          alt: fc.double({ noNaN: true, noDefaultInfinity: true }),
        },
        { requiredKeys: ['lat', 'lon'] },
      ),
      // `__proto__` as a key is left to zod on purpose (see the last case below).
      tags: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__'),
        fc.string({ maxLength: 10 }),
        { maxKeys: 3 },
      ),
      deviceId: fc.constant(DEVICE_READING_ID),
    },
    { requiredKeys: ['metrics'] },
  )
  .chain((reading) =>
    fc
      .shuffledSubarray(Object.keys(reading), { minLength: Object.keys(reading).length })
      .map((order) => Object.fromEntries(order.map((k) => [k, reading[k as keyof typeof reading]]))),
  );
