/**
 * Which recent readings the embedded warehouse holds, answered from memory: the DuckDB sink is
 * the only writer of its file (DuckDB locks it to one process), so above a floor, the newest
 * event time stored when the file was opened, a reading is stored exactly when this process
 * stored it. A group of readings all above the floor then needs no anti join against
 * `measurements`, which cost the sink a third of its CPU (docs/performance.md, Stack).
 * Readings at or below the floor (late ones, or older than what memory keeps) are for the
 * join to decide.
 */

export interface RecentReadingsOptions {
  /** Readings remembered at most; past it the oldest are forgotten and the floor rises. */
  maxReadings: number;
  /** Width of the event-time buckets forgotten together. */
  bucketMs: number;
}

export const RECENT_READINGS_DEFAULTS: RecentReadingsOptions = { maxReadings: 50_000, bucketMs: 5_000 };

export class RecentReadings {
  /** Invariant: for an event time above it, a reading is stored if and only if it is remembered. */
  private floorMs = Infinity;
  /** Reading ids by event-time bucket (eventMs / bucketMs, rounded down). */
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;
  private readonly options: RecentReadingsOptions;

  constructor(options: Partial<RecentReadingsOptions> = {}) {
    this.options = { ...RECENT_READINGS_DEFAULTS, ...options };
  }

  /** Forgets everything; `newestStoredMs` is the newest event time in the table (-Infinity when empty). */
  reset(newestStoredMs: number): void {
    this.buckets.clear();
    this.size = 0;
    this.floorMs = newestStoredMs;
  }

  /** Until the first reset, and after `invalidate`, nothing is known and every reading is for the join. */
  get known(): boolean {
    return this.floorMs !== Infinity;
  }

  /** After a write whose outcome is unknown, or a delete: nothing is answered until the next reset. */
  invalidate(): void {
    this.reset(Infinity);
  }

  /** Whether memory can answer for a reading of this event time. */
  covers(eventMs: number): boolean {
    return eventMs > this.floorMs;
  }

  /** For a covered reading: whether it is stored. */
  has(readingId: string, eventMs: number): boolean {
    return this.buckets.get(this.bucketOf(eventMs))?.has(readingId) ?? false;
  }

  /** Records a covered reading as stored, once its write has committed. */
  add(readingId: string, eventMs: number): void {
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
   * end of the last one forgotten: below it, the join decides again.
   */
  private forgetOldest(): void {
    const target = Math.floor((this.options.maxReadings * 3) / 4);
    for (const key of [...this.buckets.keys()].sort((a, b) => a - b)) {
      if (this.size <= target) break;
      this.size -= (this.buckets.get(key) as Set<string>).size;
      this.buckets.delete(key);
      this.floorMs = Math.max(this.floorMs, (key + 1) * this.options.bucketMs - 1);
    }
  }

  private bucketOf(eventMs: number): number {
    return Math.floor(eventMs / this.options.bucketMs);
  }
}
