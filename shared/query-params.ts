/**
 * Query strings read the same way by every API: parsed by a zod schema, every issue named at
 * once (up to MAX_QUERY_ISSUES), an unknown parameter by its name, and a parameter given twice
 * refused rather than settled by one of its copies (`metrics=a&metrics=b` would have read only
 * one): lists are comma-separated.
 */
import type { z } from 'zod';
import { toIssues, ValidationError, type Issue } from './errors.ts';

/** What a repeated parameter is told: a list goes in one value (`metrics=a,b`), anything else once. */
export const REPEATED = 'is given more than once; give it once (a list is one comma-separated value: a,b)';

/** Issues named at most in one answer: a query string of a thousand unknown names is answered in a few lines. */
export const MAX_QUERY_ISSUES = 50;

/** The query parsed by `schema`; else a ValidationError naming every issue. */
export function parseQueryParams<S extends z.ZodType>(schema: S, query: URLSearchParams): z.infer<S> {
  const repeated = [...new Set(query.keys())].filter((key) => query.getAll(key).length > 1);
  const parsed = schema.safeParse(Object.fromEntries(query));
  if (parsed.success && repeated.length === 0) return parsed.data;
  const unknown = new Set((parsed.error?.issues ?? []).flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : [])));
  const issues: Issue[] = [
    // An unknown parameter is named once, as unknown, however often it came.
    ...repeated.filter((key) => !unknown.has(key)).map((key) => ({ path: clip(key), message: REPEATED })),
    ...[...unknown].map((key) => ({ path: clip(key), message: 'is not a parameter of this endpoint' })),
    ...toIssues((parsed.error?.issues ?? []).filter((issue) => issue.code !== 'unrecognized_keys')),
  ];
  const named = issues.slice(0, MAX_QUERY_ISSUES);
  if (issues.length > named.length) named.push({ path: '', message: `and ${issues.length - named.length} more issues` });
  throw new ValidationError('invalid query parameters', named);
}

const MAX_NAME_CHARS = 100;

/** A parameter's name as an issue path: its first 100 characters, not ending in half a surrogate pair. */
function clip(key: string): string {
  const end = key.length > MAX_NAME_CHARS && /[\uD800-\uDBFF]/.test(key.charAt(MAX_NAME_CHARS - 1)) ? MAX_NAME_CHARS - 1 : MAX_NAME_CHARS;
  return key.slice(0, end);
}

/** The query string of a request target (`/path?a=1`), as URLSearchParams; a fragment a client sent along is not part of it. */
export function queryOf(target: string): URLSearchParams {
  const q = target.indexOf('?');
  if (q === -1) return new URLSearchParams();
  const hash = target.indexOf('#', q);
  return new URLSearchParams(target.slice(q + 1, hash === -1 ? undefined : hash));
}
