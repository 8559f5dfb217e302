/**
 * The ingest writer: group commit of message rows into PostgreSQL and the warehouse at once.
 * A batch that PostgreSQL refuses for a data reason is bisected, so one bad message is
 * rejected alone instead of failing its neighbours.
 */
import { classifyDbError, isTransientDbError } from '../../shared/db/database.ts';
import { PermanentError, TransientError } from '../../shared/errors.ts';
import type { HealthStatus } from '../../shared/deadline.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import { recordRejections, type Rejection } from '../../shared/rejected.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { writeReadings } from './readings-store.ts';
import type { RefusedRow } from '../../shared/warehouse/sink.ts';
import type { MeasurementRow } from '../../schemas/tables.ts';
import type { MessageRows } from './to-rows.ts';

export interface TelemetryWriter {
  write(rows: MessageRows): Promise<void>;
  drain(): Promise<void>;
  /** Unhealthy while a batch write is stuck past its deadline. */
  health(): HealthStatus;
}

export function createTelemetryWriter(platform: Platform): TelemetryWriter {
  const { ingestBatch } = platform.config;
  const batcher = new GroupCommit<MessageRows>({
    maxItems: ingestBatch.enabled ? ingestBatch.maxRows : 1,
    maxWaitMs: ingestBatch.enabled ? ingestBatch.maxWaitMs : 0,
    maxConcurrentFlushes: ingestBatch.enabled ? ingestBatch.concurrency : platform.config.pgPoolMax,
    weight: (m) => Math.max(1, m.readings.length),
    flush: (items) => flushBatch(platform, items),
    // Each store call has its own deadline; this one guarantees the slot comes back whatever hangs.
    flushTimeoutMs: platform.config.deadlines.batchFlushMs,
  });
  return { write: (rows) => batcher.submit(rows), drain: () => batcher.drain(), health: () => batcher.health() };
}

async function flushBatch(platform: Platform, items: MessageRows[]): Promise<(Error | undefined)[]> {
  const [postgres, warehouse] = await Promise.allSettled([writePostgres(platform, items), writeWarehouse(platform, items)]);
  if (postgres.status === 'rejected') throw postgres.reason;
  if (warehouse.status === 'fulfilled') return postgres.value;
  if (warehouse.reason instanceof TransientError) {
    platform.logger.warn('warehouse write failed', { error: warehouse.reason, rows: items.length });
    throw warehouse.reason;
  }
  // Not a store that is down but an error nobody expected (a bug, a value the warehouse
  // cannot take): the same rows would fail the same way on every redelivery, so it is not
  // transient. The message(s) at fault are found by splitting the batch and end in
  // `rejected` with their payload (replayable once fixed); PostgreSQL may hold their
  // readings already, and a replay lands them in the warehouse without a second copy there.
  platform.logger.error('warehouse write failed for an unexpected reason', { error: warehouse.reason, rows: items.length });
  const isolated = await isolateWarehouseFailures(platform, items, warehouse.reason);
  return postgres.value.map((error, i) => error ?? isolated[i]);
}

/** Writes each half again to find the messages the warehouse fails on; those become PermanentError. */
async function isolateWarehouseFailures(platform: Platform, items: MessageRows[], error: unknown): Promise<(Error | undefined)[]> {
  if (items.length === 1) {
    return [
      new PermanentError('warehouse_failed', `the warehouse failed on this message: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      }),
    ];
  }
  const middle = Math.ceil(items.length / 2);
  const results: (Error | undefined)[] = [];
  for (const half of [items.slice(0, middle), items.slice(middle)]) {
    try {
      await writeWarehouse(platform, half);
      for (let i = 0; i < half.length; i++) results.push(undefined);
    } catch (halfError) {
      if (halfError instanceof TransientError) throw halfError;
      for (const result of await isolateWarehouseFailures(platform, half, halfError)) results.push(result);
    }
  }
  return results;
}

/** Writes all items; on a data error, splits the batch to find the items at fault. */
async function writePostgres(platform: Platform, items: MessageRows[]): Promise<(Error | undefined)[]> {
  const db = await platform.database().catch((e: unknown) => {
    throw classifyDbError(e, 'opening the database');
  });
  try {
    await writeReadings(
      db,
      dedupe(
        items.flatMap((i) => i.readings),
        (r) => r.reading_id,
      ),
    );
    return items.map(() => undefined);
  } catch (error) {
    if (isTransientDbError(error)) throw classifyDbError(error, 'writing readings');
    if (items.length === 1) {
      return [new PermanentError('store_refused', `PostgreSQL refused the readings: ${(error as Error).message}`, { cause: error })];
    }
    const middle = Math.ceil(items.length / 2);
    const [left, right] = [items.slice(0, middle), items.slice(middle)];
    return (await writePostgres(platform, left)).concat(await writePostgres(platform, right));
  }
}

async function writeWarehouse(platform: Platform, items: MessageRows[]): Promise<void> {
  const rows = firstReadingRows(items);
  if (rows.length === 0) return;
  const sink = await platform.warehouse();
  const { refused } = await platform.health.observe('warehouse', sink.write(rows));
  if (refused.length) await recordRefusedRows(platform, refused);
}

/** Rows the warehouse calls invalid are kept in `rejected`, one entry per message. */
async function recordRefusedRows(platform: Platform, refused: RefusedRow[]): Promise<void> {
  const byMessage = new Map<string, RefusedRow[]>();
  for (const r of refused) {
    const key = r.row.message_id ?? r.row.reading_id;
    const rows = byMessage.get(key);
    if (rows) rows.push(r);
    else byMessage.set(key, [r]);
  }
  const rejections: Rejection[] = [...byMessage].map(([key, rows]) => ({
    stage: 'warehouse',
    reason: 'warehouse_invalid_row',
    detail: {
      message: 'the warehouse refused these rows',
      rows: rows.map((r) => ({ readingId: r.row.reading_id, metric: r.row.metric, reason: r.reason, message: r.message })),
    },
    payload: JSON.stringify(rows.map((r) => r.row)),
    messageId: key,
  }));
  const db = await platform.database();
  await recordRejections(db, rejections).catch((e: unknown) => {
    throw classifyDbError(e, 'recording refused warehouse rows');
  });
}

/**
 * The warehouse rows of the batch, keeping for each reading identity only the rows of the
 * first message that carries it, as PostgreSQL keeps that message's reading: a second reading
 * with the same identity but other metrics must not add its metrics beside the first's.
 * A message's rows are already one per (reading, metric) (to-rows.ts), so nothing else repeats.
 */
function firstReadingRows(items: MessageRows[]): MeasurementRow[] {
  if (items.length === 1) return (items[0] as MessageRows).measurements;
  const owner = new Map<string, MessageRows>();
  for (const item of items) for (const reading of item.readings) if (!owner.has(reading.reading_id)) owner.set(reading.reading_id, item);
  const rows: MeasurementRow[] = [];
  for (const item of items) for (const row of item.measurements) if (owner.get(row.reading_id) === item) rows.push(row);
  return rows;
}

function dedupe<T>(rows: T[], key: (row: T) => string): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = key(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
