/**
 * The embedded warehouse: `measurements` in a DuckDB file (`$DATA_DIR/warehouse.duckdb`).
 *
 * Rows go through DuckDB's appender into a temporary staging table and from there into
 * `measurements` with `INSERT OR IGNORE`, so the primary key (reading_id, metric) drops
 * re-deliveries. The appender is ~25× faster here than parameterised multi-row INSERTs, and
 * it cannot skip conflicts on its own, hence the staging table.
 * @see https://duckdb.org/docs/data/appender
 * @see https://duckdb.org/docs/sql/statements/insert#insert-or-ignore
 */
import { retentionCutoff } from '../retention.ts';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance, timestampTZValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { duckDbMeasurementsDdl, type Column } from '../../schemas/columns.ts';
import type { MeasurementRow } from '../../schemas/tables.ts';
import { isProgrammingError, TransientError } from '../errors.ts';
import { GroupCommit } from '../group-commit.ts';
import { runAnalystSql, SANDBOXED_INSTANCE_OPTIONS, type AnalystQueryOptions, type AnalystResult } from './duckdb-analyst.ts';
import type { WarehouseSink } from './sink.ts';
import { MEASUREMENT_COLUMNS } from './measurement-encoding.ts';
import { renderDedupeView } from './views.ts';

/** The DuckDB sink, which also answers analyst SQL (`npm run query`) on connections of its own. */
export interface DuckDbSink extends WarehouseSink {
  readonly kind: 'duckdb';
  readonly path: string;
  /**
   * Runs one read-only statement, sandboxed (see duckdb-analyst.ts), on a connection of its own
   * (never the writer's) after every write queued so far, so it sees what was written before it.
   */
  query(sql: string, options?: AnalystQueryOptions): Promise<AnalystResult>;
  /**
   * Holds writes back (each answers TransientError, so Pub/Sub keeps the messages) while an
   * operator works on the file; analyst SQL cannot change the warehouse, this can only delay.
   */
  setPaused(paused: boolean): void;
  applyRetention(days: number): Promise<string>;
}

const STAGING = 'measurements_staging';
/** Bounds one group commit, so a burst cannot build one unbounded statement. */
const MAX_GROUP_ROWS = 20_000;

/**
 * Opens (creating when missing) the warehouse file and its `measurements` table.
 * @see ../../docs/data-model.md: the warehouse table and its columns
 */
