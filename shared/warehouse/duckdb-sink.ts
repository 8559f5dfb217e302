/**
 * The embedded warehouse: `measurements` in a DuckDB file (`$DATA_DIR/warehouse.duckdb`).
 *
 * A group of batches goes through DuckDB's appender into a temporary staging table and from
 * there, in one INSERT, into `measurements`. The first message that carries a reading wins: a
 * reading stored before, or claimed by an earlier batch of the group, adds no rows. The table
 * has no primary key: what keeps a reading once is memory of the readings stored (exact for the
 * newest, a sieve that knows which late readings are surely new: recent-readings.ts) and, for
 * the others, the INSERT's anti join; maintaining an index on
 * (reading_id, metric) cost more than the rest of the write (docs/performance.md, Ingest).
 * Files created with that key keep it.
 * @see https://duckdb.org/docs/data/appender
 */
import { retentionCutoff } from '../retention.ts';
import { hash } from 'node:crypto';
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
import { RecentReadings, type RecentReadingsOptions } from './recent-readings.ts';
import { createWalBudget } from './wal-budget.ts';
import type { Logger } from '../log.ts';

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

export interface DuckDbSinkOptions {
  /** How many readings memory and its sieve keep (recent-readings.ts); tests make them small. */
  recentReadings?: Partial<RecentReadingsOptions>;
  /** Tells of checkpoints the disk needed and could not get (wal-budget.ts). */
  logger?: Logger;
  /** Rows between two looks at the log and the disk (wal-budget.ts); tests make it small. */
  walCheckEveryRows?: number;
  /** Room a checkpoint must find beyond the log's size (wal-budget.ts); tests make it negative. */
  walCheckpointMarginBytes?: number;
}

const STAGING = 'measurements_staging';
/** The view renderDedupeView creates. */
const DEDUPE_VIEW = 'measurements_dedup';
/** Event times the anti join lists at most; past it, their range (storedReadings). */
const MAX_LISTED_TIMES = 64;
/** Bounds one group commit, so a burst cannot build one unbounded statement. */
const MAX_GROUP_ROWS = 20_000;

/**
 * Opens (creating when missing) the warehouse file and its `measurements` table.
 * @see ../../docs/data-model.md: the warehouse table and its columns
 */
