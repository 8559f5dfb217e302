/**
 * `npm run maintain` and the registry's `POST /v1/maintenance:run`: keeps the operational
 * store bounded (docs/lifecycle.md).
 *
 * - creates the `readings` partitions of yesterday, today and the days ahead, and of any day
 *   whose readings waited in the default partition (moving them in);
 * - drops whole partitions past READINGS_RETENTION_DAYS (never a mass DELETE), and deletes
 *   the few default-partition rows past it;
 * - deletes `rejected` rows past REJECTED_RETENTION_DAYS in bounded batches;
 * - keeps the last 10 rows per device of `device_configs` and `device_states` (IoT Core's
 *   config versions and reported states; their writers trim too, this catches what a crash left);
 * - sets the warehouse's retention when BIGQUERY_PARTITION_EXPIRATION_DAYS is set.
 *
 * Safe to run twice at once without a global lock: partition changes are serialised by one
 * transaction-scoped advisory lock each and re-check what exists under it; batched deletes
 * take their rows with SKIP LOCKED. Each step is its own short transaction with a lock
 * timeout, so ingest is never held behind maintain for long.
 */
import { exponentialDelayMs } from '../backoff.ts';
import type { Database, Sql } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { Platform } from '../runtime/platform.ts';
import type { WarehouseSink } from '../warehouse/sink.ts';
import { DAY_MS, dayOf, dayOfPartition, partitionName, retentionCutoff } from '../retention.ts';

/** The key migration 003's readings_create_day_partition() serialises partition changes with. */
const PARTITION_LOCK_KEY = 7_204_118_015;
/** How many rows one DELETE of a batched step touches. */
const DEFAULT_BATCH_SIZE = 5_000;
/** How many versions of config and state a device keeps (IoT Core kept 10). */
const KEPT_VERSIONS = 10;

export interface MaintenanceOptions {
  readingsRetentionDays: number;
  rejectedRetentionDays: number;
  /** When set, the warehouse keeps this many days (BigQuery partition expiration, DuckDB DELETE). */
  warehouseRetentionDays?: number;
  warehouse?: () => Promise<WarehouseSink>;
  logger: Logger;
  /** Partitions created ahead of today (default 7). */
  daysAhead?: number;
  batchSize?: number;
  /** How long a partition change waits for ingest's locks before it retries (default 2 s). */
  lockTimeoutMs?: number;
  now?: Date;
}

export interface MaintenanceReport {
  partitionsCreated: string[];
  partitionsDropped: string[];
  /** Rows past retention deleted from `readings_default`. */
  defaultRowsDeleted: number;
  rejectedDeleted: number;
  /** Rows trimmed to the last 10 per device. */
  deviceConfigsDeleted: number;
  deviceStatesDeleted: number;
  warehouse?: string;
}

/** The options the configuration gives (READINGS_RETENTION_DAYS and the others). */
export function maintenanceOptions(platform: Pick<Platform, 'config' | 'logger' | 'warehouse'>): MaintenanceOptions {
  const { retention } = platform.config;
  return {
    readingsRetentionDays: retention.readingsDays,
    rejectedRetentionDays: retention.rejectedDays,
    ...(retention.bigQueryPartitionExpirationDays === undefined ? {} : { warehouseRetentionDays: retention.bigQueryPartitionExpirationDays }),
    warehouse: () => platform.warehouse(),
    logger: platform.logger,
  };
}

/** Runs every step once; idempotent. */
export async function runMaintenance(db: Database, options: MaintenanceOptions): Promise<MaintenanceReport> {
  const { logger } = options;
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const readingsCutoff = retentionCutoff(now, options.readingsRetentionDays);

  const partitionsCreated = await createPartitions(db, options, now, readingsCutoff);
  for (const name of partitionsCreated) logger.info('created partition', { partition: name });
  const partitionsDropped = await dropPartitions(db, options, readingsCutoff);
  const defaultRowsDeleted = await deleteInBatches(
    db,
    `DELETE FROM readings_default WHERE ctid = ANY(ARRAY(SELECT ctid FROM readings_default WHERE event_ts < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
    [readingsCutoff.toISOString(), batchSize],
  );
  if (defaultRowsDeleted > 0) logger.info('deleted readings past retention from the default partition', { rows: defaultRowsDeleted });

  const rejectedCutoff = retentionCutoff(now, options.rejectedRetentionDays);
  const rejectedDeleted = await deleteInBatches(
    db,
    `DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [rejectedCutoff.toISOString(), batchSize],
  );
  logger.info('deleted rejected messages past retention', { rows: rejectedDeleted, before: rejectedCutoff.toISOString() });

  const deviceConfigsDeleted = await keepLastVersions(db, 'device_configs', 'version DESC', batchSize, logger);
  const deviceStatesDeleted = await keepLastVersions(db, 'device_states', 'update_time DESC, id DESC', batchSize, logger);

  let warehouse: string | undefined;
  if (options.warehouseRetentionDays !== undefined && options.warehouse) {
    const sink = await options.warehouse();
    if (sink.applyRetention) {
      warehouse = await sink.applyRetention(options.warehouseRetentionDays);
      logger.info('warehouse retention applied', { result: warehouse });
    }
  }
  return {
    partitionsCreated,
    partitionsDropped,
    defaultRowsDeleted,
    rejectedDeleted,
    deviceConfigsDeleted,
    deviceStatesDeleted,
    ...(warehouse ? { warehouse } : {}),
  };
}

