/**
 * The reading fast path against zod, the source of truth, on the fuzz corpus
 * (test/support/bad-input.ts) and on readings shaped like the benchmark's: whatever the
 * fast path accepts, zod accepts, with the same value and the same bytes once serialised; and
 * the bridge's toDeviceReadings returns the same with and without it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toDeviceReadings } from '../../functions/bridge/payload.ts';
import { Reading } from '../../schemas/reading.ts';
import { readingFastPath } from '../../schemas/reading-fast-path.ts';
import { parseTelemetry } from '../../shared/telemetry.ts';
import { bodyBytes, extremeValidReading, payloadLike, readingLike } from '../support/bad-input.ts';

const DEVICE = 'fast-dev-1';
/** As the bridge sees a payload: what JSON.parse makes of it. */
const overTheWire = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

/** A reading as devices send it, fields in any order, sometimes naming the device. */
const deviceReading = fc
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
      deviceId: fc.constant(DEVICE),
    },
    { requiredKeys: ['metrics'] },
  )
  .chain((reading) =>
    fc
      .shuffledSubarray(Object.keys(reading), { minLength: Object.keys(reading).length })
      .map((order) => Object.fromEntries(order.map((k) => [k, reading[k as keyof typeof reading]]))),
  );

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
      fc.property(deviceReading, (reading) => {
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

describe('toDeviceReadings with the fast path', () => {
  it('returns what the shared parser returns, or refuses as it does', () => {
    fc.assert(
      fc.property(fc.oneof(payloadLike, deviceReading, fc.array(deviceReading, { minLength: 1, maxLength: 4 })), fc.boolean(), (payload, senml) => {
        const value = overTheWire(payload);
        const nowMs = Date.now();
        const slow = parseTelemetry(value, { nowMs, senml });
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
