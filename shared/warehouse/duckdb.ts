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
import { retentionCutoff } from '../lifecycle/retention.ts';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DuckDBInstance,
  timestampTZValue,
  type DuckDBAppender,
  type DuckDBConnection,
} from '@duckdb/node-api';
import { duckDbMeasurementsDdl, type Column } from '../../schemas/columns.ts';
import type { MeasurementRow } from '../../schemas/rows.ts';
import type { WarehouseSink } from './sink.ts';
import { MEASUREMENT_COLUMNS } from './rows.ts';
import { renderDedupeView } from './views.ts';

/** The answer to analyst SQL: column names and rows of JSON-friendly values. */
export interface QueryResult {
  columns: string[];
  rows: unknown[][];
}

/** The DuckDB sink, which also answers SQL on the same connection (`npm run query`). */
export interface DuckDbSink extends WarehouseSink {
  readonly kind: 'duckdb';
  readonly path: string;
  /** Runs SQL after every write queued so far, so a query sees what was written before it. */
  query(sql: string): Promise<QueryResult>;
  applyRetention(days: number): Promise<string>;
}

const STAGING = 'measurements_staging';
/** Bounds one group commit, so a burst cannot build one unbounded statement. */
const MAX_GROUP_ROWS = 20_000;

/**
 * Opens (creating when missing) the warehouse file and its `measurements` table.
 * @see ../../shared/DESIGN.md "Stores": the warehouse table and its columns
 */
export async function openDuckDbSink(path: string): Promise<DuckDbSink> {
  if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(path);
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
  let forming: { rows: MeasurementRow[]; written: Promise<void> } | undefined;
  const joinGroup = (rows: readonly MeasurementRow[]): Promise<void> => {
    if (!forming || forming.rows.length + rows.length > MAX_GROUP_ROWS) {
      const group: { rows: MeasurementRow[]; written: Promise<void> } = { rows: [], written: Promise.resolve() };
      group.written = serialise(() => {
        if (forming === group) forming = undefined;
        return writeRows(connection, group.rows);
      });
      forming = group;
    }
    forming.rows.push(...rows);
    return forming.written;
  };
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error(`DuckDB warehouse ${path} is closed`);
  };

  return {
    kind: 'duckdb',
    path,
    write(rows) {
      ensureOpen();
      if (rows.length === 0) return Promise.resolve({ refused: [] });
      return joinGroup(rows).then(() => ({ refused: [] }));
    },
    query(sql) {
      ensureOpen();
      return serialise(() => runQuery(connection, sql));
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
      await queue;
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** Appends rows to the staging table, moves the new ones into `measurements`, empties staging. */
async function writeRows(connection: DuckDBConnection, rows: readonly MeasurementRow[]): Promise<void> {
  const appender = await connection.createAppender(STAGING, 'main', 'temp');
  try {
    for (const row of rows) appendRow(appender, row);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  try {
    await moveStagedRows(connection);
  } finally {
    await connection.run(`DELETE FROM ${STAGING}`);
  }
}

/**
 * Moves staged rows into `measurements`. A plain INSERT first: on a table of 200k rows it
 * costs ~12 ms for 600 rows where `INSERT OR IGNORE` costs ~40-80 ms, whatever the batch
 * size (DuckDB's conflict path is slow); redeliveries are rare, so only a batch that hits
 * the primary key pays for the conflict-skipping INSERT. The failed INSERT changes nothing.
 * @see https://duckdb.org/docs/sql/statements/insert#insert-or-ignore
 */
async function moveStagedRows(connection: DuckDBConnection): Promise<void> {
  try {
    await connection.run(`INSERT INTO measurements SELECT * FROM ${STAGING}`);
  } catch (error) {
    if (!isConstraintViolation(error)) throw error;
    await connection.run(`INSERT OR IGNORE INTO measurements SELECT * FROM ${STAGING}`);
  }
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

async function runQuery(connection: DuckDBConnection, sql: string): Promise<QueryResult> {
  const reader = await connection.runAndReadAll(sql);
  return { columns: reader.columnNames(), rows: reader.getRowsJson() };
}

/** Another process (the running stack) holds the file; ask that process, via its sink's query(). */
export class WarehouseBusyError extends Error {
  override readonly name: string = 'WarehouseBusyError';
  constructor(path: string, cause: unknown) {
    super(`${path} is open in another process (is the stack running?); DuckDB lets only that process read it`, { cause });
  }
}

/**
 * Runs one SQL statement on a warehouse file that no process holds open for writing (DuckDB
 * lets one process write a file at a time); opened read-only so it never changes the file.
 * @see https://duckdb.org/docs/connect/concurrency
 */
export async function queryDuckDb(path: string, sql: string): Promise<QueryResult> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' }).catch((error: unknown) => {
    if (!/Could not set lock/.test(String(error))) throw error;
    throw new WarehouseBusyError(path, error);
  });
  try {
    const connection = await instance.connect();
    try {
      return await runQuery(connection, sql);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
