/**
 * The reading fast path against zod, the source of truth, on the fuzz corpus
 * (test/support/bad-input.ts) and on readings shaped like the benchmark's: whatever the
 * fast path accepts, zod accepts, with the same value and the same bytes once serialised; and
 * the bridge's toDeviceReadings returns what the schemas alone return.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toDeviceReadings } from '../../functions/bridge/payload.ts';
import { Reading } from '../../schemas/reading.ts';
import { readingFastPath } from '../../schemas/reading-fast-path.ts';
import { parseTelemetryBySchema } from '../../shared/telemetry.ts';
import { bodyBytes, DEVICE_READING_ID, deviceReadingLike, extremeValidReading, payloadLike, readingLike } from '../support/bad-input.ts';

const DEVICE = DEVICE_READING_ID;
/** As the bridge sees a payload: what JSON.parse makes of it. */
const overTheWire = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

function expectAgreement(value: unknown): boolean {
  const fast = readingFastPath(value);
  if (fast === undefined) return false;
  const parsed = Reading.safeParse(value);
  expect(parsed.success, JSON.stringify(value)).toBe(true);
  expect(fast).toStrictEqual(parsed.data);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(parsed.data));
  return true;
}

describe('readingFastPath', () => {
  it('accepts only what zod accepts, returning what zod returns (fuzz corpus)', () => {
    fc.assert(
      fc.property(fc.oneof(payloadLike, readingLike, extremeValidReading), (payload) => {
        const value = overTheWire(payload);
        for (const item of Array.isArray(value) ? value : [value]) expectAgreement(item);
      }),
      { numRuns: 3_000 },
    );
  });

  it('agrees with zod on bodies broken at the byte level', () => {
    fc.assert(
      fc.property(
        bodyBytes.filter((b) => !b.gzip),
        ({ body }) => {
          let value: unknown;
          try {
            value = JSON.parse(body.toString('utf8'));
          } catch {
            return;
          }
          expectAgreement(value);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('takes the fast path for readings as devices send them, with the same result as zod', () => {
    fc.assert(
      fc.property(deviceReadingLike, (reading) => {
        expect(expectAgreement(overTheWire(reading))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('leaves to zod what only zod should judge', () => {
    for (const value of [
      { metrics: { a: 1 }, extra: 1 },
      { metrics: {} },
      { metrics: { '1a': 1 } },
      { metrics: { a: 'x\u0000' } },
      { metrics: { a: 1 }, ts: '2026-02-30T00:00:00Z' },
      { metrics: { a: 1 }, ts: '1999-12-31T23:59:59Z' },
      { metrics: { a: 1 }, seq: 2 ** 53 },
      { metrics: { a: 1 }, location: { lat: 91, lon: 0 } },
      { metrics: { a: 1 }, tags: { '': 'x' } },
      JSON.parse('{"metrics":{"a":1},"tags":{"__proto__":"x"}}'),
      [{ metrics: { a: 1 } }],
    ]) {
      expect(readingFastPath(value), JSON.stringify(value)).toBeUndefined();
    }
  });
});

describe('tags at and past their bounds', () => {
  const tags = (count: number, valueLength: number) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'.repeat(valueLength)]));
  it.each([
    { name: '64 tags', value: tags(64, 1), error: undefined },
    { name: '65 tags', value: tags(65, 1), error: 'at most 64 tags' },
    // 16 keys of 3 characters: 16 × (3 + 253) = 4,096 characters, then one more.
    { name: '4,096 characters', value: tags(16, 253), error: undefined },
    { name: '4,097 characters', value: { ...tags(16, 253), k15: 'v'.repeat(254) }, error: 'at most 4096 characters of tag keys and values in all' },
  ])('$name: the fast path and zod agree', ({ value, error }) => {
    const reading = { metrics: { a: 1 }, tags: value };
    const parsed = Reading.safeParse(reading);
    if (error === undefined) {
      expect(expectAgreement(reading)).toBe(true);
    } else {
      expect(readingFastPath(reading)).toBeUndefined();
      expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['tags', error]]);
    }
  });
});

describe('toDeviceReadings (fast path inside parseTelemetry)', () => {
  it('returns what the shared parser returns, or refuses as it does', () => {
    fc.assert(
      fc.property(fc.oneof(payloadLike, deviceReadingLike, fc.array(deviceReadingLike, { minLength: 1, maxLength: 4 })), fc.boolean(), (payload, senml) => {
        const value = overTheWire(payload);
        const nowMs = Date.now();
        const slow = parseTelemetryBySchema(value, { nowMs, senml });
        let fast: unknown;
        try {
          fast = toDeviceReadings(value, DEVICE, { nowMs, senml });
        } catch {
          // Refused: the shared parser refused too, or named another device.
          expect(slow.ok && (slow.value.deviceId === undefined || slow.value.deviceId === DEVICE)).toBe(false);
          return;
        }
        expect(slow.ok).toBe(true);
        if (slow.ok) expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.value));
      }),
      { numRuns: 2_000 },
    );
  });
});
