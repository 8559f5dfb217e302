/**
 * Memory of the readings the DuckDB sink stored recently: above its floor it answers exactly,
 * and forgetting the oldest raises the floor past everything forgotten.
 */
import { describe, expect, it } from 'vitest';
import { RecentReadings } from '../../../shared/warehouse/recent-readings.ts';

describe('RecentReadings', () => {
  it('answers nothing until its floor is set', () => {
    const recent = new RecentReadings();
    expect(recent.floorKnown).toBe(false);
    expect(recent.covers(Date.now())).toBe(false);
    recent.add('r-1', Date.now());
    recent.setFloor(-Infinity);
    expect(recent.floorKnown).toBe(true);
    expect(recent.covers(Date.now())).toBe(true);
    expect(recent.has('r-1', Date.now())).toBe(false);
  });

  it('covers only event times above the floor, and remembers what is added there', () => {
    const recent = new RecentReadings();
    recent.setFloor(1_000);
    expect(recent.covers(1_000)).toBe(false);
    expect(recent.covers(1_001)).toBe(true);
    recent.add('late', 900);
    recent.add('r-1', 2_000);
    expect(recent.has('r-1', 2_000)).toBe(true);
    expect(recent.has('r-2', 2_000)).toBe(false);
    // Not covered, so not remembered: the join decides for it.
    expect(recent.has('late', 900)).toBe(false);
  });

  it('starts from the readings found stored above the floor', () => {
    const recent = new RecentReadings();
    recent.setFloor(5_000, [
      ['ahead', 9_000],
      ['below', 4_000],
    ]);
    expect(recent.has('ahead', 9_000)).toBe(true);
    expect(recent.has('below', 4_000)).toBe(false);
    expect(recent.has('other', 9_000)).toBe(false);
  });

  it('forgets the oldest buckets when full, and no longer covers their event times', () => {
    const recent = new RecentReadings({ maxReadings: 8, bucketMs: 1_000 });
    recent.setFloor(-Infinity);
    // Two readings a second, added out of order.
    for (const second of [3, 1, 4, 0, 2]) for (const k of [0, 1]) recent.add(`r-${second}-${k}`, second * 1_000 + k * 10);
    // The ninth is one too many: seconds 0 and 1 are forgotten (down to 5 of 8), the rest kept.
    expect(recent.covers(1_999)).toBe(false);
    // The floor is the start of the next bucket: a reading stamped then is left to the join too.
    expect(recent.covers(2_000)).toBe(false);
    expect(recent.covers(2_001)).toBe(true);
    expect(recent.has('r-2-1', 2_010)).toBe(true);
    expect(recent.has('r-3-0', 3_000)).toBe(true);
    expect(recent.has('r-4-1', 4_010)).toBe(true);
    // A reading added below the floor now is not remembered.
    recent.add('r-1-5', 1_500);
    expect(recent.has('r-1-5', 1_500)).toBe(false);
  });

  it('with no room, remembers nothing and keeps its floor just past the newest reading added', () => {
    const recent = new RecentReadings({ maxReadings: 0, bucketMs: 1 });
    recent.setFloor(-Infinity);
    recent.add('r-1', 1_000);
    recent.add('r-2', 3_000);
    // Its 1 ms bucket forgotten, the floor is the next bucket's start.
    expect(recent.covers(3_001)).toBe(false);
    expect(recent.covers(3_002)).toBe(true);
    expect(recent.has('r-2', 3_000)).toBe(false);
  });

  it('counts a reading added twice once', () => {
    const recent = new RecentReadings({ maxReadings: 2, bucketMs: 1_000 });
    recent.setFloor(-Infinity);
    recent.add('r-1', 1_000);
    recent.add('r-1', 1_000);
    recent.add('r-2', 2_000);
    expect(recent.covers(1_000)).toBe(true);
    expect(recent.has('r-1', 1_000)).toBe(true);
  });

  it('below its floor, answers through the sieve: surely new, or perhaps stored', () => {
    const recent = new RecentReadings({ maxReadings: 2, bucketMs: 1_000, sieve: { maxReadings: 100, bucketMs: 10_000 } });
    recent.setFloor(-Infinity);
    for (const second of [1, 2, 3, 4]) recent.add(`r-${second}`, second * 1_000);
    // Exact memory has forgotten seconds 1 to 3; the sieve still holds them.
    expect(recent.covers(1_000)).toBe(false);
    expect(recent.surelyNew('r-1', 1_000)).toBe(false);
    expect(recent.surelyNew('r-late', 1_000)).toBe(true);
    // A late reading, once added, is in the sieve only.
    recent.add('r-late', 1_000);
    expect(recent.surelyNew('r-late', 1_000)).toBe(false);
    // Below the floor it was given at the start, the sieve answers nothing either.
    recent.setFloor(5_000);
    expect(recent.surelyNew('r-other', 4_000)).toBe(false);
    expect(recent.surelyNew('r-other', 6_000)).toBe(true);
  });

  it('knows nothing after forgetAll, until the floor is set again', () => {
    const recent = new RecentReadings();
    recent.setFloor(-Infinity);
    recent.add('r-1', 5_000);
    recent.forgetAll();
    expect(recent.floorKnown).toBe(false);
    expect(recent.covers(5_000)).toBe(false);
    expect(recent.surelyNew('r-2', 6_000)).toBe(false);
    recent.setFloor(5_000);
    expect(recent.covers(5_001)).toBe(true);
    expect(recent.has('r-1', 5_000)).toBe(false);
  });

  it('refuses a size or bucket width that is not a whole number, or a bucket of 0 ms', () => {
    expect(() => new RecentReadings({ maxReadings: -1 })).toThrow(RangeError);
    expect(() => new RecentReadings({ maxReadings: 1.5 })).toThrow(RangeError);
    expect(() => new RecentReadings({ bucketMs: 0 })).toThrow(RangeError);
    expect(() => new RecentReadings({ bucketMs: Number.NaN })).toThrow(RangeError);
  });
});
