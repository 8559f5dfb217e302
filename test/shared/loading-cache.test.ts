import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoadingCache } from '../../shared/loading-cache.ts';

/** A source whose loads the test settles by hand, counting how many it was asked for. */
function manualSource() {
  const pending = new Map<string, { resolve: (v: string | undefined) => void; reject: (e: unknown) => void }>();
  let loads = 0;
  return {
    load: (key: string) => {
      loads += 1;
      return new Promise<string | undefined>((resolve, reject) => pending.set(key, { resolve, reject }));
    },
    settle: (key: string, value: string | undefined) => pending.get(key)?.resolve(value),
    fail: (key: string, error: Error) => pending.get(key)?.reject(error),
    get loads() {
      return loads;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('LoadingCache', () => {
  it('shares one load among concurrent asks, then answers from memory', async () => {
    const source = manualSource();
    const cache = new LoadingCache<string, string | undefined>({ load: source.load, ttlMs: () => 60_000, maxEntries: 10 });
    const asks = [cache.get('a'), cache.get('a'), cache.get('a')];
    source.settle('a', 'A');
    expect(await Promise.all(asks)).toEqual(['A', 'A', 'A']);
    expect(await cache.get('a')).toBe('A');
    expect(source.loads).toBe(1);
    expect(cache.stats).toEqual({ hits: 3, loads: 1 });
  });

  it('loads again once the TTL of the value has passed, which may differ per value', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const source = manualSource();
    const cache = new LoadingCache<string, string | undefined>({ load: source.load, ttlMs: (v) => (v === undefined ? 10 : 100), maxEntries: 10 });
    const found = cache.get('a');
    const missing = cache.get('b');
    source.settle('a', 'A');
    source.settle('b', undefined);
    await Promise.all([found, missing]);
    vi.advanceTimersByTime(50);
    void cache.get('a');
    void cache.get('b');
    expect(source.loads).toBe(3);
    vi.advanceTimersByTime(60);
    void cache.get('a');
    expect(source.loads).toBe(4);
  });

  it('counts ages on the monotonic clock: a wall clock stepped back holds nothing longer', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const source = manualSource();
    const cache = new LoadingCache<string, string | undefined>({ load: source.load, ttlMs: () => 100, maxEntries: 10 });
    const loaded = cache.get('a');
    source.settle('a', 'A');
    await loaded;
    // The wall clock goes back an hour (a VM's clock corrected), and then 101 ms pass.
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(101);
    void cache.get('a');
    expect(source.loads).toBe(2);
  });

  it('does not keep a failed load: every waiter sees the error, the next ask loads again', async () => {
    const source = manualSource();
    const cache = new LoadingCache<string, string | undefined>({ load: source.load, ttlMs: () => 60_000, maxEntries: 10 });
    const asks = [cache.get('a'), cache.get('a')];
    source.fail('a', new Error('connect ECONNREFUSED'));
    for (const ask of asks) await expect(ask).rejects.toThrow('ECONNREFUSED');
    await tick();
    const again = cache.get('a');
    source.settle('a', 'A');
    expect(await again).toBe('A');
    expect(source.loads).toBe(2);
  });

  it('stays bounded, dropping the oldest insertion', async () => {
    const cache = new LoadingCache<string, string>({ load: async (key) => key.toUpperCase(), ttlMs: () => 60_000, maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) await cache.get(key);
    expect(cache.peek('a')).toBeUndefined();
    expect(await cache.peek('b')).toBe('B');
    expect(await cache.peek('c')).toBe('C');
  });

  it('forgets and replaces entries on request; peek never loads', async () => {
    let loads = 0;
    const cache = new LoadingCache<string, string>({ load: async (key) => `${key}${(loads += 1)}`, ttlMs: () => Number.POSITIVE_INFINITY, maxEntries: 10 });
    expect(cache.peek('a')).toBeUndefined();
    expect(await cache.get('a')).toBe('a1');
    cache.set('a', 'written');
    expect(await cache.get('a')).toBe('written');
    cache.forget('a');
    expect(await cache.get('a')).toBe('a2');
    expect(loads).toBe(2);
  });
});