/** Yesterday to `daysAhead`, plus every day within retention that waits in the default partition. */
async function createPartitions(db: Database, options: MaintenanceOptions, now: Date, cutoff: Date): Promise<string[]> {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const days = new Set<string>();
  for (let d = -1; d <= (options.daysAhead ?? 7); d++) days.add(dayOf(today + d * DAY_MS));
  const waiting = await db.query<{ day: string }>(
    `SELECT DISTINCT to_char(event_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM readings_default WHERE event_ts >= $1`,
    [cutoff.toISOString()],
  );
  for (const { day } of waiting.rows) days.add(day);
  const created: string[] = [];
  for (const day of [...days].sort()) {
    const made = await withLockRetry(db, options, (tx) => tx.query<{ made: boolean }>('SELECT readings_create_day_partition($1::date) AS made', [day]));
    if (made.rows[0]?.made) created.push(partitionName(day));
  }
  return created;
}

/** Drops the partitions whose whole day lies before the cutoff, logging each. */
async function dropPartitions(db: Database, options: MaintenanceOptions, cutoff: Date): Promise<string[]> {
  const partitions = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'readings'::regclass ORDER BY 1`,
  );
  const cutoffDay = dayOf(cutoff.getTime());
  const dropped: string[] = [];
  for (const { name } of partitions.rows) {
    const day = dayOfPartition(name);
    if (day === undefined || day >= cutoffDay) continue;
    const gone = await withLockRetry(db, options, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK_KEY]);
      // Another maintain may have dropped it while this one waited for the lock.
      const exists = await tx.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [name]);
      if (!exists.rows[0]?.found) return false;
      const rows = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(name)}`);
      await tx.query(`DROP TABLE ${quoteIdent(name)}`);
      options.logger.info('dropped partition', { partition: name, day, rows: rows.rows[0]?.n ?? 0, retentionDays: options.readingsRetentionDays });
      return true;
    });
    if (gone) dropped.push(name);
  }
  return dropped;
}

/** Trims `table` to its last 10 rows per device, newest first by `order`. */
async function keepLastVersions(db: Database, table: 'device_configs' | 'device_states', order: string, batchSize: number, logger: Logger): Promise<number> {
  const deleted = await deleteInBatches(
    db,
    `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY device_id ORDER BY ${order}) AS rank FROM ${table}) ranked
       WHERE rank > ${KEPT_VERSIONS} LIMIT $1))`,
    [batchSize],
  );
  if (deleted > 0) logger.info(`trimmed ${table} to the last ${KEPT_VERSIONS} per device`, { rows: deleted });
  return deleted;
}

/** Repeats a bounded DELETE until it deletes less than a full batch. */
async function deleteInBatches(db: Database, sql: string, params: unknown[]): Promise<number> {
  const batchSize = Number(params[params.length - 1]);
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(sql, params);
    total += rowCount;
    if (rowCount < batchSize) return total;
  }
}

/** One short transaction that gives up on a lock after lockTimeoutMs, retried with backoff. */
async function withLockRetry<T>(db: Database, options: MaintenanceOptions, fn: (tx: Sql) => Promise<T>, attempts = 8): Promise<T> {
  const lockTimeoutMs = Math.max(1, Math.trunc(options.lockTimeoutMs ?? 2_000));
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (tx) => {
        await tx.query(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
        return fn(tx);
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== '55P03' || attempt >= attempts) throw error;
      options.logger.warn('partition change waited too long for a lock; retrying', { attempt });
      await new Promise((resolve) => setTimeout(resolve, exponentialDelayMs(attempt, 100, 5_000)));
    }
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
