/**
 * The read queries. Each touches one device's rows through the `(device_id, event_ts)` index
 * of `readings` (a range scan, on the plain table and on every partition of the partitioned
 * one alike), runs in a read-only transaction with a statement timeout, and is bounded by the
 * query schemas (window, page size, bucket count). EXPLAIN output: docs/readings-api.md.
 */
import type { Database, Sql } from '../../shared/db/database.ts';
import { classifyDbError } from '../../shared/db/database.ts';

/** Runs `fn` in a read-only transaction whose statements are cancelled after `timeoutMs`. */
export async function readOnly<T>(db: Database, timeoutMs: number, fn: (sql: Sql) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(async (tx) => {
      await tx.exec(`SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      return fn(tx);
    });
  } catch (error) {
    // A cancelled statement (57014) and a lost connection are worth a retry: 503.
    throw classifyDbError(error, 'readings');
  }
}

export async function deviceExists(sql: Sql, deviceId: string): Promise<boolean> {
  const { rows } = await sql.query('SELECT 1 FROM devices WHERE device_id = $1', [deviceId]);
  return rows.length > 0;
}

/** Where the previous page ended: the last row's exact event time (as PostgreSQL prints it) and id. */
export interface ReadingCursor {
  ts: string;
  id: string;
}

export interface ReadingsRange {
  deviceId: string;
  fromMs: number;
  toMs: number;
  order: 'asc' | 'desc';
  /** Only readings holding at least one of these metrics. */
  metrics?: string[];
  after?: ReadingCursor;
  limit: number;
}

export interface StoredReading {
  reading_id: string;
  event_ts: Date;
  cursor_ts: string;
  metrics: Record<string, unknown>;
  seq: number | string | null;
  location: Record<string, unknown> | null;
}

/**
 * One page of a device's readings in [from, to), ordered by (event_ts, reading_id) so that
 * readings sharing a timestamp still page without duplicates or gaps (keyset paging).
 */
export async function selectReadings(sql: Sql, range: ReadingsRange): Promise<StoredReading[]> {
  const params: unknown[] = [range.deviceId, new Date(range.fromMs), new Date(range.toMs)];
  const where = ['device_id = $1', 'event_ts >= $2', 'event_ts < $3'];
  if (range.metrics) {
    params.push(range.metrics);
    where.push(`metrics ?| $${params.length}::text[]`);
  }
  const [cmp, dir] = range.order === 'asc' ? ['>', 'ASC'] : ['<', 'DESC'];
  if (range.after) {
    params.push(range.after.ts, range.after.id);
    const ts = `$${params.length - 1}::timestamptz`;
    const id = `$${params.length}::text`;
    // The first bound narrows the index range; the second breaks ties on the timestamp.
    where.push(`event_ts ${cmp}= ${ts}`, `(event_ts ${cmp} ${ts} OR reading_id ${cmp} ${id})`);
  }
  params.push(range.limit);
  const { rows } = await sql.query<StoredReading>(
    `SELECT reading_id, event_ts, event_ts::text AS cursor_ts, metrics, seq, location
       FROM readings
      WHERE ${where.join(' AND ')}
      ORDER BY event_ts ${dir}, reading_id ${dir}
      LIMIT $${params.length}`,
    params,
  );
  return rows;
}

export interface BucketRange {
  deviceId: string;
  metric: string;
  fromMs: number;
  toMs: number;
  widthMs: number;
}

export interface StoredBucket {
  bucket: Date;
  avg: number;
  min: number;
  max: number;
  count: number;
  last: number;
}

/**
 * One row per non-empty bucket of `widthMs`, aligned to the epoch in UTC. Numbers count as
 * themselves, booleans as 1 and 0; text values are not aggregated. `last` is the value of the
 * bucket's latest reading. The average is taken in numeric: float8's `avg` keeps a sum of
 * squares, which overflowed (an error, 500) for a device that sent 1e200 once, in every series
 * over that bucket; an average of float8 values always fits a float8.
 */
export async function selectBuckets(sql: Sql, range: BucketRange): Promise<StoredBucket[]> {
  const { rows } = await sql.query<StoredBucket>(
    `SELECT date_bin($4::bigint * interval '1 millisecond', event_ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
            avg(v::numeric)::float8 AS avg, min(v) AS min, max(v) AS max, count(v)::int AS count,
            (array_agg(v ORDER BY event_ts DESC, reading_id DESC))[1] AS last
       FROM (SELECT event_ts, reading_id,
                    CASE jsonb_typeof(metrics -> $5)
                      WHEN 'number' THEN (metrics ->> $5)::float8
                      WHEN 'boolean' THEN CASE WHEN (metrics -> $5)::boolean THEN 1 ELSE 0 END
                    END AS v
               FROM readings
              WHERE device_id = $1 AND event_ts >= $2 AND event_ts < $3 AND metrics ? $5) AS r
      WHERE v IS NOT NULL
      GROUP BY 1
      ORDER BY 1`,
    [range.deviceId, new Date(range.fromMs), new Date(range.toMs), range.widthMs, range.metric],
  );
  return rows;
}

export interface FleetFilter {
  registry?: string;
  site?: string;
  /** Only devices not seen for this long (or never). */
  silentForMs?: number;
  afterDeviceId?: string;
  limit: number;
}

export interface StoredFleetDevice {
  device_id: string;
  registry: string;
  site: string | null;
  blocked: boolean;
  last_event_ts: Date | null;
  last_seen_at: Date | null;
  last_metrics: Record<string, unknown> | null;
  readings_total: number | string | null;
}

/** Devices in id order (keyset paging on the primary key) with their latest state. */
export async function selectFleet(sql: Sql, filter: FleetFilter): Promise<StoredFleetDevice[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (filter.afterDeviceId !== undefined) where.push(`d.device_id > ${bind(filter.afterDeviceId)}`);
  if (filter.registry !== undefined) where.push(`d.registry = ${bind(filter.registry)}`);
  if (filter.site !== undefined) where.push(`d.site = ${bind(filter.site)}`);
  if (filter.silentForMs !== undefined) {
    where.push(`(s.last_seen_at IS NULL OR s.last_seen_at < now() - ${bind(filter.silentForMs)}::bigint * interval '1 millisecond')`);
  }
  const { rows } = await sql.query<StoredFleetDevice>(
    `SELECT d.device_id, d.registry, d.site, d.blocked, s.last_event_ts, s.last_seen_at, s.last_metrics, s.readings_total
       FROM devices d LEFT JOIN device_state s ON s.device_id = d.device_id
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY d.device_id
      LIMIT ${bind(filter.limit)}`,
    params,
  );
  return rows;
}
