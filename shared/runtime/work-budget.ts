/**
 * A bound on the work a function holds at once, counted in a unit the function chooses (a
 * push function counts message bytes): a request takes its share before its work starts and
 * gives it back when answered; one that does not fit waits its turn, first come first served,
 * and is refused with 429 once it has waited `waitMs` (Pub/Sub redelivers it later).
 *
 * Why: Knative hands a function as many requests at once as its containerConcurrency, and a
 * message's work can be a hundred times its bytes. Ingest took 400 pushes of one reading each
 * in its 512 MiB, but ten pushes of the largest message the bridge publishes (23,000 warehouse
 * rows each) took it to 521 MB, and 25 killed it ("JavaScript heap out of memory"), every
 * message in flight with it, again at each redelivery.
 */
import { getHeapStatistics } from 'node:v8';
import { HttpError } from '../errors.ts';

/**
 * The bytes of requests a function may hold at once, from the heap it runs with (`NODE_OPTIONS`
 * in its manifest): half of the heap over what a byte may cost while it is handled.
 */
export function heapShare(memoryPerByte: number, heapBytes = getHeapStatistics().heap_size_limit): number {
  return Math.floor(heapBytes / 2 / memoryPerByte);
}

export interface WorkBudget {
  /**
   * Takes `amount` (at most the whole capacity: a request larger than the budget runs alone),
   * waiting up to `waitMs` for it; resolves to the function that gives it back (once).
   */
  take(amount: number, waitMs: number): Promise<() => void>;
  /** What is taken now, and how many wait. */
  readonly used: number;
  readonly waiting: number;
}

interface Waiter {
  amount: number;
  grant: () => void;
}

export interface WorkBudgetOptions {
  /**
   * At most this much may wait; a share that would wait beyond it is refused with 429 at once.
   * For a caller whose waiting requests hold their bytes already (a body read before its share
   * is taken), this bounds those bytes too.
   */
  maxWaiting?: number;
  /**
   * A share at most this large is never refused for `maxWaiting`: it waits its turn. Else one
   * caller's large requests filling the room for waiting ones refuse everyone's small ones at
   * once; the small ones waiting beyond it hold little (at most this much each).
   */
  smallShare?: number;
  /** The limit's name in a 429's `limit` (answers name the limit hit). */
  limitName?: string;
}

export function createWorkBudget(capacity: number, options: WorkBudgetOptions = {}): WorkBudget {
  if (!(capacity > 0)) throw new Error(`a work budget needs a positive capacity, not ${capacity}`);
  const maxWaiting = options.maxWaiting ?? Infinity;
  const smallShare = options.smallShare ?? 0;
  let used = 0;
  let waitingAmount = 0;
  const queue: Waiter[] = [];
  const limit = options.limitName ?? 'IN_FLIGHT_BYTES';
  const busy = (why: string) => new HttpError(429, 'overloaded', `busy: ${why}; retry later`, { headers: { 'Retry-After': '10' }, limit });

  const giveBack = (amount: number) => {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      used -= amount;
      admitWaiting();
    };
  };

  /** Admits waiting requests in their order while the first fits: a large one is not overtaken for ever. */
  function admitWaiting(): void {
    while (queue.length > 0 && used + (queue[0] as Waiter).amount <= capacity) {
      const next = queue.shift() as Waiter;
      waitingAmount -= next.amount;
      used += next.amount;
      next.grant();
    }
  }

  return {
    take(requested, waitMs) {
      const amount = Math.min(Math.max(requested, 1), capacity);
      if (queue.length === 0 && used + amount <= capacity) {
        used += amount;
        return Promise.resolve(giveBack(amount));
      }
      if (amount > smallShare && waitingAmount + amount > maxWaiting) return Promise.reject(busy('too much work is waiting for room already'));
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          amount,
          grant: () => {
            clearTimeout(timer);
            resolve(giveBack(amount));
          },
        };
        const timer = setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          waitingAmount -= amount;
          // The one that left may have held back smaller ones behind it.
          admitWaiting();
          reject(busy(`the work in flight left no room for this request within ${Math.round(waitMs / 1000)} s`));
        }, waitMs);
        queue.push(waiter);
        waitingAmount += amount;
      });
    },
    get used() {
      return used;
    },
    get waiting() {
      return queue.length;
    },
  };
}
