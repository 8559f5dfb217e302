/** A reading's identity, the same for a redelivery and a re-send (functions/ingest/reading-id.ts). */
import { describe, expect, it } from 'vitest';
import { readingIdOf } from '../../../functions/ingest/reading-id.ts';

const AT = Date.UTC(2026, 3, 2, 10);

describe('readingIdOf', () => {
  it('is 32 hex characters, the same for the same device, time and seq whatever the metrics', () => {
    const id = readingIdOf('dev-1', AT, { seq: 7, metrics: { t: 1 } });
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(readingIdOf('dev-1', AT, { seq: 7, metrics: { t: 2 } })).toBe(id);
  });

  it('differs with the device, the time or the seq', () => {
    const id = readingIdOf('dev-1', AT, { seq: 7, metrics: { t: 1 } });
    expect(readingIdOf('dev-2', AT, { seq: 7, metrics: { t: 1 } })).not.toBe(id);
    expect(readingIdOf('dev-1', AT + 1, { seq: 7, metrics: { t: 1 } })).not.toBe(id);
    expect(readingIdOf('dev-1', AT, { seq: 8, metrics: { t: 1 } })).not.toBe(id);
  });

  it('without seq, hashes the metrics in key order: a re-send collides, another reading does not', () => {
    const id = readingIdOf('dev-1', AT, { metrics: { a: 1, b: 'x' } });
    expect(readingIdOf('dev-1', AT, { metrics: { b: 'x', a: 1 } })).toBe(id);
    expect(readingIdOf('dev-1', AT, { metrics: { a: 2, b: 'x' } })).not.toBe(id);
    expect(readingIdOf('dev-1', AT, { seq: 0, metrics: { a: 1, b: 'x' } })).not.toBe(id);
  });

  it('keeps the device and time apart (no ambiguity from concatenation)', () => {
    expect(readingIdOf('dev-1', 23, { seq: 1, metrics: { t: 1 } })).not.toBe(readingIdOf('dev-12', 3, { seq: 1, metrics: { t: 1 } }));
  });
});