export async function openDuckDbSink(path: string, options: DuckDbSinkOptions = {}): Promise<DuckDbSink> {
  if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
  let { instance, connection } = await openFile(path, options.logger);

  // DuckDB gives up on a database whose checkpoint failed (a full disk): every later statement
  // answers "database has been invalidated", until the file is opened again. The next task
  // reopens it (the log on disk still holds every commit), so that writes resume once there is
  // room, as they do after a plain write that found the disk full.
  let invalidated = false;
  const reopen = async () => {
    for (const close of [() => connection.closeSync(), () => instance.closeSync()]) {
      try {
        close();
      } catch {
        // Closing what DuckDB gave up on may fail too; the new instance is what matters.
      }
    }
    ({ instance, connection } = await openFile(path, options.logger));
    recent.forgetAll();
    invalidated = false;
    options.logger?.warn('the warehouse was opened again after DuckDB gave it up (a checkpoint failed, for want of disk)', { path });
  };
  // One connection serves every caller; DuckDB runs one statement at a time on it, and a
  // group's staging, append and INSERT must not interleave with another group's.
  let queue: Promise<unknown> = Promise.resolve();
  const serialise = <T>(task: () => Promise<T>): Promise<T> => {
    const run = async () => {
      if (invalidated) await reopen();
      try {
        return await task();
      } catch (error) {
        if (INVALIDATED.test(error instanceof Error ? error.message : String(error))) invalidated = true;
        throw error;
      }
    };
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  };
  // Batches that arrive while a write runs are merged into the next one: every statement on
  // the file table costs a commit (~7 ms here) whatever its size, so concurrent callers
  // share it. All rows of a group commit or fail together, as one INSERT.
  const recent = new RecentReadings(options.recentReadings);
  const walBudget =
    path === ':memory:'
      ? undefined
      : createWalBudget({
          walPath: `${path}.wal`,
          checkpoint: () => serialise(() => connection.run('CHECKPOINT')).then(() => undefined),
          ...(options.walCheckEveryRows ? { checkEveryRows: options.walCheckEveryRows } : {}),
          ...(options.walCheckpointMarginBytes !== undefined ? { marginBytes: options.walCheckpointMarginBytes } : {}),
          onError: (error) => options.logger?.warn('warehouse checkpoint failed; its write-ahead log keeps growing until one succeeds', { error, path }),
        });
  const groups = new GroupCommit<readonly MeasurementRow[]>({
    maxItems: MAX_GROUP_ROWS,
    maxWaitMs: 0,
    maxConcurrentFlushes: 1,
    weight: (rows) => rows.length,
    flush: async (batches) => {
      await serialise(() => writeRows(connection, batches, recent));
      walBudget?.wrote(batches.reduce((rows, batch) => rows + batch.length, 0));
    },
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
      // A file DuckDB gave up on is opened again first (in the queue, as a write would).
      await (invalidated ? serialise(() => Promise.resolve()) : queue);
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
        // Memory may hold readings the DELETE removes: it answers again once the floor is set anew.
        recent.forgetAll();
        const result = await connection.run(`DELETE FROM measurements WHERE event_ts < '${cutoff}'::TIMESTAMPTZ`);
        return `DuckDB ${path}: deleted ${result.rowsChanged} measurements older than ${days} days`;
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await groups.drain();
      await walBudget?.settled();
      await queue;
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** The file opened, its table and dedupe view made when missing. */
async function openFile(path: string, logger: Logger | undefined): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(path, SANDBOXED_INSTANCE_OPTIONS).catch((error: unknown) => {
    throw lockHeldError(path, error) ?? error;
  });
  const connection = await instance.connect();
  try {
    // Neither statement writes to a file whose schema is current, so a full disk does not keep
    // the warehouse from opening: it refuses writes until there is room, and answers queries.
    await connection.run(duckDbMeasurementsDdl());
    // Analyst SQL written for BigQuery's dedupe view runs unchanged here.
    await ensureDedupeView(connection, logger);
  } catch (error) {
    // A file that cannot be made ready is let go, so that another open (a retry, a reopen) can take it.
    connection.closeSync();
    instance.closeSync();
    throw error;
  }
  return { instance, connection };
}

/**
 * Creates (or replaces) the dedupe view only when its text changed since it was made: the text's
 * hash is kept as the view's comment. Replacing it on every start wrote to the file each time,
 * and on a full disk kept the warehouse, and `npm start`, from opening at all. A view that cannot
 * be replaced for want of disk is left as it is, until a later start.
 */
async function ensureDedupeView(connection: DuckDBConnection, logger: Logger | undefined): Promise<void> {
  const sql = await renderDedupeView('duckdb');
  const version = hash('sha256', sql, 'hex').slice(0, 16);
  const current = await connection.runAndReadAll(`SELECT comment FROM duckdb_views() WHERE view_name = '${DEDUPE_VIEW}' AND NOT internal`);
  const made = current.getRowObjects()[0];
  if (made?.comment === version) return;
  await connection.run('BEGIN TRANSACTION');
  try {
    await connection.run(sql);
    await connection.run(`COMMENT ON VIEW ${DEDUPE_VIEW} IS '${version}'`);
    await connection.run('COMMIT');
  } catch (error) {
    await connection.run('ROLLBACK').catch(() => undefined);
    if (!made || !TRANSIENT_DUCKDB_ERROR.test(error instanceof Error ? error.message : String(error))) throw error;
    logger?.warn(`the warehouse keeps its older ${DEDUPE_VIEW} view until a start that can write it`, { error });
  }
}

/**
 * Writes a group: the rows of readings not stored yet, each (reading, metric) once. The rows
 * the group may add (the first batch's of each reading, less those memory knows are stored)
 * are appended to a temporary staging table, in memory, and one INSERT moves them into
 * `measurements`, through an anti join against the stored rows only for readings memory
 * cannot answer for (recent-readings.ts): neither known to exact memory nor surely new to its sieve.
 * The INSERT and its commit run on DuckDB's threads, never blocking the event loop; the
 * appender would commit to the file (and sync its log) on this thread. Staging is made afresh
 * for each group, so nothing a failed group left there joins the next one (emptying it with
 * DELETE would leave deleted rows that every later statement scans).
 */
async function writeRows(connection: DuckDBConnection, batches: readonly (readonly MeasurementRow[])[], recent: RecentReadings): Promise<void> {
  if (!recent.floorKnown) await setFloor(connection, recent);
  const plan = planGroup(batches, recent);
  if (plan.rows.length === 0) return;
  try {
    await stageAndInsert(connection, plan);
  } catch (error) {
    // A statement that fails rolls back, so memory would still be right; but a failure is rare,
    // and setting the floor anew costs one query, which holds whatever the failure left.
    recent.forgetAll();
    throw error;
  }
  try {
    for (const [readingId, eventMs] of plan.remember) recent.add(readingId, eventMs);
  } catch {
    // The group is stored; memory that missed some of it (a filter it could not allocate) would
    // call their redelivery new. Forgotten, it is set anew from the table at the next write.
    recent.forgetAll();
  }
}

/** What a group adds, and what must be asked of the table. */
interface GroupPlan {
  rows: MeasurementRow[];
  /** The readings of `rows` (reading id → event ms), stored once the group commits: remembered then. */
  remember: Map<string, number>;
  /** The event times (ms) of the readings memory cannot answer for, among which the anti join looks; none, no join. */
  unanswered: Set<number>;
}

function planGroup(batches: readonly (readonly MeasurementRow[])[], recent: RecentReadings): GroupPlan {
  // The first batch to carry a reading owns it: a later one's rows of it add nothing, even other metrics.
  const owners = new Map<string, readonly MeasurementRow[]>();
  for (const batch of batches) for (const row of batch) if (!owners.has(row.reading_id)) owners.set(row.reading_id, batch);
  const plan: GroupPlan = { rows: [], remember: new Map(), unanswered: new Set() };
  const planned = new Set<string>();
  for (const batch of batches) {
    for (const row of batch) {
      if (owners.get(row.reading_id) !== batch) continue;
      const key = `${row.reading_id}\u0000${row.metric}`;
      if (planned.has(key)) continue;
      planned.add(key);
      const eventMs = row.event_ts.getTime();
      if (recent.covers(eventMs)) {
        if (recent.has(row.reading_id, eventMs)) continue;
      } else if (!recent.surelyNew(row.reading_id, eventMs)) {
        plan.unanswered.add(eventMs);
      }
      // Whether the join keeps it out or not, the reading is stored once the group commits.
      plan.remember.set(row.reading_id, eventMs);
      plan.rows.push(row);
    }
  }
  return plan;
}

async function stageAndInsert(connection: DuckDBConnection, plan: GroupPlan): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${STAGING} AS FROM measurements LIMIT 0`);
  const appender = await connection.createAppender(STAGING, 'main', 'temp');
  try {
    const toJson = memoLast((value: unknown) => JSON.stringify(value));
    for (const row of plan.rows) appendRow(appender, row, toJson);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  const move = plan.unanswered.size
    ? `INTO measurements SELECT s.* FROM ${STAGING} s ANTI JOIN (${storedReadings(plan.unanswered)}) stored USING (reading_id)`
    : `INTO measurements SELECT * FROM ${STAGING}`;
  try {
    await connection.run(`INSERT ${move}`);
  } catch (error) {
    // A file made with the primary key, and a reading id stored at another event time, which
    // neither memory nor the join looks for (reading ids hash the event time, so ingest cannot
    // make one). Keep the stored row rather than fail the group on every redelivery.
    if (!isDuplicateKey(error)) throw error;
    await connection.run(`INSERT OR IGNORE ${move}`);
  }
}

/** The primary key's refusal; not NOT NULL's, which INSERT OR IGNORE does not ignore (and would hide behind a binder error). */
function isDuplicateKey(error: unknown): boolean {
  return /duplicate key/i.test(String(error));
}

/**
 * Sets memory's floor at the newest event time stored; if that is in the future (a device whose
 * clock runs ahead), at the present, with the readings stored later than that, unless there are
 * more of those than memory keeps. One device stamped a day ahead must not lift the floor a day
 * ahead, which would send every write through the join until then.
 */
async function setFloor(connection: DuckDBConnection, recent: RecentReadings): Promise<void> {
  const nowMs = Date.now();
  const newest = await connection.runAndReadAll('SELECT ceil(epoch_us(max(event_ts)) / 1000)::DOUBLE FROM measurements');
  const newestMs = newest.getRows()[0]?.[0];
  if (typeof newestMs !== 'number') return recent.setFloor(-Infinity);
  if (newestMs <= nowMs) return recent.setFloor(newestMs);
  const ahead = await connection.runAndReadAll(
    `SELECT DISTINCT reading_id, epoch_ms(event_ts)::DOUBLE FROM measurements WHERE event_ts > ${timestampSql(nowMs)} LIMIT ${recent.maxReadings + 1}`,
  );
  const rows = ahead.getRows();
  if (rows.length > recent.maxReadings) return recent.setFloor(newestMs);
  recent.setFloor(
    nowMs,
    rows.map(([readingId, eventMs]) => [String(readingId), Number(eventMs)] as const),
  );
}

/** A TIMESTAMPTZ literal of whole milliseconds, exact at any date (microseconds as a BIGINT). */
const timestampSql = (ms: number) => `make_timestamptz(${BigInt(Math.trunc(ms)) * 1000n}::BIGINT)`;

/**
 * The staged readings already in `measurements`, among those of the given event times. A
 * reading's identity fixes its event time, so only stored rows at one of those times can match.
 * A few times are listed (late readings in a group of new ones): only the stored rows at those
 * instants reach the join, where a range from the first to the last would take in every row
 * between, and late readings spread over minutes. DuckDB takes the list as an optional filter,
 * so it still reads the ids of every row group its zone maps cannot rule out (docs/performance.md,
 * Whole local stack). Many times are bounded by their range, which the zone maps keep to a few
 * row groups when data arrives roughly in time order. The semi join hashes the staged ids (the
 * group) rather than every stored id there.
 * @see https://duckdb.org/docs/stable/sql/query_syntax/from#semi-and-anti-joins
 */
function storedReadings(eventMs: Set<number>): string {
  const times = [...eventMs];
  const where =
    times.length <= MAX_LISTED_TIMES
      ? `m.event_ts IN (${times.map(timestampSql).join(', ')})`
      : `m.event_ts BETWEEN ${timestampSql(Math.min(...times))} AND ${timestampSql(Math.max(...times))}`;
  return `SELECT DISTINCT m.reading_id FROM measurements m SEMI JOIN ${STAGING} USING (reading_id) WHERE ${where}`;
}

/**
 * DuckDB's error classes that a retry can outlive: the file system (a full disk, `IO Error`),
 * memory, an interrupted statement, a transaction conflict, the file lock. Anything else
 * (conversion, constraint, a bug in this module) fails the same rows the same way again and
 * passes unchanged, so ingest rejects the message instead of looping on 503s.
 */
const TRANSIENT_DUCKDB_ERROR =
  /^(IO Error|Out of Memory Error|INTERRUPT Error|Interrupt Error|TransactionContext Error)|Could not set lock|No space left|is closed|has been invalidated/i;

/** DuckDB's answer once it gave the database up (after a failed checkpoint): only opening the file again helps. */
const INVALIDATED = /has been invalidated|FATAL Error/;

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
