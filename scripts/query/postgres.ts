/**
 * `npm run query -- --db postgres "SQL"`: analyst SQL on the PostgreSQL side (readings,
 * device_state, rejected), read-only:
 * - the statement is wrapped as `SELECT * FROM (<sql>) LIMIT $1`: one statement only (a
 *   parameter forces the extended protocol, which refuses several), a query and nothing else
 *   (a data-modifying WITH must be top-level, so it is refused too), and bounded rows;
 * - in a READ ONLY transaction with `statement_timeout`, as the `pg_read_all_data` role when
 *   the connecting role may take it (so no server files, no signalling other sessions);
 * - functions that reach outside the tables (files, large objects, other sessions, settings)
 *   are refused by name before anything runs.
 * PGlite (the embedded default) runs in WebAssembly on one thread and ignores
 * `statement_timeout`: there the row bound and the refused functions are what limit a query.
 * @see https://www.postgresql.org/docs/current/sql-set-transaction.html
 * @see https://www.postgresql.org/docs/current/predefined-roles.html
 */
import type { Database } from '../../shared/db/database.ts';
import { AnalystSqlError, DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS, MAX_RESULT_ROWS, type AnalystResult } from '../../shared/warehouse/duckdb-analyst.ts';

const OUTSIDE_THE_TABLES =
  /\b(pg_read_file|pg_read_binary_file|pg_ls_\w+|pg_stat_file|lo_\w+|dblink\w*|pg_terminate_backend|pg_cancel_backend|pg_signal_backend|set_config|pg_reload_conf|pg_rotate_logfile|pg_promote|pg_switch_wal|pg_create_\w+|pg_drop_\w+|pg_sleep\w*|pg_advisory\w*|pg_notify|txid_\w+|pg_logical_\w+|query_to_xml\w*|table_to_xml\w*|cursor_to_xml\w*|database_to_xml\w*|schema_to_xml\w*)\s*\(/i;

/** Runs one read-only query; throws AnalystSqlError for SQL that may not run here. */
export async function queryPostgresReadOnly(db: Database, sql: string, options: { timeoutMs?: number; maxRows?: number } = {}): Promise<AnalystResult> {
  const timeoutMs = Math.trunc(Math.min(options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS));
  const maxRows = options.maxRows ?? MAX_RESULT_ROWS;
  const body = sql.replace(/[\s;]+$/, '');
  if (body.trim() === '') throw new AnalystSqlError('no SQL given');
  const firstWord = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*\(*\s*(\w+)/.exec(body)?.[1]?.toLowerCase();
  if (!['select', 'with', 'values', 'table'].includes(firstWord ?? '')) {
    throw new AnalystSqlError(
      `only read-only queries (SELECT, WITH … SELECT, VALUES, TABLE) run here; this starts with ${firstWord ? firstWord.toUpperCase() : 'nothing'}`,
    );
  }
  const outside = OUTSIDE_THE_TABLES.exec(body);
  if (outside) throw new AnalystSqlError(`${outside[1] ?? 'that function'}() reaches outside the tables and is not allowed in analyst SQL`);
  try {
    return await db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION READ ONLY');
      await tx.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
      const {
        rows: [role],
      } = await tx.query<{ member: boolean }>("SELECT pg_has_role('pg_read_all_data', 'MEMBER') AS member");
      if (role?.member) await tx.query('SET LOCAL ROLE pg_read_all_data');
      // The newline ends a trailing `-- comment` before the closing parenthesis.
      const result = await tx.query<Record<string, unknown>>(`SELECT * FROM (\n${body}\n) AS analyst_query LIMIT $1`, [maxRows + 1]);
      const truncated = result.rows.length > maxRows;
      const rows = truncated ? result.rows.slice(0, maxRows) : result.rows;
      const columns = Object.keys(rows[0] ?? {});
      return { columns, rows: rows.map((row) => columns.map((c) => toJsonValue(row[c]))), ...(truncated ? { truncated } : {}) };
    });
  } catch (error) {
    if (error instanceof AnalystSqlError) throw error;
    throw new AnalystSqlError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

function toJsonValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value;
}
