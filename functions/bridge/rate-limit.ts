/**
 * Per-device token buckets (`DEVICE_RATE_LIMIT`, e.g. `20/s` or `600/min`): a device may burst
 * up to the limit's count, refilled evenly over its period. A bucket that has refilled
 * completely is the same as no bucket, so idle devices are forgotten: memory stays bounded
 * by the number of devices active within one period.
 * @see ../../docs/architecture.md
 */
import type { RateLimit } from '../../shared/config-values.ts';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  readonly limit: RateLimit;
  /** Devices currently holding a bucket. */
  readonly size: number;
  take(deviceId: string, nowMs: number): RateDecision;
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
      // Stamped ahead of a clock that stepped back: its time counts from now.
      if (b.updatedAt > nowMs) b.updatedAt = nowMs;
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
      // The wall clock may step back (a VM's clock corrected): the sweep's period starts again,
      // and time that went backwards refills nothing, rather than a debt of that long for every device.
      if (nowMs - lastSweep >= limit.periodMs || nowMs < lastSweep || buckets.size >= maxBuckets) sweep(nowMs);
      let bucket = buckets.get(deviceId);
      if (!bucket) {
        bucket = { tokens: limit.count, updatedAt: nowMs };
        buckets.set(deviceId, bucket);
      } else {
        bucket.tokens = Math.min(limit.count, bucket.tokens + Math.max(0, nowMs - bucket.updatedAt) * refillPerMs);
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
