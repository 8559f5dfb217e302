import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../shared/iso-time.ts';

/** The range `Date` can hold: ±8.64e15 ms (ECMA-262 TimeClip). */
const MAX_TIME = 8.64e15;
const DAY_MS = 86_400_000;

describe('isoTime', () => {
  it('writes what toISOString writes, for any time Date can hold', () => {
    fc.assert(
      // A second time near the first, mostly on the same day: the cached date is used for it.
      fc.property(fc.integer({ min: -MAX_TIME, max: MAX_TIME }), fc.integer({ min: -DAY_MS, max: DAY_MS }), (ms, offset) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
        const near = Math.max(-MAX_TIME, Math.min(MAX_TIME, ms + offset));
        expect(isoTime(near)).toBe(new Date(near).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('writes what toISOString writes for consecutive times of one day, across midnight and at the edges of a year', () => {
    const starts = [
      Date.UTC(2026, 10, 28, 23, 59, 59, 990),
      Date.UTC(1969, 11, 31, 23, 59, 59, 990),
      Date.UTC(9999, 11, 31, 23, 59, 59, 990),
      Date.UTC(0, 0, 1) - 10,
      -MAX_TIME,
      MAX_TIME - 20,
    ];
    for (const start of starts) {
      for (let ms = start; ms <= Math.min(start + 20, MAX_TIME); ms++) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    // Back and forth between days: the cached date must follow.
    for (const ms of [Date.UTC(2026, 0, 1, 12), Date.UTC(2025, 11, 31, 12), Date.UTC(2026, 0, 1, 13), Date.UTC(2025, 11, 31, 13)]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(isoTime(ms + 1)).toBe(new Date(ms + 1).toISOString());
    }
  });

  it('treats fractions as toISOString does, and throws as it does for times Date cannot hold', () => {
    const now = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
    isoTime(now);
    for (const ms of [now + 0.4, now + 0.9, now - 0.5, -0.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    for (const ms of [Number.NaN, Number.POSITIVE_INFINITY, MAX_TIME + 1, -MAX_TIME - 1, 2 ** 53]) {
      expect(() => isoTime(ms)).toThrow(RangeError);
    }
    // The last day Date holds starts at its last instant: with that day cached, the rest of it is still out of range.
    expect(isoTime(MAX_TIME)).toBe(new Date(MAX_TIME).toISOString());
    for (const ms of [MAX_TIME + 1, MAX_TIME + DAY_MS - 1]) expect(() => isoTime(ms)).toThrow(RangeError);
  });
});
