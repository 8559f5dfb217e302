/**
 * A Bloom filter of the readings the DuckDB sink stored, by event-time bucket: the second tier
 * of the sink's memory (recent-readings.ts). The first tier answers exactly, but only for the
 * newest readings it has room for (about 16 s of them at 6,000 readings a second); a late
 * reading, sent minutes after its event time, falls below it, and asking the table costs a scan
 * of every row group whose event times overlap (docs/performance.md, Whole local stack). This
 * tier holds far more readings in far less memory (2 bytes of room each) and answers one way only:
 * "surely not stored" is always right, "perhaps stored" goes to the table. So a late reading
 * that is new, nearly all of them, needs no scan, no new reading is dropped and no stored one
 * doubled: a false "perhaps" costs a join, nothing more.
 *
 * Above its floor, every reading stored is in the filter (the caller adds each once its write
 * has committed); forgetting the oldest buckets raises the floor past their event times.
 * @see https://en.wikipedia.org/wiki/Bloom_filter
 */

export interface ReadingSieveOptions {
  /**
   * Room for readings across the buckets' filters, which bounds memory at 2 bytes a reading of
   * room (and a few hundred bytes a bucket); past it the oldest buckets are forgotten. A bucket's
   * filters grow with it, so a sparse bucket takes little room and a full one up to twice what it
   * holds. 0 holds none.
   */
  maxReadings: number;
  /** Width of the event-time buckets forgotten together. */
  bucketMs: number;
}

/**
 * Bits a reading: with 8 probes a full filter calls about 1 new reading in 1,700 "perhaps stored";
 * a bucket asks each of its filters, so one of eleven (a minute at 6,000 readings a second) about 1 in 170.
 */
const BITS_PER_READING = 16;
const PROBES = 8;
/** A bucket's first filter holds at most this many readings; each further one twice the last, up to the maximum. */
const FIRST_FILTER_READINGS = 256;
const MAX_FILTER_READINGS = 1 << 20;

/** One fixed-size Bloom filter; a bucket grows by adding larger ones, so a sparse bucket stays small. */
class Filter {
  readonly capacity: number;
  readonly bits: Int32Array;
  readonly mask: number;
  count = 0;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.bits = new Int32Array((capacity * BITS_PER_READING) / 32);
    this.mask = capacity * BITS_PER_READING - 1;
  }
}

export class ReadingSieve {
  /** Invariant: every reading stored with an event time above it is in the filters. Undefined: nothing is answered. */
  private floorMs: number | undefined;
  private readonly buckets = new Map<number, Filter[]>();
  /** Readings the filters have room for: what memory is bounded by. */
  private room = 0;
  private readonly firstFilterReadings: number;
  private readonly options: ReadingSieveOptions;

  constructor(options: ReadingSieveOptions) {
    const { maxReadings, bucketMs } = options;
    if (!Number.isInteger(maxReadings) || maxReadings < 0) throw new RangeError(`the sieve's maxReadings must be a whole number ≥ 0, not ${maxReadings}`);
    if (!Number.isInteger(bucketMs) || bucketMs < 1) throw new RangeError(`the sieve's bucketMs must be a whole number ≥ 1, not ${bucketMs}`);
    this.options = { ...options };
    // A sixteenth of the room, a power of two from 2 to 256: a sieve with little room still holds several buckets.
    this.firstFilterReadings = Math.min(FIRST_FILTER_READINGS, 2 ** Math.max(1, Math.floor(Math.log2(Math.max(1, maxReadings / 16)))));
  }

  /** Starts afresh: nothing above `floorMs` is stored but what is added from now on. */
  setFloor(floorMs: number): void {
    this.buckets.clear();
    this.room = 0;
    this.floorMs = floorMs;
  }

  forgetAll(): void {
    this.buckets.clear();
    this.room = 0;
    this.floorMs = undefined;
  }

  /** True only when the reading is certainly not stored; false when it may be, or its event time is not covered. */
  surelyNew(readingId: string, eventMs: number): boolean {
    if (!this.covers(eventMs)) return false;
    const filters = this.buckets.get(this.bucketOf(eventMs));
    if (!filters) return true;
    const [h1, h2] = hashPair(readingId);
    return !filters.some((filter) => contains(filter, h1, h2));
  }

  /** Records a reading as stored, once its write has committed; below the floor there is nothing to record. */
  add(readingId: string, eventMs: number): void {
    if (!this.covers(eventMs)) return;
    const key = this.bucketOf(eventMs);
    let filters = this.buckets.get(key);
    if (!filters) this.buckets.set(key, (filters = []));
    const [h1, h2] = hashPair(readingId);
    if (filters.some((filter) => contains(filter, h1, h2))) return;
    let last = filters.at(-1);
    if (!last || last.count >= last.capacity) {
      last = new Filter(last ? Math.min(last.capacity * 2, MAX_FILTER_READINGS) : this.firstFilterReadings);
      filters.push(last);
      this.room += last.capacity;
    }
    insert(last, h1, h2);
    if (this.room > this.options.maxReadings) this.forgetOldest();
  }

  private covers(eventMs: number): boolean {
    return this.floorMs !== undefined && eventMs > this.floorMs;
  }

  /**
   * Forgets the oldest buckets until a quarter of the room is free, so that a stream of sparse
   * buckets does not sort the keys at every filter it adds; the floor rises to the start of the
   * bucket after the last one forgotten.
   */
  private forgetOldest(): void {
    const target = Math.floor((this.options.maxReadings * 3) / 4);
    for (const key of [...this.buckets.keys()].sort((a, b) => a - b)) {
      if (this.room <= target) break;
      for (const filter of this.buckets.get(key) as Filter[]) this.room -= filter.capacity;
      this.buckets.delete(key);
      this.floorMs = Math.max(this.floorMs ?? -Infinity, (key + 1) * this.options.bucketMs);
    }
  }

  private bucketOf(eventMs: number): number {
    return Math.floor(eventMs / this.options.bucketMs);
  }
}

/** Probe i is h1 + i·h2 (double hashing); h2 is odd, so the probes of one reading never coincide within a filter. */
function contains(filter: Filter, h1: number, h2: number): boolean {
  for (let i = 0, at = h1; i < PROBES; i++, at = (at + h2) | 0) {
    const bit = at & filter.mask;
    if (((filter.bits[bit >>> 5] ?? 0) & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}

function insert(filter: Filter, h1: number, h2: number): void {
  for (let i = 0, at = h1; i < PROBES; i++, at = (at + h2) | 0) {
    const bit = at & filter.mask;
    filter.bits[bit >>> 5] = (filter.bits[bit >>> 5] ?? 0) | (1 << (bit & 31));
  }
  filter.count += 1;
}

/** Two independent 32-bit hashes of the string (FNV-1a and a multiply-xorshift hash, each finished with murmur3's mix). */
function hashPair(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [mix(a), mix(b) | 1];
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
