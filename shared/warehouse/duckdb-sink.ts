/**
 * The embedded warehouse: `measurements` in a DuckDB file (`$DATA_DIR/warehouse.duckdb`).
 *
 * A group of batches goes through DuckDB's appender into a temporary staging table and from
 * there, in one INSERT, into `measurements`. The first message that carries a reading wins: a
 * reading stored before, or claimed by an earlier batch of the group, adds no rows. The table
 * has no primary key: the INSERT's anti join is what keeps a reading once, and maintaining an
 * index on (reading_id, metric) cost more than the rest of the write (docs/performance.md,
 * Ingest). Files created with that key keep it.
 * @see https://duckdb.org/docs/data/appender
 */
import { retentionCutoff } from '../retention.ts';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance, timestampValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
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

  // One connection serves every caller; DuckDB runs one statement at a time on it, and a
  // group's staging, append and INSERT must not interleave with another group's.
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

/**
 * Writes a group: the rows of readings not stored yet, each (reading, metric) once. The rows
 * the group may add (the first batch's of each reading) are appended to a temporary staging
 * table, in memory, and one INSERT moves those of readings not stored yet into `measurements`.
 * The INSERT and its commit run on DuckDB's threads, never blocking the event loop; the
 * appender would commit to the file (and sync its log) on this thread. Staging is made afresh
 * for each group, so nothing a failed group left there joins the next one (emptying it with
 * DELETE would leave deleted rows that every later statement scans).
 */
async function writeRows(connection: DuckDBConnection, batches: readonly (readonly MeasurementRow[])[]): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${STAGING} AS FROM measurements LIMIT 0`);
  const claims = claimReadings(batches);
  const appender = await connection.createAppender(STAGING, 'main', 'temp');
  try {
    const appended = new Set<string>();
    const toJson = memoLast((value: unknown) => JSON.stringify(value));
    for (const rows of batches) {
      for (const row of rows) {
        if (claims.owners.get(row.reading_id) !== rows) continue;
        const key = `${row.reading_id}\u0000${row.metric}`;
        if (appended.has(key)) continue;
        appended.add(key);
        appendRow(appender, row, toJson);
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  const move = `INTO measurements SELECT s.* FROM ${STAGING} s ANTI JOIN (${storedReadings(claims)}) stored USING (reading_id)`;
  try {
    await connection.run(`INSERT ${move}`);
  } catch (error) {
    // A file made with the primary key, and a stored row the range did not reach: a reading id
    // seen again at another event time, which reading ids rule out (they hash the event time).
    // Keep the stored row rather than fail the group on every redelivery.
    if (!isConstraintViolation(error)) throw error;
    await connection.run(`INSERT OR IGNORE ${move}`);
  }
}

function isConstraintViolation(error: unknown): boolean {
  return /Constraint Error|duplicate key/i.test(String(error));
}

/** Each reading id of a group, with the batch that carried it first, and the group's event-time range. */
interface ReadingClaims {
  owners: Map<string, readonly MeasurementRow[]>;
  firstMs: number;
  lastMs: number;
}

function claimReadings(batches: readonly (readonly MeasurementRow[])[]): ReadingClaims {
  const owners = new Map<string, readonly MeasurementRow[]>();
  let firstMs = Infinity;
  let lastMs = -Infinity;
  for (const rows of batches) {
    for (const row of rows) {
      if (!owners.has(row.reading_id)) owners.set(row.reading_id, rows);
      const ms = row.event_ts.getTime();
      if (ms < firstMs) firstMs = ms;
      if (ms > lastMs) lastMs = ms;
    }
  }
  return { owners, firstMs, lastMs };
}

/**
 * The staged readings already in `measurements`. A reading's identity fixes its event time, so
 * only stored rows in the group's event-time range can match, which DuckDB's zone maps keep to
 * a few row groups when data arrives roughly in time order. The semi join hashes the staged ids
 * (the group) rather than every stored id in the range; on the sink's benchmark table (250,000
 * rows) the two cost the same, and only the second grows with the rows stored in the range.
 * @see https://duckdb.org/docs/stable/sql/query_syntax/from#semi-and-anti-joins
 */
function storedReadings(claims: ReadingClaims): string {
  const range = `m.event_ts BETWEEN make_timestamptz(${Math.trunc(claims.firstMs) * 1000}::BIGINT) AND make_timestamptz(${Math.trunc(claims.lastMs) * 1000}::BIGINT)`;
  return `SELECT DISTINCT m.reading_id FROM measurements m SEMI JOIN ${STAGING} USING (reading_id) WHERE ${range}`;
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

function appendRow(appender: DuckDBAppender, row: MeasurementRow, toJson: (value: unknown) => string): void {
  const record = row as unknown as Record<string, unknown>;
  for (const column of MEASUREMENT_COLUMNS) appendCell(appender, column, record[column.name], toJson);
  appender.endRow();
}

/** `fn`, answering a repeat of the last argument from memory: a reading's rows share its tags object. */
function memoLast<A, R>(fn: (arg: A) => R): (arg: A) => R {
  let last: { arg: A; result: R } | undefined;
  return (arg) => {
    if (last?.arg !== arg) last = { arg, result: fn(arg) };
    return last.result;
  };
}

function appendCell(appender: DuckDBAppender, column: Column, value: unknown, toJson: (value: unknown) => string): void {
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
      // The appender stores a TIMESTAMP's microseconds unchanged in a TIMESTAMPTZ column (UTC,
      // whatever the session's time zone), without the generic value path appendTimestampTZ takes.
      appender.appendTimestamp(timestampValue(BigInt((value as Date).getTime()) * 1000n));
      return;
    case 'json':
      appender.appendVarchar(toJson(value));
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
