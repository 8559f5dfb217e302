/**
 * Analyst SQL on the DuckDB warehouse (`npm run query`), sandboxed whether it runs in its own
 * read-only process or inside the running stack:
 * - it runs on a connection of its own, never the warehouse writer's, so nothing an analyst
 *   does can sit inside ingest's transactions;
 * - exactly one query, a SELECT (which covers SHOW, DESCRIBE, SUMMARIZE and the table-valued
 *   PRAGMAs), optionally after `SET VARIABLE name = value;` statements that parameterise it
 *   (they live on this connection only): DuckDB's own parser says what each statement is, so BEGIN/COMMIT,
 *   DELETE, INSERT, COPY, ATTACH, INSTALL, LOAD, SET, CALL and EXPLAIN ANALYZE are refused
 *   before anything runs, and no transaction outlives the statement (it autocommits);
 * - the instance has no file system or extension access beyond its own database file
 *   (`enable_external_access = false`, no extension autoload/autoinstall, configuration
 *   locked), so `read_csv('/etc/passwd')` or `COPY ... TO` fail even inside a SELECT;
 * - a deadline: DuckDB has no statement timeout of its own, so the connection is interrupted
 *   when it passes; and a bound on the rows returned.
 * @see https://duckdb.org/docs/stable/operations_manual/securing_duckdb/overview
 * @see https://duckdb.org/docs/stable/configuration/overview
 */
import { DuckDBInstance, StatementType, type DuckDBConnection } from '@duckdb/node-api';

/** Instance options that keep every connection of it away from files and extensions. */
export const SANDBOXED_INSTANCE_OPTIONS: Record<string, string> = {
  enable_external_access: 'false',
  autoload_known_extensions: 'false',
  autoinstall_known_extensions: 'false',
  lock_configuration: 'true',
};

export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
export const MAX_QUERY_TIMEOUT_MS = 300_000;
/** Rows returned at most; the answer says when it was cut. */
export const MAX_RESULT_ROWS = 100_000;

/** The answer to analyst SQL: column names and rows of JSON-friendly values. */
export interface AnalystResult {
  columns: string[];
  rows: unknown[][];
  /** True when the result had more than MAX_RESULT_ROWS rows and was cut there. */
  truncated?: boolean;
}

/** SQL an analyst may not run here, with the reason in words. */
export class AnalystSqlError extends Error {
  override readonly name: string = 'AnalystSqlError';
}

export interface AnalystQueryOptions {
  timeoutMs?: number;
  maxRows?: number;
}

/** Runs one read-only statement on `connection` (which must not be the writer's), within the deadline. */
export async function runAnalystSql(connection: DuckDBConnection, sql: string, options: AnalystQueryOptions = {}): Promise<AnalystResult> {
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS);
  const maxRows = options.maxRows ?? MAX_RESULT_ROWS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    connection.interrupt();
  }, timeoutMs);
  try {
    const statements = await connection.extractStatements(sql);
    if (statements.count === 0) throw new AnalystSqlError('no SQL statement given');
    for (let i = 0; i < statements.count - 1; i++) {
      const variable = await statements.prepare(i);
      // DuckDB types SET VARIABLE as SET; a SET of a setting fails on the locked configuration.
      if (variable.statementType !== StatementType.VARIABLE_SET && variable.statementType !== StatementType.SET) {
        throw new AnalystSqlError(
          `send one query, optionally after SET VARIABLE statements; statement ${i + 1} is a ${StatementType[variable.statementType] ?? 'other'} statement`,
        );
      }
      await variable.run();
    }
    const prepared = await statements.prepare(statements.count - 1);
    if (prepared.statementType !== StatementType.SELECT) {
      throw new AnalystSqlError(
        `only read-only queries (SELECT, SHOW, DESCRIBE, SUMMARIZE) run here; this is a ${StatementType[prepared.statementType] ?? 'other'} statement`,
      );
    }
    const reader = await prepared.streamAndReadUntil(maxRows + 1);
    const rows = wholeNumbersAsNumbers(reader.getRowsJson(), reader.columnTypes().map(String));
    const truncated = rows.length > maxRows || !reader.done;
    return { columns: reader.columnNames(), rows: truncated ? rows.slice(0, maxRows) : rows, ...(truncated ? { truncated } : {}) };
  } catch (error) {
    if (timedOut) throw new AnalystSqlError(`the query ran longer than ${timeoutMs} ms and was stopped`, { cause: error });
    if (error instanceof AnalystSqlError) throw error;
    // DuckDB's own message (a syntax error, "file system operations are disabled", ...).
    throw new AnalystSqlError(error instanceof Error ? error.message : String(error), { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

const WIDE_INTEGER = /^U?(BIGINT|HUGEINT)$/;

/**
 * DuckDB's JSON rows carry 64- and 128-bit integers (`count(*)`, `sum` of integers) as strings,
 * since JSON numbers lose precision past 2^53; an analyst expects `"n": 42`, so those that fit
 * are numbers again, and only the rare larger ones stay strings.
 */
function wholeNumbersAsNumbers<Row extends unknown[]>(rows: Row[], types: string[]): Row[] {
  const wide = types.flatMap((type, i) => (WIDE_INTEGER.test(type) ? [i] : []));
  if (wide.length === 0) return rows;
  for (const row of rows) {
    for (const i of wide) {
      const value = row[i];
      if (typeof value === 'string' && Number.isSafeInteger(Number(value))) row[i] = Number(value);
    }
  }
  return rows;
}

/** Another process (the running stack) holds the file; ask that process, via its sink's query(). */
export class WarehouseBusyError extends Error {
  override readonly name: string = 'WarehouseBusyError';
  constructor(path: string, cause: unknown) {
    super(`${path} is open in another process (is the stack running?); DuckDB lets only that process read it`, { cause });
  }
}

/**
 * Runs one analyst statement on a warehouse file that no process holds open for writing
 * (DuckDB lets one process write a file at a time); opened read-only and sandboxed, so it never
 * changes the file or reaches any other.
 * @see https://duckdb.org/docs/connect/concurrency
 */
export async function queryDuckDb(path: string, sql: string, options?: AnalystQueryOptions): Promise<AnalystResult> {
  const instance = await DuckDBInstance.create(path, { ...SANDBOXED_INSTANCE_OPTIONS, access_mode: 'READ_ONLY' }).catch((error: unknown) => {
    if (!/Could not set lock/.test(String(error))) throw error;
    throw new WarehouseBusyError(path, error);
  });
  try {
    const connection = await instance.connect();
    try {
      return await runAnalystSql(connection, sql, options);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
