/**
 * The one way a function turns raw path segments into identifiers: percent-decoded, then
 * checked by the schemas of schemas/ids.ts. Anything else is 400 with every issue named,
 * before authentication and before any store is asked.
 */
import type { z } from 'zod';
import { toIssues, ValidationError } from './errors.ts';

/** Percent-decodes one path segment; a malformed escape or bytes that are not UTF-8 are 400. */
export function decodePathSegment(raw: string, name: string): string {
  // Nothing to decode: the common case, spared decodeURIComponent's walk.
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ValidationError('invalid identifier in the path', [{ path: name, message: 'is not valid percent-encoded UTF-8' }]);
  }
}

/** Parses identifiers with one of schemas/ids.ts's schemas, or throws 400 naming each bad one. */
export function parseIds<S extends z.ZodType>(schema: S, values: Record<string, string>): z.infer<S> {
  const parsed = schema.safeParse(values);
  if (!parsed.success) throw new ValidationError('invalid identifier in the path', toIssues(parsed.error.issues));
  return parsed.data;
}
