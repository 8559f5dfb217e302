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
