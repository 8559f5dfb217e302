/**
 * Per-device token buckets (`DEVICE_RATE_LIMIT`, e.g. `20/s` or `600/min`): a device may burst
 * up to the limit's count, refilled evenly over its period. A bucket that has refilled
 * completely is the same as no bucket, so idle devices are forgotten: memory stays bounded
 * by the number of devices active within one period.
 * @see ../../docs/architecture.md
 */

export interface RateLimit {
  count: number;
  periodMs: number;
  /** As configured, for messages: `20/s`. */
  text: string;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  readonly limit: RateLimit;
  /** Devices currently holding a bucket. */
  readonly size: number;
  take(deviceId: string, nowMs: number): RateDecision;
}

const PERIODS: Record<string, number> = { s: 1_000, sec: 1_000, second: 1_000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000 };

/** Parses `N/s`, `N/min` or `N/h`; throws naming the variable when the value is malformed. */
export function parseRateLimit(text: string): RateLimit {
  const match = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/i.exec(text);
  const periodMs = match ? PERIODS[(match[2] as string).toLowerCase()] : undefined;
  const count = match ? Number(match[1]) : 0;
  if (!match || periodMs === undefined || count < 1) {
    throw new Error(`DEVICE_RATE_LIMIT must look like "20/s", "600/min" or "1000/h", got "${text}"`);
  }
  return { count, periodMs, text: text.trim() };
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export function createRateLimiter(limit: RateLimit, options: { maxBuckets?: number } = {}): RateLimiter {
  const maxBuckets = options.maxBuckets ?? 200_000;
  const refillPerMs = limit.count / limit.periodMs;
  const buckets = new Map<string, Bucket>();
  let lastSweep = 0;

  const sweep = (nowMs: number) => {
    lastSweep = nowMs;
    for (const [id, b] of buckets) {
      if (b.tokens + (nowMs - b.updatedAt) * refillPerMs >= limit.count) buckets.delete(id);
    }
    // Still too many active devices: forget the longest-untouched (they get a full bucket).
    for (const id of buckets.keys()) {
      if (buckets.size < maxBuckets) break;
      buckets.delete(id);
    }
  };

  return {
    limit,
    get size() {
      return buckets.size;
    },
    take(deviceId, nowMs) {
      if (nowMs - lastSweep >= limit.periodMs || buckets.size >= maxBuckets) sweep(nowMs);
      let bucket = buckets.get(deviceId);
      if (!bucket) {
        bucket = { tokens: limit.count, updatedAt: nowMs };
        buckets.set(deviceId, bucket);
      } else {
        bucket.tokens = Math.min(limit.count, bucket.tokens + (nowMs - bucket.updatedAt) * refillPerMs);
        bucket.updatedAt = nowMs;
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { allowed: true };
      }
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000)) };
    },
  };
}
