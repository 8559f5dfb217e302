import { describe, expect, it } from 'vitest';
import { DeadlineError } from '../../shared/deadline.ts';
import { GroupCommit } from '../../shared/group-commit.ts';

const settle = () => new Promise((r) => setTimeout(r, 5));

/** A GroupCommit whose first flush waits until `release()`; every batch is kept in `batches`. */
function holdingFirstFlush(options: { maxItems: number; maxWaitMs: number }) {
  const batches: number[][] = [];
  let release: () => void = () => {};
  const gc = new GroupCommit<number>({
    ...options,
    maxConcurrentFlushes: 1,
    flush: async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
    },
  });
  return { gc, batches, release: () => release() };
}

describe('GroupCommit', () => {
  it('batches items submitted together and resolves each when its batch is written', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number>({ maxItems: 100, maxWaitMs: 5, maxConcurrentFlushes: 1, flush: async (items) => void batches.push(items) });
    await Promise.all(Array.from({ length: 10 }, (_, i) => gc.submit(i)));
    expect(batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  });

  it('caps a batch by weight and accumulates while a flush is in flight', async () => {
    const { gc, batches, release } = holdingFirstFlush({ maxItems: 4, maxWaitMs: 1 });
    const first = gc.submit(0);
    await settle();
    const rest = Array.from({ length: 9 }, (_, i) => gc.submit(i + 1));
    await settle();
    expect(batches).toEqual([[0]]);
    release();
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]);
  });

  it('with no wait, writes the first item at once and gathers what arrives during the write', async () => {
    const { gc, batches, release } = holdingFirstFlush({ maxItems: Number.POSITIVE_INFINITY, maxWaitMs: 0 });
    const first = gc.submit(0);
    // Written before any timer could fire: the flush has started synchronously.
    expect(batches).toEqual([[0]]);
    const rest = Array.from({ length: 5 }, (_, i) => gc.submit(i + 1));
    expect(batches).toEqual([[0]]);
    release();
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[0], [1, 2, 3, 4, 5]]);
  });

  it('fails only the items the flush marks, or all when it throws', async () => {
    const gc = new GroupCommit<number>({
      maxItems: 10,
      maxWaitMs: 1,
      maxConcurrentFlushes: 1,
      flush: async (items) => {
        if (items.includes(99)) throw new Error('down');
        return items.map((i) => (i % 2 ? new Error(`odd ${i}`) : undefined));
      },
    });
    const results = await Promise.allSettled([gc.submit(1), gc.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    await expect(gc.submit(99)).rejects.toThrow('down');
  });

  it('drain writes what is pending and waits for it', async () => {
    const written: number[] = [];
    const gc = new GroupCommit<number>({ maxItems: 1000, maxWaitMs: 10_000, maxConcurrentFlushes: 1, flush: async (items) => void written.push(...items) });
    const pending = [gc.submit(1), gc.submit(2)];
    await gc.drain();
    expect(written).toEqual([1, 2]);
    await Promise.all(pending);
  });

  it('fails a batch whose write outlives flushTimeoutMs, frees its slot, and reports it until it settles', async () => {
    let release!: () => void;
    const hung = new Promise<void>((resolve) => (release = resolve));
    const written: number[][] = [];
    let calls = 0;
    const gc = new GroupCommit<number>({
      maxItems: 10,
      maxWaitMs: 0,
      maxConcurrentFlushes: 1,
      flushTimeoutMs: 50,
      // The first write hangs (a dependency that stopped answering); later ones work.
      flush: async (items) => {
        calls += 1;
        if (calls === 1) return hung;
        written.push(items);
      },
    });
    const first = gc.submit(1);
    await expect(first).rejects.toBeInstanceOf(DeadlineError);
    expect(gc.health().ok).toBe(false);
    // The only slot is free again although the first write never returned.
    await gc.submit(2);
    expect(written).toEqual([[2]]);
    release();
    await hung;
    await new Promise((r) => setImmediate(r));
    expect(gc.health()).toEqual({ ok: true, problems: [] });
  });
});
