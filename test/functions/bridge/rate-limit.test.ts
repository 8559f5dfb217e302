/**
 * The per-device token bucket on its own: parsing DEVICE_RATE_LIMIT, refill, Retry-After,
 * and bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../../functions/bridge/rate-limit.ts';
import { parseRateLimit } from '../../../shared/config-values.ts';

describe('DEVICE_RATE_LIMIT', () => {
  it.each([
    ['20/s', 20, 1_000],
    ['600/min', 600, 60_000],
    [' 5 / minute ', 5, 60_000],
    ['1000/h', 1000, 3_600_000],
  ])('parses %s', (text, count, periodMs) => {
    expect(parseRateLimit(text)).toMatchObject({ count, periodMs });
  });

  it.each(['fast', '0/s', '20/fortnight', '20', '-1/s'])('refuses %s naming the variable', (text) => {
    expect(() => parseRateLimit(text)).toThrow(/DEVICE_RATE_LIMIT/);
  });
});

describe('token bucket', () => {
  it('allows a burst of the limit, then refuses with the seconds until the next token', () => {
    const limiter = createRateLimiter(parseRateLimit('2/min'));
    const t0 = 1_000_000;
    expect(limiter.take('a', t0)).toEqual({ allowed: true });
    expect(limiter.take('a', t0)).toEqual({ allowed: true });
    expect(limiter.take('a', t0)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(limiter.take('b', t0)).toEqual({ allowed: true });
    expect(limiter.take('a', t0 + 29_000)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('a', t0 + 31_000)).toEqual({ allowed: true });
  });

  it('refills nothing for time that went backwards: a wall clock stepped back refuses nobody', () => {
    const limiter = createRateLimiter(parseRateLimit('2/min'));
    const t0 = 10_000_000;
    const back = t0 - 3_600_000;
    expect(limiter.take('a', t0)).toEqual({ allowed: true });
    expect(limiter.take('a', back)).toEqual({ allowed: true });
    expect(limiter.take('a', back)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(limiter.take('a', back + 31_000)).toEqual({ allowed: true });
    // A step of 40 s, within the sweep's period.
    const b0 = 20_000_000;
    expect(limiter.take('b', b0)).toEqual({ allowed: true });
    expect(limiter.take('b', b0 + 50_000)).toEqual({ allowed: true });
    expect(limiter.take('b', b0 + 10_000)).toEqual({ allowed: true });
  });

  it('keeps forgetting idle devices after the clock stepped back', () => {
    const limiter = createRateLimiter(parseRateLimit('1/s'));
    for (let i = 0; i < 100; i++) limiter.take(`device-${i}`, 10_000_000);
    // An hour back, then two seconds on: every bucket has refilled, so none is kept.
    limiter.take('late', 10_000_000 - 3_600_000);
    limiter.take('late', 10_000_000 - 3_600_000 + 2_000);
    expect(limiter.size).toBe(1);
  });

  it('never answers Retry-After below one second', () => {
    const limiter = createRateLimiter(parseRateLimit('1000/s'));
    for (let i = 0; i < 1000; i++) limiter.take('a', 0);
    expect(limiter.take('a', 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('keeps at most maxBuckets devices, forgetting idle ones first', () => {
    const limiter = createRateLimiter(parseRateLimit('1/s'), { maxBuckets: 100 });
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`device-${i}`, i);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    // A device still within its period keeps its spent bucket.
    expect(limiter.take('device-9999', 9_999)).toMatchObject({ allowed: false });
  });
});
