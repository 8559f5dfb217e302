/**
 * One small interface over the three PostgreSQLs the pipeline runs on: a `pg` pool
 * (DATABASE_URL), the Cloud SQL Node connector (INSTANCE_CONNECTION_NAME, IAM auth), and
 * PGlite in process (the embedded default). Clients are created lazily, on first query.
 */
import type { Config } from '../config.ts';
import { TransientError } from '../errors.ts';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Names the statement so that PostgreSQL parses and plans it once per connection instead of
   * at every call (a prepared statement): for a hot statement whose text never changes. One
   * name, one text. PGlite ignores it.
   */
  name?: string;
}

export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface Database extends Sql {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The database the configuration names: PostgreSQL when configured, else PGlite under DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  if (config.databaseUrl || config.instanceConnectionName) {
    const { openPostgres } = await import('./postgres.ts');
    return openPostgres(config);
  }
  const { openPglite } = await import('./pglite.ts');
  return openPglite(`${config.dataDir}/pglite`);
}

/** SQLSTATE classes and socket errors that a retry can outlive. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58', '40']);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

export function isTransientDbError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_CODES.has(code)) return true;
    // A row routed to the default partition while maintain attaches its day's partition
    // (docs/lifecycle.md): the retry routes it to the new partition.
    if (code === '23514' && /partition/.test(error.message)) return true;
    // A named statement the server connection does not hold (26000) or holds already (42P05):
    // a pooler in transaction mode between the driver and PostgreSQL (docs/deploy.md). Nothing
    // is wrong with the rows, so they are redelivered rather than rejected as bad data; the pool
    // drops the connection whose query failed, and the retry prepares the statement afresh.
    if (code === '26000' || code === '42P05') return true;
    // A lock not granted within lock_timeout (55P03), and a database an operator closed to new
    // connections (55000, ALTER DATABASE ... ALLOW_CONNECTIONS false): the store is busy or
    // away, not the rows wrong; class 55 is otherwise a state no retry changes.
    if (code === '55P03' || (code === '55000' && /not currently accepting connections/.test(error.message))) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2));
  }
  return /terminat|Connection|connect|timeout|closed|not queryable/i.test(error.message);
}

/** Wraps store errors: transient ones become TransientError, the rest pass unchanged. */
export function classifyDbError(error: unknown, what: string): unknown {
  if (error instanceof TransientError) return error;
  return isTransientDbError(error) ? new TransientError(`${what}: database unavailable`, { cause: error }) : error;
}
