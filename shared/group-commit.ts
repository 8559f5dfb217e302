/**
 * Group commit: concurrent requests in one instance share batched writes. Items wait at most
 * `maxWaitMs` (or until `maxItems` rows are pending); while `maxConcurrentFlushes` batches are
 * being written, new items accumulate, so batches grow with load. Each submitter's promise
 * settles when the batch holding its item has committed (or failed).
 *
 * A batch that outlives `flushTimeoutMs` fails its items with DeadlineError and gives its slot
 * back: a dependency that stopped answering can delay a batch, never wedge the instance. The
 * abandoned write is still watched; until it settles, `health()` reports it.
 */
import { DeadlineError, type HealthStatus } from './deadline.ts';

export interface GroupCommitOptions<T> {
  /** Rows per batch (by `weight`). */
  maxItems: number;
  /**
   * How long the first item of a batch may wait for company. 0: none; a batch is written as
   * soon as a slot is free, and what arrives meanwhile forms the next one.
   */
  maxWaitMs: number;
  maxConcurrentFlushes: number;
  /** Rows an item counts for; 1 by default. */
  weight?: (item: T) => number;
  /**
   * Writes a batch. Throwing fails every item; returning an array fails the items whose
   * entry is an error (the others succeed).
   */
  flush: (items: T[]) => Promise<(Error | undefined)[] | void>;
  /** The longest a batch may hold a slot; past it, its items fail (transient) and the slot is freed. */
  flushTimeoutMs?: number;
}

interface Pending<T> {
  item: T;
  weight: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T> {
  private readonly options: GroupCommitOptions<T>;
  private queue: Pending<T>[] = [];
  private queuedWeight = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Writes that outlived their deadline and have not settled yet. */
  private abandoned = 0;
  private lastTimeoutAt: number | undefined;

  constructor(options: GroupCommitOptions<T>) {
    this.options = options;
  }

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      const weight = this.options.weight?.(item) ?? 1;
      this.queue.push({ item, weight, resolve, reject });
      this.queuedWeight += weight;
      if (this.queuedWeight >= this.options.maxItems || this.options.maxWaitMs <= 0) this.flushNow();
      else this.timer ??= setTimeout(() => this.flushNow(), this.options.maxWaitMs);
    });
  }

  /** Writes everything pending now and resolves when nothing is pending or in flight. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.flushNow();
    });
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && this.inFlight < this.options.maxConcurrentFlushes) {
      void this.runBatch(this.takeBatch());
    }
  }

  private takeBatch(): Pending<T>[] {
    let weight = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || weight + (this.queue[count] as Pending<T>).weight <= this.options.maxItems)) {
      weight += (this.queue[count] as Pending<T>).weight;
      count += 1;
    }
    const batch = this.queue.slice(0, count);
    this.queue = this.queue.slice(count);
    this.queuedWeight -= weight;
    return batch;
  }

  /** Unhealthy while a write that outlived its deadline is still pending somewhere. */
  health(): HealthStatus {
    if (this.abandoned === 0) return { ok: true, problems: [] };
    const ago = this.lastTimeoutAt === undefined ? 0 : Math.round((performance.now() - this.lastTimeoutAt) / 1000);
    return {
      ok: false,
      problems: [`${this.abandoned} batch write(s) outlived their ${this.options.flushTimeoutMs ?? 0} ms deadline (last ${ago} s ago) and have not settled`],
    };
  }

  /** The flush, bounded by flushTimeoutMs when one is set. */
  private flushWithin(items: T[]): Promise<(Error | undefined)[] | void> {
    const work = this.options.flush(items);
    const ms = this.options.flushTimeoutMs;
    if (ms === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.abandoned += 1;
        this.lastTimeoutAt = performance.now();
        const settled = () => {
          this.abandoned -= 1;
        };
        work.then(settled, settled);
        reject(new DeadlineError('batch write', ms, `${items.length} item(s)`));
      }, ms);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  private async runBatch(batch: Pending<T>[]): Promise<void> {
    this.inFlight += 1;
    try {
      const results = await this.flushWithin(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        const error = results?.[i];
        if (error) p.reject(error);
        else p.resolve();
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.inFlight -= 1;
      this.afterBatch();
    }
  }

  private afterBatch(): void {
    if (this.queue.length > 0) {
      // Items queued during the write have already waited; take them now.
      this.flushNow();
    } else if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
