/**
 * The sieve below the DuckDB sink's exact memory: above its floor it never calls a stored
 * reading new, calls few new readings "perhaps stored", and forgetting raises its floor.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReadingSieve } from '../../../shared/warehouse/reading-sieve.ts';

/** Reading ids as ingest makes them: 32 hex characters of SHA-256, here of a counter. */
const readingId = (n: number) => createHash('sha256').update(`reading ${n}`).digest('hex').slice(0, 32);

describe('ReadingSieve', () => {
  it('answers nothing until its floor is set, and nothing at or below it', () => {
    const sieve = new ReadingSieve({ maxReadings: 100, bucketMs: 1_000 });
    expect(sieve.surelyNew('r-1', 5_000)).toBe(false);
    sieve.setFloor(5_000);
    expect(sieve.surelyNew('r-1', 5_000)).toBe(false);
    expect(sieve.surelyNew('r-1', 4_000)).toBe(false);
    expect(sieve.surelyNew('r-1', 5_001)).toBe(true);
    // Below the floor there is nothing to record: the reading stays "perhaps stored".
    sieve.add('late', 4_000);
    expect(sieve.surelyNew('late', 4_000)).toBe(false);
  });

  it('never calls a stored reading new, across buckets and grown filters', () => {
    const sieve = new ReadingSieve({ maxReadings: 1_000_000, bucketMs: 60_000 });
    sieve.setFloor(-Infinity);
    // 50,000 readings over ten minutes: each one-minute bucket outgrows its first filters.
    const stored = Array.from({ length: 50_000 }, (_, n) => [readingId(n), n * 12] as const);
    for (const [id, eventMs] of stored) sieve.add(id, eventMs);
    expect(stored.filter(([id, eventMs]) => sieve.surelyNew(id, eventMs))).toEqual([]);
  });

  it('calls few new readings "perhaps stored" in full buckets', () => {
    const sieve = new ReadingSieve({ maxReadings: 1_000_000, bucketMs: 60_000 });
    sieve.setFloor(-Infinity);
    for (let n = 0; n < 50_000; n++) sieve.add(readingId(n), n * 12);
    let perhaps = 0;
    for (let n = 50_000; n < 150_000; n++) if (!sieve.surelyNew(readingId(n), (n % 50_000) * 12)) perhaps += 1;
    // About 1 in 1,700 a full filter; a bucket of five filters (256 to 4,096 readings) answers "perhaps" for under 1 in 250.
    expect(perhaps).toBeLessThan(400);
  });

  it('takes a reading id by its event time: the same id at another bucket is another reading', () => {
    const sieve = new ReadingSieve({ maxReadings: 100, bucketMs: 1_000 });
    sieve.setFloor(0);
    sieve.add('r-1', 1_500);
    expect(sieve.surelyNew('r-1', 1_700)).toBe(false);
    expect(sieve.surelyNew('r-1', 2_500)).toBe(true);
  });

  it('forgets the oldest buckets when their filters outgrow the room, down to three quarters of it, raising its floor past them', () => {
    // Filters of 2 readings first (a sixteenth of the room, at least 2), then 4.
    const sieve = new ReadingSieve({ maxReadings: 8, bucketMs: 1_000 });
    sieve.setFloor(-Infinity);
    // Two readings a second, seconds out of order: four filters of 2, the room full.
    for (const second of [2, 0, 3, 1]) for (const k of [0, 1]) sieve.add(`r-${second}-${k}`, second * 1_000 + k * 10);
    expect(sieve.surelyNew('new', 500)).toBe(true);
    // A fifth filter: seconds 0 and 1 are forgotten, leaving 6 of 8.
    sieve.add('r-4-0', 4_000);
    expect(sieve.surelyNew('r-0-0', 0)).toBe(false);
    expect(sieve.surelyNew('new', 1_500)).toBe(false);
    // The floor is the start of the next bucket: a reading stamped then is left to the join too.
    expect(sieve.surelyNew('new', 2_000)).toBe(false);
    expect(sieve.surelyNew('new', 2_500)).toBe(true);
    expect(sieve.surelyNew('r-2-1', 2_010)).toBe(false);
    expect(sieve.surelyNew('r-4-0', 4_000)).toBe(false);
    // Second 4's next reading fits its filter; the one after needs a filter of 4, which forgets seconds 2 and 3.
    sieve.add('r-4-1', 4_010);
    expect(sieve.surelyNew('new', 2_500)).toBe(true);
    sieve.add('r-4-2', 4_020);
    expect(sieve.surelyNew('new', 3_500)).toBe(false);
    expect(sieve.surelyNew('new', 4_001)).toBe(true);
    expect(sieve.surelyNew('r-4-2', 4_020)).toBe(false);
  });

  it('counts a reading added twice once', () => {
    const sieve = new ReadingSieve({ maxReadings: 4, bucketMs: 1_000 });
    sieve.setFloor(-Infinity);
    sieve.add('r-1', 1_000);
    sieve.add('r-1', 1_000);
    // Counted twice, r-1 would have filled the first filter, and the next would forget the bucket.
    sieve.add('r-2', 1_500);
    expect(sieve.surelyNew('r-3', 1_700)).toBe(true);
    expect(sieve.surelyNew('r-1', 1_000)).toBe(false);
    expect(sieve.surelyNew('r-2', 1_500)).toBe(false);
  });

  it('takes room by what a bucket holds: a reading a minute takes a small filter, not a large one', () => {
    // Room for 64 readings: first filters of 4. Thirty minutes of one reading each need 120.
    const sieve = new ReadingSieve({ maxReadings: 64, bucketMs: 60_000 });
    sieve.setFloor(-Infinity);
    for (let minute = 0; minute < 30; minute++) sieve.add(`r-${minute}`, minute * 60_000);
    // Forgotten down to three quarters at minutes 16, 21 and 26: the newest fifteen minutes are kept.
    expect(sieve.surelyNew('new', 14 * 60_000 + 1)).toBe(false);
    expect(sieve.surelyNew('new', 15 * 60_000 + 1)).toBe(true);
    expect(sieve.surelyNew('r-16', 16 * 60_000)).toBe(false);
    expect(sieve.surelyNew('r-29', 29 * 60_000)).toBe(false);
  });

  it('with no room, answers only for event times past every reading added', () => {
    const sieve = new ReadingSieve({ maxReadings: 0, bucketMs: 1_000 });
    sieve.setFloor(-Infinity);
    sieve.add('r-1', 1_500);
    expect(sieve.surelyNew('r-1', 1_500)).toBe(false);
    expect(sieve.surelyNew('r-2', 1_999)).toBe(false);
    expect(sieve.surelyNew('r-2', 2_001)).toBe(true);
  });

  it('knows nothing after forgetAll, and starts empty at a new floor', () => {
    const sieve = new ReadingSieve({ maxReadings: 100, bucketMs: 1_000 });
    sieve.setFloor(-Infinity);
    sieve.add('r-1', 5_000);
    sieve.forgetAll();
    expect(sieve.surelyNew('r-2', 5_000)).toBe(false);
    sieve.setFloor(1_000);
    expect(sieve.surelyNew('r-1', 5_000)).toBe(true);
  });

  it('refuses a size or bucket width that is not a whole number, or a bucket of 0 ms', () => {
    expect(() => new ReadingSieve({ maxReadings: -1, bucketMs: 1 })).toThrow(RangeError);
    expect(() => new ReadingSieve({ maxReadings: 0.5, bucketMs: 1 })).toThrow(RangeError);
    expect(() => new ReadingSieve({ maxReadings: 1, bucketMs: 0 })).toThrow(RangeError);
    expect(() => new ReadingSieve({ maxReadings: 1, bucketMs: Number.NaN })).toThrow(RangeError);
  });
});
