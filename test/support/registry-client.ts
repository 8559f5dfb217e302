/**
 * A small client for the registry's admin API in tests: JSON in, status and JSON out.
 */
import { afterAll, beforeAll } from 'vitest';
import registry from '../../functions/registry/index.ts';
import { createTestDatabase, startFunction, type ServedFunction, type TestDatabase } from './kit.ts';

export interface RegistryAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RegistryCallOptions {
  /** The admin token to present; `null` sends no Authorization header. */
  token?: string | null;
  /** Sent as is instead of JSON.stringify(body). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export function createRegistryClient(baseUrl: string, adminToken: string) {
  return async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    options: RegistryCallOptions = {},
  ): Promise<RegistryAnswer<T>> {
    const token = options.token === undefined ? adminToken : options.token;
    const headers: Record<string, string> = { ...(token !== null ? { authorization: `Bearer ${token}` } : {}) };
    const payload = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(baseUrl + path, { method, headers: { ...headers, ...options.headers }, body: payload });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

export type RegistryCall = ReturnType<typeof createRegistryClient>;

/**
 * Serves the registry on a fresh database for the current test file (admin token `x`) and
 * tears both down after it. Read the fields inside tests, after beforeAll has run.
 */
export function useRegistryUnderTest(): { db: TestDatabase['db']; call: RegistryCall } {
  const handle = {} as { db: TestDatabase['db']; call: RegistryCall };
  let database: TestDatabase | undefined;
  let served: ServedFunction | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    served = await startFunction(registry, { env: { DATABASE_URL: database.url, ADMIN_TOKEN: 'x' } });
    handle.db = database.db;
    handle.call = createRegistryClient(served.url, 'x');
  });
  afterAll(async () => {
    await served?.close();
    await database?.drop();
  });
  return handle;
}
