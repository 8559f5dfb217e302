/**
 * The access log every function writes, whichever HTTP layer answered (the shared request
 * layer, or the registry's Express app): one `request` line per request with method, path,
 * status and latency, and one `request failed` line with the error for answers that are the
 * server's fault. Nothing here logs a header or a body, so no credential reaches the logs.
 */
import type { Logger } from '../log.ts';

export interface AccessEntry {
  method: string | undefined;
  path: string;
  status: number;
  /** `performance.now()` when the request arrived. */
  startedAt: number;
  /** What the handler adds (the error code, the push form, ...). */
  fields?: Record<string, unknown>;
}

/**
 * Logs one request at INFO (WARNING for 5xx; DEBUG for successes of a function that asked to be
 * quiet). `requestLog` builds the request's logger (with its trace) only when the line is kept.
 */
export function logRequest(logger: Logger, requestLog: () => Logger, entry: AccessEntry, options: { quietSuccess?: boolean } = {}): void {
  const severity = entry.status >= 500 ? 'WARNING' : options.quietSuccess && entry.status < 300 ? 'DEBUG' : 'INFO';
  if (!logger.enabled(severity)) return;
  const latencyMs = Math.round((performance.now() - entry.startedAt) * 100) / 100;
  const fields = { method: entry.method, path: entry.path, status: entry.status, latencyMs, ...entry.fields };
  if (severity === 'WARNING') requestLog().warn('request', fields);
  else if (severity === 'DEBUG') requestLog().debug('request', fields);
  else requestLog().info('request', fields);
}

/** A 500 is a bug (ERROR, with its stack); a 503 is a dependency away for a while (WARNING). */
export function logFailure(log: Logger, status: number, error: unknown, fields: Record<string, unknown>): void {
  if (status === 500) log.error('request failed', { error, ...fields });
  else if (status >= 500) log.warn('request failed', { error, ...fields });
}
