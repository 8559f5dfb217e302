/**
 * A reading's identity, derived from the reading itself so that a Pub/Sub redelivery and a
 * device re-sending the same reading both land once (docs/data-model.md).
 */
import { hash } from 'node:crypto';
import type { Reading } from '../../schemas/reading.ts';

/**
 * 32 hex characters of SHA-256 over (device, event time, seq). A reading without `seq` also
 * hashes its metrics (in key order), so two different readings stamped in the same
 * millisecond stay apart while an exact re-send still collides.
 */
export function readingIdOf(deviceId: string, eventMs: number, reading: Pick<Reading, 'seq' | 'metrics'>): string {
  // One string hashed in one call: a Hash object fed piece by piece costs several times more.
  const tail = reading.seq !== undefined ? `seq:${reading.seq}` : canonicalMetrics(reading.metrics);
  return hash('sha256', `${deviceId}\u0000${eventMs}\u0000${tail}`, 'hex').slice(0, 32);
}

function canonicalMetrics(metrics: Reading['metrics']): string {
  return JSON.stringify(
    Object.keys(metrics)
      .sort()
      .map((k) => [k, metrics[k]]),
  );
}
