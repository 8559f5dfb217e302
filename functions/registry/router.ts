/**
 * The registry's route table on the shared request layer (shared/runtime/http.ts): a route is
 * a method, a path pattern and a handler; the first route whose pattern matches answers.
 * Patterns keep the matching the admin API has always had: the plain paths ignore case and
 * take a trailing slash, the `:verb` paths (IoT Core's custom methods) match exactly.
 */
import type { z } from 'zod';
import { classifyDbError } from '../../shared/db/database.ts';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import { decodePathSegment, parseIds } from '../../shared/ids.ts';
import type { WireHandler, WireRequest, WireResponse } from '../../shared/runtime/http.ts';
import { DevicePathIds } from '../../schemas/ids.ts';

export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: RegExp;
  /** `params` are the pattern's groups, still percent-encoded. */
  handle(req: WireRequest, params: string[]): Promise<WireResponse>;
}

export function routeRequests(routes: readonly Route[]): WireHandler {
  return async (req) => {
    // HEAD is a GET whose body node:http leaves out.
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    for (const route of routes) {
      const match = route.method === method ? route.path.exec(req.path) : null;
      if (!match) continue;
      try {
        return await route.handle(req, match.slice(1) as string[]);
      } catch (error) {
        // A refusal of the request is final; only the rest may be the database's failure.
        throw error instanceof HttpError ? error : classifyDbError(error, 'registry');
      }
    }
    throw new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`);
  };
}

/** Parses the query string with `schema`; a repeated parameter is a list (which a single-valued one refuses). */
export function parseQuery<S extends z.ZodType>(schema: S, req: WireRequest): z.infer<S> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(req.query.keys())) {
    const values = req.query.getAll(key);
    query[key] = values.length === 1 ? (values[0] as string) : values;
  }
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new ValidationError('invalid query parameters', toIssues(parsed.error.issues));
  return parsed.data;
}

/**
 * The device id of a path, percent-decoded (`%25`, `+`, `~` survive); an id no device can have
 * (a NUL byte, which PostgreSQL cannot even compare, a 5,000-character id) is 400 before any
 * store is asked.
 */
export const deviceIdOf = (encoded: string | undefined): string =>
  parseIds(DevicePathIds, { deviceId: decodePathSegment(encoded ?? '', 'deviceId') }).deviceId;
