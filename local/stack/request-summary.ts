/**
 * The local stack's terminal stays readable: instead of one line per request, one summary
 * line every interval in which something happened (requests, readings the bridge accepted,
 * Pub/Sub pushes stored or rejected). Requests that failed on the server (WARNING, ERROR)
 * are still logged one by one; `LOG_LEVEL=debug` brings every request line back.
 */
import type { LogFields, Logger } from '../../shared/log.ts';

export interface RequestCounts {
  requests: number;
  /** Bridge requests answered 2xx, and the readings they carried. */
  accepted: number;
  readings: number;
  /** Bridge requests refused (4xx): bad credential, invalid body, rate limit. */
  refused: number;
  /** Pushes (ingest, deadletter) stored, and those acked as permanently rejected. */
  stored: number;
  rejected: number;
  /** Answers 5xx, from any function. */
  failed: number;
}

const zero = (): RequestCounts => ({ requests: 0, accepted: 0, readings: 0, refused: 0, stored: 0, rejected: 0, failed: 0 });

/** Adds one request line's fields (as the shared listener logs them) to the counts. */
export function countRequest(counts: RequestCounts, fields: LogFields): void {
  counts.requests += 1;
  const status = typeof fields.status === 'number' ? fields.status : 0;
  if (status >= 500) counts.failed += 1;
  if (typeof fields.outcome === 'string') {
    // The bridge names each answer's outcome.
    if (fields.outcome === 'accepted') {
      counts.accepted += 1;
      counts.readings += typeof fields.readings === 'number' ? fields.readings : 0;
    } else if (status >= 400 && status < 500) counts.refused += 1;
  } else if (typeof fields.form === 'string') {
    // A Pub/Sub push: acked as stored, or acked as rejected (with its reason).
    if (typeof fields.reason === 'string') counts.rejected += 1;
    else if (status >= 200 && status < 300) counts.stored += 1;
  }
}

export function formatSummary(counts: RequestCounts, seconds: number): string {
  const parts = [
    `${counts.requests} requests in ${seconds} s`,
    `accepted ${counts.accepted} (${counts.readings} readings)`,
    `refused ${counts.refused}`,
    `stored ${counts.stored}`,
    `rejected ${counts.rejected}`,
  ];
  if (counts.failed > 0) parts.push(`5xx ${counts.failed}`);
  return parts.join(', ');
}

export interface RequestSummary {
  logger: Logger;
  /** Logs what the current interval counted, and stops the timer. */
  stop(): void;
}

/**
 * Wraps `logger`: per-request lines below WARNING are counted, not written, unless the logger
 * writes DEBUG lines; every `intervalMs` in which requests arrived, one INFO line sums them up.
 */
export function summarizeRequests(logger: Logger, options: { intervalMs?: number } = {}): RequestSummary {
  const intervalMs = options.intervalMs ?? 10_000;
  const verbose = logger.enabled('DEBUG');
  let counts = zero();
  const flush = () => {
    if (counts.requests === 0) return;
    const seconds = Math.round(intervalMs / 1000);
    logger.info(formatSummary(counts, seconds), { summary: counts });
    counts = zero();
  };
  const timer = verbose ? undefined : setInterval(flush, intervalMs);
  timer?.unref();

  const wrap = (inner: Logger): Logger => {
    const quiet = (write: (m: string, f?: LogFields) => void) => (message: string, fields?: LogFields) => {
      if (!verbose && message === 'request') countRequest(counts, fields ?? {});
      else write(message, fields);
    };
    return {
      debug: quiet((m, f) => inner.debug(m, f)),
      info: quiet((m, f) => inner.info(m, f)),
      warn: (m, f) => {
        if (m === 'request') countRequest(counts, f ?? {});
        inner.warn(m, f);
      },
      error: (m, f) => inner.error(m, f),
      child: (fields) => wrap(inner.child(fields)),
      // The listener skips building a request line the logger would not write; counting needs it.
      enabled: (severity) => (severity === 'DEBUG' || severity === 'INFO' ? true : inner.enabled(severity)),
    };
  };
  return {
    logger: wrap(logger),
    stop() {
      if (timer) clearInterval(timer);
      flush();
    },
  };
}
