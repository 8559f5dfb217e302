/**
 * Deadlines for calls that leave the process, and the record of how the instance's
 * dependencies are doing, which `/healthz` reads: an instance whose database stopped
 * answering says so, instead of taking requests it cannot finish.
 * @see ../docs/reliability.md "Deadlines and liveness"
 */
import { TransientError } from './errors.ts';

/** A dependency did not answer in time. Transient: a retry may find it back. */
export class DeadlineError extends TransientError {
  override readonly name: string = 'DeadlineError';
  readonly dependency: string;
  constructor(dependency: string, ms: number, what: string) {
    super(`${what}: ${dependency} did not answer within ${ms} ms`);
    this.dependency = dependency;
  }
}

/**
 * Settles like `work`, or rejects with DeadlineError after `ms`. The work itself is not
 * cancelled (the caller discards what it held, e.g. a connection); `onLate` sees it settle.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, dependency: string, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(dependency, ms, what)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** True for errors that mean "the dependency did not answer in time", ours or a client's. */
export function isTimeoutError(error: unknown): boolean {
  if (error instanceof DeadlineError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  // 57014: query_canceled (statement_timeout); ETIMEDOUT: TCP keepalive or connect.
  if (code === '57014' || code === 'ETIMEDOUT') return true;
  return /timeout|timed out|did not answer/i.test(error.message) || (error.cause !== undefined && isTimeoutError(error.cause));
}

export interface HealthStatus {
  ok: boolean;
  /** Why not, per dependency or component (never a secret). */
  problems: string[];
}

/**
 * Remembers, per dependency, whether its last call timed out. A dependency is unhealthy from
 * a timeout until its next success, or until `forgetAfterMs` passed with no call at all (an
 * idle instance must not stay out of rotation for a failure nobody retried).
 */
export class DependencyHealth {
  private readonly forgetAfterMs: number;
  private readonly timedOut = new Map<string, { at: number; what: string }>();
  constructor(options: { forgetAfterMs?: number } = {}) {
    this.forgetAfterMs = options.forgetAfterMs ?? 30_000;
  }

  succeeded(dependency: string): void {
    if (this.timedOut.size > 0) this.timedOut.delete(dependency);
  }

  failed(dependency: string, error: unknown): void {
    if (isTimeoutError(error)) this.timedOut.set(dependency, { at: performance.now(), what: error instanceof Error ? error.message : String(error) });
  }

  /** Observes a call: records its success or its timeout, and passes the outcome on. */
  observe<T>(dependency: string, call: Promise<T>): Promise<T> {
    // `then` rather than an async function: one promise less on every publish and query.
    return call.then(
      (value) => {
        this.succeeded(dependency);
        return value;
      },
      (error: unknown) => {
        this.failed(dependency, error);
        throw error;
      },
    );
  }

  /** `now` on the monotonic clock (`performance.now()`), as the timeouts are recorded. */
  status(now = performance.now()): HealthStatus {
    const problems: string[] = [];
    for (const [dependency, { at, what }] of this.timedOut) {
      if (now - at > this.forgetAfterMs) this.timedOut.delete(dependency);
      else problems.push(`${dependency} timed out ${Math.round((now - at) / 1000)} s ago (${what})`);
    }
    return { ok: problems.length === 0, problems };
  }
}
