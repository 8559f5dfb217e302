import { describe, expect, it } from 'vitest';
import { exponentialDelayMs, jittered } from '../../shared/backoff.ts';

describe('exponentialDelayMs', () => {
  it('starts at the first delay, doubles per retry and stops at the maximum', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((retry) => exponentialDelayMs(retry, 100, 2_000))).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000]);
  });

  it('treats a negative retry as the first', () => {
    expect(exponentialDelayMs(-1, 100, 2_000)).toBe(100);
  });
});

describe('jittered', () => {
  it('stays within the given fractions of the delay', () => {
    for (let i = 0; i < 200; i++) {
      const spread = jittered(1_000, 0.75, 1.25);
      expect(spread).toBeGreaterThanOrEqual(750);
      expect(spread).toBeLessThanOrEqual(1_250);
      const full = jittered(1_000, 0, 1);
      expect(full).toBeGreaterThanOrEqual(0);
      expect(full).toBeLessThanOrEqual(1_000);
    }
  });

  it('varies, so that callers failing together do not retry together', () => {
    const draws = new Set(Array.from({ length: 20 }, () => jittered(1_000, 0, 1)));
    expect(draws.size).toBeGreaterThan(1);
  });
});
