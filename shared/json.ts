/**
 * JSON from the outside (a device's body, a Pub/Sub push, a CloudEvent's data, a message's
 * data), parsed in one place with one error: 400 `invalid_json`, naming what was being read
 * and where the parser stopped. Callers that must answer otherwise (ingest records a
 * rejection) keep the message and issues and change only the kind of error.
 */
import { isUtf8 } from 'node:buffer';
import { HttpError, toIssues, type Issue } from './errors.ts';

export class InvalidJsonError extends HttpError {
  override readonly name: string = 'InvalidJsonError';
  constructor(what: string, path: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(400, 'invalid_json', `${what} is not valid JSON: ${detail}`, { issues: [{ path, message: detail }] });
  }
}

/**
 * The document in `text`; `what` names it in the error, `path` is where it sits in the request.
 * Bytes must be UTF-8 (RFC 8259 §8.1): decoding would otherwise replace what is not with U+FFFD,
 * and a device's Latin-1 or binary bytes would be stored altered, the original lost.
 */
export function parseJson(text: string | Buffer, what: string, path = ''): unknown {
  if (typeof text !== 'string' && !isUtf8(text)) throw new InvalidJsonError(what, path, 'its bytes are not UTF-8');
  try {
    return JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (error) {
    throw new InvalidJsonError(what, path, error);
  }
}

/**
 * One part of a compact JWS (header or payload): base64url JSON that must be an object;
 * undefined for anything else, so that the caller refuses the token in its own words.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function decodeJwsPart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every `__proto__` key in a parsed document, as an issue. JSON.parse makes it an ordinary key,
 * but zod's records and objects skip it without a word (lest it replace their result's
 * prototype), so `{"metrics":{"t":1,"__proto__":42}}` was answered 202 with the metric silently
 * dropped, and a device's `__proto__` tag vanished from a 201. Looked for only as deep as the
 * documents go (a batch's readings' metrics are 4 deep, a batch's devices' tags 3): ingest's
 * messages are not depth-limited, and anything deeper is refused by the schemas anyway.
 */
export function protoKeyIssues(value: unknown, path: PropertyKey[] = []): Issue[] {
  if (typeof value !== 'object' || value === null || path.length > PROTO_SEARCH_DEPTH) return [];
  const entries: [PropertyKey, unknown][] = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  const issues = Object.hasOwn(value, '__proto__') ? toIssues([{ path: [...path, '__proto__'], message: '"__proto__" is not allowed as a key' }]) : [];
  for (const [key, item] of entries) issues.push(...protoKeyIssues(item, [...path, key]));
  return issues;
}

const PROTO_SEARCH_DEPTH = 8;
