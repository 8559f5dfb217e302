/**
 * An in-memory cache in front of a slow source (the `devices` table, device configurations):
 * a value is served for its TTL, concurrent asks for one key share one load, a failed load is
 * not kept (the next ask tries again), the entry count is bounded (the oldest insertion goes
 * first), and an entry can be dropped or replaced when the caller learns it changed.
 *
 * Ages are counted on the monotonic clock (`performance.now()`), not the wall clock: a wall
 * clock stepped back an hour would otherwise keep every entry, a revoked credential included,
 * an hour past its TTL.
 */

export interface LoadingCacheOptions<K, V> {
  /** Loads one key; a rejection reaches every caller waiting for that key. */
  load: (key: K) => Promise<V>;
  /**
   * How long a loaded value is served, counted from when its load started (so no answer is
   * older than that); per value, so that "not found" can be remembered for less time.
   * Infinity: until forgotten.
   */
  ttlMs: (value: V) => number;
  maxEntries: number;
}

interface Entry<V> {
  value: Promise<V>;
  /** `performance.now()` after which the value is loaded again; Infinity while its load is in flight. */
  until: number;
}

export class LoadingCache<K, V> {
  private readonly options: LoadingCacheOptions<K, V>;
  private readonly entries = new Map<K, Entry<V>>();
  /** Answers from a held entry (loaded or loading) and loads started, for tests and logs. */
  readonly stats = { hits: 0, loads: 0 };

  constructor(options: LoadingCacheOptions<K, V>) {
    this.options = options;
  }

  get(key: K): Promise<V> {
    const held = this.peek(key);
    if (held) {
      this.stats.hits += 1;
      return held;
    }
    this.stats.loads += 1;
    const startedAt = performance.now();
    const entry: Entry<V> = { value: this.options.load(key), until: Number.POSITIVE_INFINITY };
    entry.value.then(
      (value) => {
        entry.until = startedAt + this.options.ttlMs(value);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    this.hold(key, entry);
    return entry.value;
  }

  /** The held value (loaded or loading) if it is still fresh; never loads. */
  peek(key: K): Promise<V> | undefined {
    const held = this.entries.get(key);
    if (held === undefined) return undefined;
    if (held.until > performance.now()) return held.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Holds a value learnt otherwise (e.g. just written), for its TTL from now. */
  set(key: K, value: V): void {
    this.hold(key, { value: Promise.resolve(value), until: performance.now() + this.options.ttlMs(value) });
  }

  /** Drops the entry, so that the next `get` loads the key again. */
  forget(key: K): void {
    this.entries.delete(key);
  }

  private hold(key: K, entry: Entry<V>): void {
    // Re-inserting moves the key to the end: eviction takes the oldest insertion.
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, entry);
  }
}
