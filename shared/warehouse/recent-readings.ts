/**
 * Which recent readings the embedded warehouse holds, answered from memory. The DuckDB sink is
 * the only writer of its file (DuckDB locks it to one process), so above a floor a reading id
 * is stored exactly when this process stored it, or found it stored when it set the floor.
 * A group whose readings are all above the floor then needs no anti join against
 * `measurements`, which took about a third of the sink's CPU a row (docs/performance.md,
 * Whole local stack, the tenth session).
 *
 * Exact memory keeps only the newest readings. Below its floor (late readings, or older than it
 * keeps) a sieve (reading-sieve.ts) that holds many more in little room says which readings are
 * surely new; the rest are for the join to decide.
 *
 * Event times are whole milliseconds (as Date's), compared with the floor as they are.
 */
import { ReadingSieve, type ReadingSieveOptions } from './reading-sieve.ts';

export interface RecentReadingsOptions {
  /** Readings remembered at most; past it the oldest by event time are forgotten and the floor rises. */
  maxReadings: number;
  /** Width of the event-time buckets forgotten together. */
  bucketMs: number;
  /** The sieve below: room for readings (2 bytes each; 0 holds none) and its bucket width. */
  sieve: ReadingSieveOptions;
}

/**
 * About 14 MB of exact memory and 16 MB of sieve. At 6,000 readings a second the sieve holds
 * the last 11 to 15 minutes of event time, past the simulator's latest readings (ten minutes
 * late); at 10 a second, the last 5 to 7 days. Readings are stamped at most a day ahead (ingest
 * refuses later ones), so stamps ahead take at most 1,440 of its buckets.
 */
export const RECENT_READINGS_DEFAULTS: RecentReadingsOptions = { maxReadings: 100_000, bucketMs: 1_000, sieve: { maxReadings: 8_000_000, bucketMs: 60_000 } };

export class RecentReadings {
  /**
   * Invariant: for an event time above it, a reading id is stored if and only if it is
   * remembered. Undefined until set, and after `forgetAll`: then nothing is answered.
   */
  private floorMs: number | undefined;
  /** Reading ids by event-time bucket (eventMs / bucketMs, rounded down). */
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;
  private readonly options: RecentReadingsOptions;
  private readonly sieve: ReadingSieve;

  constructor(options: Partial<RecentReadingsOptions> = {}) {
    this.options = { ...RECENT_READINGS_DEFAULTS, ...options };
    const { maxReadings, bucketMs } = this.options;
    if (!Number.isInteger(maxReadings) || maxReadings < 0) throw new RangeError(`maxReadings must be a whole number ≥ 0, not ${maxReadings}`);
    if (!Number.isInteger(bucketMs) || bucketMs < 1) throw new RangeError(`bucketMs must be a whole number ≥ 1, not ${bucketMs}`);
    this.sieve = new ReadingSieve(this.options.sieve);
  }

  get maxReadings(): number {
    return this.options.maxReadings;
  }

  get floorKnown(): boolean {
    return this.floorMs !== undefined;
  }

  /**
   * Starts afresh: no reading above `floorMs` is stored but the `stored` ones (reading id and
   * event time), which the caller found in the table. -Infinity for an empty table.
   */
  setFloor(floorMs: number, stored: Iterable<readonly [string, number]> = []): void {
    this.buckets.clear();
    this.size = 0;
    this.floorMs = floorMs;
    this.sieve.setFloor(floorMs);
    for (const [readingId, eventMs] of stored) this.add(readingId, eventMs);
  }

  /** After a write whose outcome is not known, or a delete: nothing is answered until the next `setFloor`. */
  forgetAll(): void {
    this.buckets.clear();
    this.size = 0;
    this.floorMs = undefined;
    this.sieve.forgetAll();
  }

  /** Whether memory answers for a reading of this event time (then ask `has`). */
  covers(eventMs: number): boolean {
    return this.floorMs !== undefined && eventMs > this.floorMs;
  }

  /** For a reading `covers` answers for: whether it is stored. */
  has(readingId: string, eventMs: number): boolean {
    return this.buckets.get(this.bucketOf(eventMs))?.has(readingId) ?? false;
  }

  /** For a reading `covers` does not answer for: true only when it is certainly not stored (the sieve's answer). */
  surelyNew(readingId: string, eventMs: number): boolean {
    return this.sieve.surelyNew(readingId, eventMs);
  }

  /** Records a reading as stored, once its write has committed: exactly when covered, in the sieve when above its floor. */
  add(readingId: string, eventMs: number): void {
    this.sieve.add(readingId, eventMs);
    if (!this.covers(eventMs)) return;
    const key = this.bucketOf(eventMs);
    let ids = this.buckets.get(key);
    if (!ids) this.buckets.set(key, (ids = new Set()));
    if (ids.has(readingId)) return;
    ids.add(readingId);
    this.size += 1;
    if (this.size > this.options.maxReadings) this.forgetOldest();
  }

  /**
   * Forgets the oldest buckets until a quarter of the room is free, raising the floor to the
   * start of the bucket after the last one forgotten: every event time it held is below.
   */
  private forgetOldest(): void {
    const target = Math.floor((this.options.maxReadings * 3) / 4);
    for (const key of [...this.buckets.keys()].sort((a, b) => a - b)) {
      if (this.size <= target) break;
      this.size -= (this.buckets.get(key) as Set<string>).size;
      this.buckets.delete(key);
      this.floorMs = Math.max(this.floorMs ?? -Infinity, (key + 1) * this.options.bucketMs);
    }
  }

  private bucketOf(eventMs: number): number {
    return Math.floor(eventMs / this.options.bucketMs);
  }
}
