/** The error kinds and the one mapping from an error to an HTTP answer (shared/errors.ts). */
import { describe, expect, it } from 'vitest';
import { errorResponse, formatPath, HttpError, isProgrammingError, PermanentError, toIssues, TransientError, ValidationError } from '../../shared/errors.ts';

describe('isProgrammingError', () => {
  it('is told apart from a network failure that fetch reports as a TypeError', () => {
    expect(isProgrammingError(new RangeError('Maximum call stack size exceeded'))).toBe(true);
    expect(isProgrammingError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(true);
    expect(isProgrammingError(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }))).toBe(
      false,
    );
    expect(isProgrammingError(new Error('IO Error: No space left on device'))).toBe(false);
  });
});

describe('errorResponse', () => {
  it('answers an HttpError with its status, code, issues, headers and limit', () => {
    const error = new HttpError(429, 'too_many_requests', 'slow down', { headers: { 'Retry-After': '3' }, limit: 'BRIDGE_RATE_LIMIT' });
    expect(errorResponse(error)).toEqual({
      status: 429,
      headers: { 'Retry-After': '3' },
      body: { error: 'too_many_requests', message: 'slow down', limit: 'BRIDGE_RATE_LIMIT' },
    });
    const invalid = new ValidationError('bad body', [{ path: 'a.0', message: 'required' }]);
    expect(errorResponse(invalid)).toMatchObject({ status: 400, body: { error: 'invalid_argument', issues: [{ path: 'a.0', message: 'required' }] } });
  });

  it('asks for a retry on a TransientError: 503 after 1 s, or 429 when it says how long to wait', () => {
    expect(errorResponse(new TransientError('database down'))).toEqual({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { error: 'unavailable', message: 'database down' },
    });
    expect(errorResponse(new TransientError('pool full', { retryAfterSeconds: 5 }))).toMatchObject({ status: 429, headers: { 'Retry-After': '5' } });
  });

  it('answers a PermanentError with 400 and its reason, and hides anything else behind a 500', () => {
    expect(errorResponse(new PermanentError('unknown_device', 'no such device'))).toEqual({
      status: 400,
      body: { error: 'unknown_device', message: 'no such device', issues: [] },
    });
    expect(errorResponse(new Error('secret detail'))).toEqual({ status: 500, body: { error: 'internal', message: 'internal error' } });
  });
});

describe('toIssues', () => {
  it('writes zod paths dotted, under the given prefix', () => {
    expect(formatPath(['readings', 3, 'metrics', 'temp'])).toBe('readings.3.metrics.temp');
    expect(toIssues([{ path: ['message', 'data'], message: 'required' }], ['body'])).toEqual([{ path: 'body.message.data', message: 'required' }]);
  });
});
