/**
 * The two kinds of failure and the HTTP-facing errors, mapped to responses
 * in one place: `errorResponse`.
 */

export interface Issue {
  path: string;
  message: string;
}

/** Bad data or an unknown device: retrying cannot help. Record it and acknowledge. */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  readonly reason: string;
  readonly issues: Issue[];
  constructor(reason: string, message: string, options: { issues?: Issue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.reason = reason;
    this.issues = options.issues ?? [];
  }
}

/** A store or service that is down or overloaded: answer so that the sender retries. */
export class TransientError extends Error {
  override readonly name: string = 'TransientError';
  readonly retryAfterSeconds?: number;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A request the caller must fix; carries every issue with its path. */
export class HttpError extends Error {
  override readonly name: string = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly issues?: Issue[];
  readonly headers?: Record<string, string>;
  /** Which limit a 429 hit (its configuration name), answered as `limit`. */
  readonly limit?: string;
  constructor(status: number, code: string, message: string, extra: { issues?: Issue[]; headers?: Record<string, string>; limit?: string } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = extra.issues;
    this.headers = extra.headers;
    this.limit = extra.limit;
  }
}

export class ValidationError extends HttpError {
  override readonly name: string = 'ValidationError';
  constructor(message: string, issues: Issue[]) {
    super(400, 'invalid_argument', message, { issues });
  }
}

/**
 * An error of the program itself (TypeError, RangeError such as a stack overflow, …), not of
 * a dependency: retrying the same input fails the same way, so it is never transient.
 * fetch reports a network failure as `TypeError('fetch failed')` with the socket error as its
 * cause; that one is the network's, not the program's.
 */
export function isProgrammingError(error: unknown): boolean {
  const builtIn =
    error instanceof TypeError ||
    error instanceof RangeError ||
    error instanceof ReferenceError ||
    error instanceof SyntaxError ||
    error instanceof EvalError ||
    error instanceof URIError;
  if (!builtIn) return false;
  const cause = (error as { cause?: unknown }).cause;
  return !(typeof cause === 'object' && cause !== null && 'code' in cause);
}

export const isPermanentError = (e: unknown): e is PermanentError => e instanceof PermanentError;

/** zod-style issue paths as a dotted string: `readings.3.metrics.temp`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

export function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix: readonly PropertyKey[] = []): Issue[] {
  return issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }));
}

export interface ErrorResponse {
  status: number;
  headers?: Record<string, string>;
  body: { error: string; message: string; issues?: Issue[]; limit?: string };
}

/** The one mapping from an error to an HTTP answer. Unknown errors are 500 (and logged). */
export function errorResponse(error: unknown): ErrorResponse {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      headers: error.headers,
      body: { error: error.code, message: error.message, ...(error.issues ? { issues: error.issues } : {}), ...(error.limit ? { limit: error.limit } : {}) },
    };
  }
  if (error instanceof TransientError) {
    const retryAfter = error.retryAfterSeconds;
    return {
      status: retryAfter !== undefined ? 429 : 503,
      headers: { 'Retry-After': String(retryAfter ?? 1) },
      body: { error: 'unavailable', message: error.message },
    };
  }
  if (error instanceof PermanentError) {
    return { status: 400, body: { error: error.reason, message: error.message, issues: error.issues } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}