export async function openDuckDbSink(path: string): Promise<DuckDbSink> {
  if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(path, SANDBOXED_INSTANCE_OPTIONS).catch((error: unknown) => {
    throw lockHeldError(path, error) ?? error;
  });
  const connection = await instance.connect();
  await connection.run(duckDbMeasurementsDdl());
  // Analyst SQL written for BigQuery's dedupe view runs unchanged here.
  await connection.run(await renderDedupeView('duckdb'));
  await connection.run(`CREATE TEMP TABLE ${STAGING} AS SELECT * FROM measurements LIMIT 0`);

  // One connection serves every caller; DuckDB runs one statement at a time on it, and a
  // write is three statements that must not interleave with another batch's.
  let queue: Promise<unknown> = Promise.resolve();
  const serialise = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };
  // Batches that arrive while a write runs are merged into the next one: every statement on
  // the file table costs a commit (~7 ms here) whatever its size, so concurrent callers
  // share it. All rows of a group commit or fail together, as one INSERT.
  const groups = new GroupCommit<readonly MeasurementRow[]>({
    maxItems: MAX_GROUP_ROWS,
    maxWaitMs: 0,
    maxConcurrentFlushes: 1,
    weight: (rows) => rows.length,
    flush: (batches) => serialise(() => writeRows(connection, batches)),
  });
  // Analyst SQL waits for the writes queued before it; groups are written in order.
  let lastWrite: Promise<unknown> = Promise.resolve();
  let closed = false;
  let paused = false;
  const ensureOpen = () => {
    if (closed) throw new Error(`DuckDB warehouse ${path} is closed`);
  };

  return {
    kind: 'duckdb',
    path,
    write(rows) {
      // Closed means shutting down: another instance (or this one, restarted) takes the message.
      if (closed) return Promise.reject(new TransientError(`DuckDB warehouse ${path} is closed`));
      if (paused) return Promise.reject(new TransientError(`DuckDB warehouse ${path} is paused by the operator`));
      if (rows.length === 0) return Promise.resolve({ refused: [] });
      const written = groups.submit(rows);
      lastWrite = written.catch(() => undefined);
      return written.then(
        () => ({ refused: [] }),
        (error: unknown) => {
          throw classifyDuckDbError(error);
        },
      );
    },
    async query(sql, options) {
      ensureOpen();
      await lastWrite;
      await queue;
      const analyst = await instance.connect();
      try {
        return await runAnalystSql(analyst, sql, options);
      } finally {
        analyst.closeSync();
      }
    },
    setPaused(value) {
      paused = value;
    },
    // DuckDB has no partitions to drop: a DELETE of the old days, in the write queue.
    applyRetention(days) {
      ensureOpen();
      return serialise(async () => {
        const cutoff = retentionCutoff(new Date(), days).toISOString();
        const result = await connection.run(`DELETE FROM measurements WHERE event_ts < '${cutoff}'::TIMESTAMPTZ`);
        return `DuckDB ${path}: deleted ${result.rowsChanged} measurements older than ${days} days`;
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await groups.drain();
      await queue;
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** Appends a group's rows to the staging table, moves the new ones into `measurements`, empties staging. */
async function writeRows(connection: DuckDBConnection, batches: readonly (readonly MeasurementRow[])[]): Promise<void> {
  // Whatever a failed append left staged must not join this group's rows.
  await connection.run(`DELETE FROM ${STAGING}`);
  const appender = await connection.createAppender(STAGING, 'main', 'temp');
  let first = Infinity;
  let last = -Infinity;
  try {
    for (const rows of batches) {
      for (const row of rows) {
        appendRow(appender, row);
        const ms = row.event_ts.getTime();
        if (ms < first) first = ms;
        if (ms > last) last = ms;
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  try {
    await moveStagedRows(connection, first, last);
  } finally {
    await connection.run(`DELETE FROM ${STAGING}`);
  }
}

/**
 * Moves staged rows into `measurements`, leaving out every reading whose identity is already
 * there: the first reading with an identity wins, so a later one with other metrics adds none
 * of them (the primary key alone would only stop the metrics both share). A reading's
 * identity fixes its event time, so only stored rows in the batch's event-time range are
 * compared, which DuckDB's zone maps keep to a few row groups when data arrives in time order.
 * A plain INSERT: on a table of 200k rows it costs a fraction of `INSERT OR IGNORE`, whose
 * conflict path is slow in DuckDB; a batch that still hits the key (two writers racing on one
 * reading) pays for the conflict-skipping INSERT. The failed INSERT changes nothing.
 * @see https://duckdb.org/docs/sql/statements/insert#insert-or-ignore
 * @see https://duckdb.org/docs/stable/sql/query_syntax/from#semi-and-anti-joins
 */
async function moveStagedRows(connection: DuckDBConnection, firstMs: number, lastMs: number): Promise<void> {
  const range = `event_ts BETWEEN make_timestamptz(${Math.trunc(firstMs) * 1000}::BIGINT) AND make_timestamptz(${Math.trunc(lastMs) * 1000}::BIGINT)`;
  const select = `SELECT s.* FROM ${STAGING} s ANTI JOIN (SELECT DISTINCT reading_id FROM measurements WHERE ${range}) stored USING (reading_id)`;
  try {
    await connection.run(`INSERT INTO measurements ${select}`);
  } catch (error) {
    if (!isConstraintViolation(error)) throw error;
    await connection.run(`INSERT OR IGNORE INTO measurements ${select}`);
  }
}

/**
 * DuckDB's error classes that a retry can outlive: the file system (a full disk, `IO Error`),
 * memory, an interrupted statement, a transaction conflict, the file lock. Anything else
 * (conversion, constraint, a bug in this module) fails the same rows the same way again and
 * passes unchanged, so ingest rejects the message instead of looping on 503s.
 */
const TRANSIENT_DUCKDB_ERROR =
  /^(IO Error|Out of Memory Error|INTERRUPT Error|Interrupt Error|TransactionContext Error)|Could not set lock|No space left|is closed/i;

function classifyDuckDbError(error: unknown): unknown {
  if (error instanceof TransientError || isProgrammingError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return TRANSIENT_DUCKDB_ERROR.test(message) ? new TransientError(`DuckDB warehouse unavailable: ${message}`, { cause: error }) : error;
}

function isConstraintViolation(error: unknown): boolean {
  return /Constraint Error|duplicate key/i.test(String(error));
}

function appendRow(appender: DuckDBAppender, row: MeasurementRow): void {
  const record = row as unknown as Record<string, unknown>;
  for (const column of MEASUREMENT_COLUMNS) appendCell(appender, column, record[column.name]);
  appender.endRow();
}

function appendCell(appender: DuckDBAppender, column: Column, value: unknown): void {
  if (value === null || value === undefined) {
    appender.appendNull();
    return;
  }
  switch (column.kind) {
    case 'string':
      appender.appendVarchar(value as string);
      return;
    case 'int':
      appender.appendBigInt(BigInt(value as number));
      return;
    case 'float':
      appender.appendDouble(value as number);
      return;
    case 'bool':
      appender.appendBoolean(value as boolean);
      return;
    case 'timestamp':
      appender.appendTimestampTZ(timestampTZValue(BigInt((value as Date).getTime()) * 1000n));
      return;
    case 'json':
      appender.appendVarchar(JSON.stringify(value));
      return;
  }
}

/** DuckDB's "Could not set lock" as a sentence that says what to do; undefined for other errors. */
function lockHeldError(path: string, error: unknown): Error | undefined {
  const text = String(error);
  if (!/Could not set lock/.test(text)) return undefined;
  const pid = /PID (\d+)/.exec(text)?.[1];
  return new Error(
    `the warehouse ${path} is in use by another process${pid ? ` (PID ${pid})` : ''}: another stack probably runs with the same DATA_DIR; stop it, or start this one with its own DATA_DIR`,
    { cause: error },
  );
}
