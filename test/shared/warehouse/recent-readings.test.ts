/**
 * Memory of the readings the DuckDB sink stored recently: above its floor it answers exactly,
 * and forgetting the oldest raises the floor past everything forgotten.
 */
import { describe, expect, it } from 'vitest';
import { RecentReadings } from '../../../shared/warehouse/recent-readings.ts';

describe('RecentReadings', () => {
  it('answers nothing until it knows the newest stored event time', () => {
    const recent = new RecentReadings();
    expect(recent.known).toBe(false);
    expect(recent.covers(Date.now())).toBe(false);
    recent.add('r-1', Date.now());
    recent.reset(-Infinity);
    expect(recent.known).toBe(true);
    expect(recent.has('r-1', Date.now())).toBe(false);
  });

  it('covers only event times above the newest stored one, and remembers what is added there', () => {
    const recent = new RecentReadings();
    recent.reset(1_000);
    expect(recent.covers(1_000)).toBe(false);
    expect(recent.covers(1_001)).toBe(true);
    recent.add('late', 900);
    recent.add('r-1', 2_000);
    expect(recent.has('r-1', 2_000)).toBe(true);
    expect(recent.has('r-2', 2_000)).toBe(false);
    // Not covered, so not remembered: the join decides for it.
    expect(recent.has('late', 900)).toBe(false);
  });

  it('forgets the oldest buckets when full, and no longer covers their event times', () => {
    const recent = new RecentReadings({ maxReadings: 8, bucketMs: 1_000 });
    recent.reset(-Infinity);
    // Two readings a second, added out of order.
    for (const second of [3, 1, 4, 0, 2]) for (const k of [0, 1]) recent.add(`r-${second}-${k}`, second * 1_000 + k * 10);
    // The ninth is one too many: seconds 0 and 1 are forgotten (down to 5 of 8), the rest kept.
    expect(recent.covers(1_999)).toBe(false);
    expect(recent.covers(2_000)).toBe(true);
    expect(recent.has('r-2-0', 2_000)).toBe(true);
    expect(recent.has('r-2-1', 2_010)).toBe(true);
    expect(recent.has('r-3-0', 3_000)).toBe(true);
    expect(recent.has('r-4-1', 4_010)).toBe(true);
    // A reading added below the floor now is not remembered.
    recent.add('r-1-5', 1_500);
    expect(recent.has('r-1-5', 1_500)).toBe(false);
  });

  it('counts a reading added twice once', () => {
    const recent = new RecentReadings({ maxReadings: 2, bucketMs: 1_000 });
    recent.reset(-Infinity);
    recent.add('r-1', 1_000);
    recent.add('r-1', 1_000);
    recent.add('r-2', 2_000);
    expect(recent.covers(1_000)).toBe(true);
    expect(recent.has('r-1', 1_000)).toBe(true);
  });

  it('knows nothing after invalidate, until the next reset', () => {
    const recent = new RecentReadings();
    recent.reset(-Infinity);
    recent.add('r-1', 5_000);
    recent.invalidate();
    expect(recent.known).toBe(false);
    expect(recent.covers(5_000)).toBe(false);
    recent.reset(5_000);
    expect(recent.covers(5_001)).toBe(true);
    expect(recent.has('r-1', 5_000)).toBe(false);
  });
});
