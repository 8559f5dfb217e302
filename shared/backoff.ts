/**
 * Exponential backoff, written once for every retry loop: the local Pub/Sub's redeliveries,
 * BigQuery insertAll retries and partition changes waiting for a lock.
 * @see https://cloud.google.com/pubsub/docs/handling-failures#exponential_backoff
 */

/** The wait before retry `retry` (0 for the first): `firstMs`, doubled per retry, at most `maxMs`. */
export function exponentialDelayMs(retry: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, retry));
}

/**
 * `ms` scaled by a random factor between `low` and `high`, so that callers failing together
 * do not retry together: 0..1 is "full jitter", 0.75..1.25 spreads by a quarter either way.
 */
export function jittered(ms: number, low: number, high: number): number {
  return ms * (low + Math.random() * (high - low));
}
