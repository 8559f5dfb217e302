/**
 * A reading's identity, derived from the reading itself so that a Pub/Sub redelivery and a
 * device re-sending the same reading both land once (docs/data-model.md).
 */
import { createHash } from 'node:crypto';
import type { Reading } from '../../schemas/reading.ts';

/**
 * 32 hex characters of SHA-256 over (device, event time, seq). A reading without `seq` also
 * hashes its metrics (in key order), so two different readings stamped in the same
 * millisecond stay apart while an exact re-send still collides.
 */
export function readingIdOf(deviceId: string, eventMs: number, reading: Pick<Reading, 'seq' | 'metrics'>): string {
  const hash = createHash('sha256').update(deviceId).update('\u0000').update(String(eventMs)).update('\u0000');
  if (reading.seq !== undefined) hash.update(`seq:${reading.seq}`);
  else hash.update(canonicalMetrics(reading.metrics));
  return hash.digest('hex').slice(0, 32);
}

function canonicalMetrics(metrics: Reading['metrics']): string {
  return JSON.stringify(Object.keys(metrics).sort().map((k) => [k, metrics[k]]));
}
