/**
 * The work budget (shared/runtime/work-budget.ts): shares taken at once while they fit, the rest
 * in their order, a share larger than the whole run alone, and a wait that runs out refused with
 * 429 without holding back those behind it. The push functions' use of it, under a real heap
 * limit, is in test/ingest-memory.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../../shared/errors.ts';
import { createWorkBudget } from '../../../shared/runtime/work-budget.ts';

/** Whether a promise has settled by the time the microtasks queued now have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('work budget', () => {
  it('gives shares at once while they fit, and makes the next wait until one is given back', async () => {
    const budget = createWorkBudget(100);
    const first = await budget.take(60, 10_000);
    const second = await budget.take(40, 10_000);
    expect(budget.used).toBe(100);
    const third = budget.take(1, 10_000);
    expect(await settled(third)).toBe(false);
    expect(budget.waiting).toBe(1);
    second();
    expect(await settled(third)).toBe(true);
    expect(budget.used).toBe(61);
    // Giving back twice gives back once.
    second();
    expect(budget.used).toBe(61);
    first();
    (await third)();
    expect(budget.used).toBe(0);
  });

  it('admits in arrival order: a small share does not overtake a large one waiting', async () => {
    const budget = createWorkBudget(100);
    const held = await budget.take(90, 10_000);
    const order: string[] = [];
    const large = budget.take(50, 10_000).then((giveBack) => (order.push('large'), giveBack));
    const small = budget.take(5, 10_000).then((giveBack) => (order.push('small'), giveBack));
    // 5 would fit beside the 90 held, but the 50 came first.
    expect(await settled(small)).toBe(false);
    held();
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
    expect(budget.used).toBe(55);
  });

  it('runs a share larger than the whole budget alone, and counts an empty body as one', async () => {
    const budget = createWorkBudget(100);
    const small = await budget.take(0, 10_000);
    expect(budget.used).toBe(1);
    const huge = budget.take(10_000, 10_000);
    expect(await settled(huge)).toBe(false);
    small();
    const giveBack = await huge;
    expect(budget.used).toBe(100);
    giveBack();
    expect(budget.used).toBe(0);
  });

  it('refuses a share that waited too long with 429 and Retry-After, and lets those behind it in', async () => {
    const budget = createWorkBudget(100);
    const held = await budget.take(80, 10_000);
    const refused = budget.take(50, 30);
    const behind = budget.take(20, 10_000);
    const error = await refused.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 429, code: 'overloaded', headers: { 'Retry-After': '10' }, limit: 'IN_FLIGHT_BYTES' });
    // The 20 behind the refused 50 fits beside the 80 and goes in without anything given back.
    expect(await settled(behind)).toBe(true);
    expect([budget.used, budget.waiting]).toEqual([100, 0]);
    held();
    (await behind)();
    expect(budget.used).toBe(0);
  });

  it('refuses at once a share that would make more than maxWaiting wait', async () => {
    const budget = createWorkBudget(100, { maxWaiting: 60 });
    const held = await budget.take(100, 10_000);
    const first = budget.take(50, 10_000);
    await expect(budget.take(20, 10_000)).rejects.toMatchObject({ status: 429, code: 'overloaded' });
    expect([budget.waiting, await settled(first)]).toEqual([1, false]);
    // 10 more still fits beside the 50 waiting.
    const second = budget.take(10, 10_000);
    held();
    (await first)();
    (await second)();
    expect(budget.used).toBe(0);
  });

  it('lets a small share wait beyond maxWaiting: large ones waiting do not refuse it at once', async () => {
    const budget = createWorkBudget(100, { maxWaiting: 60, smallShare: 5 });
    const held = await budget.take(100, 10_000);
    const large = budget.take(60, 10_000);
    await expect(budget.take(6, 10_000)).rejects.toMatchObject({ status: 429, code: 'overloaded' });
    const small = budget.take(5, 10_000);
    expect([budget.waiting, await settled(small)]).toEqual([2, false]);
    held();
    (await large)();
    (await small)();
    expect(budget.used).toBe(0);
  });

  it('needs a positive capacity', () => {
    for (const capacity of [0, -1, Number.NaN]) expect(() => createWorkBudget(capacity)).toThrow(/positive capacity/);
  });
});
