/**
 * A request's JSON body for the stack's internal API (local/stack/internal-api.ts),
 * read by the rules its clients were written against (Express's JSON parser):
 * - a request that does not say `Content-Type: application/json`, or carries no body at all,
 *   has no JSON body (the route decides whether that is a 415 or "no filters");
 * - a declared but empty body is `{}`;
 * - the charset may be any UTF (415 otherwise), and the top level is an object or an array.
 * The body itself was read under the function's limit by the request layer (http.ts).
 */
import type { z } from 'zod';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import type { WireRequest } from '../../shared/runtime/http.ts';

const JSON_MEDIA_TYPE = /^application\/json[ \t]*(?:;|$)/i;
const CHARSET = /;[ \t]*charset[ \t]*=[ \t]*"?([^";]+)"?/i;

/** The parsed body, or undefined when the request did not send one as JSON. */
export function jsonBody(req: Pick<WireRequest, 'headers' | 'body'>): unknown {
  const contentType = req.headers['content-type'] ?? '';
  const declaresBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (!declaresBody || !JSON_MEDIA_TYPE.test(contentType)) return undefined;
  const text = decode(req.body, (CHARSET.exec(contentType)?.[1] ?? 'utf-8').trim().toLowerCase());
  if (text.length === 0) return {};
  const first = /[^ \t\n\r]/.exec(text)?.[0];
  if (first !== '{' && first !== '[')
    throw new HttpError(
      400,
      'invalid_json',
      `malformed JSON body: expected an object or an array, found ${first === undefined ? 'only white space' : `"${first}"`}`,
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `malformed JSON body: ${(error as Error).message}`);
  }
}

/** The JSON body parsed with `schema`: 415 when there is none, 400 with every issue when it does not fit. */
export function parseJsonBody<S extends z.ZodType>(schema: S, req: Pick<WireRequest, 'headers' | 'body'>): z.infer<S> {
  const body = jsonBody(req);
  if (body === undefined) throw new HttpError(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ValidationError('invalid request body', toIssues(parsed.error.issues));
  return parsed.data;
}

function decode(body: Buffer, charset: string): string {
  if (charset.startsWith('utf-')) {
    try {
      return new TextDecoder(charset).decode(body);
    } catch {
      // An unknown label: refused like any other charset.
    }
  }
  throw new HttpError(415, 'unsupported_media_type', `unsupported charset "${charset.toUpperCase()}"`);
}
