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
import { HttpError } from '../errors.ts';

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

export function createWorkBudget(capacity: number): WorkBudget {
  if (!(capacity > 0)) throw new Error(`a work budget needs a positive capacity, not ${capacity}`);
  let used = 0;
  const queue: Waiter[] = [];

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
          // The one that left may have held back smaller ones behind it.
          admitWaiting();
          reject(
            new HttpError(429, 'overloaded', `busy: the work in flight left no room for this request within ${Math.round(waitMs / 1000)} s; retry later`, {
              headers: { 'Retry-After': '10' },
            }),
          );
        }, waitMs);
        queue.push(waiter);
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
