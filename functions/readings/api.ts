/**
 * The read API's operations, free of HTTP: a parsed query in, an answer (or an HttpError) out.
 * @see ../../docs/readings-api.md
 */
import { z } from 'zod';
import type { Sql } from '../../shared/db/database.ts';
import { HttpError } from '../../shared/errors.ts';
import { DeviceId } from '../../schemas/reading.ts';
import {
  SERIES_INTERVALS,
  type FleetQuery,
  type FleetResponse,
  type ReadingItem,
  type ReadingsQuery,
  type ReadingsResponse,
  type SeriesBucket,
  type SeriesQuery,
  type SeriesResponse,
} from '../../schemas/readings-api.ts';
import type { PageTokenCodec } from './page-token.ts';
import { deviceExists, selectBuckets, selectFleet, selectReadings, type StoredReading } from './store.ts';

export interface ReadDeps {
  /** Runs `fn` against the database in a read-only transaction with a statement timeout. */
  read<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  pageTokens: PageTokenCodec;
}

/** Where the previous page ended, and the window the first page resolved (its `to` may have been "now"). */
const ReadingCursor = z.strictObject({
  from: z.int(),
  to: z.int(),
  ts: z.string().regex(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d){0,2}$/),
  id: z
    .string()
    .min(1)
    .max(256)
    .refine((id) => !id.includes('\u0000')),
});
const FleetCursor = z.strictObject({ after: DeviceId });

const deviceNotFound = (deviceId: string) => new HttpError(404, 'not_found', `device ${JSON.stringify(deviceId)} not found`);

const iso = (ms: number) => new Date(ms).toISOString();

function toReadingItem(row: StoredReading, metrics: readonly string[] | undefined): ReadingItem {
  const values = row.metrics as ReadingItem['metrics'];
  const selected = metrics ? Object.fromEntries(metrics.filter((m) => m in values).map((m) => [m, values[m] as ReadingItem['metrics'][string]])) : values;
  const location = row.location as ReadingItem['location'] | null;
  return {
    ts: row.event_ts.toISOString(),
    metrics: selected,
    ...(row.seq === null ? {} : { seq: Number(row.seq) }),
    ...(location ? { location } : {}),
  };
}

/** A device's raw readings in [from, to), one page at a time. */
export async function listReadings(deps: ReadDeps, deviceId: string, query: ReadingsQuery): Promise<ReadingsResponse> {
  const scope = JSON.stringify(['readings', deviceId, query.from ?? null, query.to ?? null, query.order, query.metrics ?? null]);
  const cursor = query.pageToken === undefined ? undefined : deps.pageTokens.decode(query.pageToken, scope, ReadingCursor);
  const window = cursor ? { from: cursor.from, to: cursor.to } : query.window;
  const rows = await deps.read(async (sql) => {
    if (!(await deviceExists(sql, deviceId))) throw deviceNotFound(deviceId);
    const after = cursor ? { ts: cursor.ts, id: cursor.id } : undefined;
    return selectReadings(sql, {
      deviceId,
      fromMs: window.from,
      toMs: window.to,
      order: query.order,
      metrics: query.metrics,
      after,
      limit: query.pageSize + 1,
    });
  });
  const page = rows.slice(0, query.pageSize);
  const last = page.at(-1);
  const readings = page.map((row) => toReadingItem(row, query.metrics));
  if (rows.length <= query.pageSize || !last) return { readings };
  return { readings, nextPageToken: deps.pageTokens.encode(scope, { ...window, ts: last.cursor_ts, id: last.reading_id }) };
}

/** One metric of a device in aligned buckets; the window is widened to whole buckets. */
export async function getSeries(deps: ReadDeps, deviceId: string, query: SeriesQuery): Promise<SeriesResponse> {
  const widthMs = SERIES_INTERVALS[query.interval];
  const fromMs = Math.floor(query.window.from / widthMs) * widthMs;
  const toMs = Math.ceil(query.window.to / widthMs) * widthMs;
  const rows = await deps.read(async (sql) => {
    if (!(await deviceExists(sql, deviceId))) throw deviceNotFound(deviceId);
    return selectBuckets(sql, { deviceId, metric: query.metric, fromMs, toMs, widthMs });
  });
  const buckets = rows.map((row) => {
    const bucket: SeriesBucket = { ts: row.bucket.toISOString() };
    for (const agg of query.agg) bucket[agg] = Number(row[agg]);
    return bucket;
  });
  return { deviceId, metric: query.metric, interval: query.interval, from: iso(fromMs), to: iso(toMs), buckets };
}

/** Every device (or those of a registry, a site, or silent that long) with its latest state. */
export async function listFleet(deps: ReadDeps, query: FleetQuery): Promise<FleetResponse> {
  const scope = JSON.stringify(['fleet', query.registry ?? null, query.site ?? null, query.silentFor ?? null]);
  const cursor = query.pageToken === undefined ? undefined : deps.pageTokens.decode(query.pageToken, scope, FleetCursor);
  const rows = await deps.read((sql) =>
    selectFleet(sql, { registry: query.registry, site: query.site, silentForMs: query.silentFor, afterDeviceId: cursor?.after, limit: query.pageSize + 1 }),
  );
  const page = rows.slice(0, query.pageSize);
  const devices = page.map((row) => ({
    deviceId: row.device_id,
    registry: row.registry,
    site: row.site,
    blocked: row.blocked,
    lastEventTs: row.last_event_ts?.toISOString() ?? null,
    lastSeenAt: row.last_seen_at?.toISOString() ?? null,
    lastMetrics: (row.last_metrics ?? {}) as FleetResponse['devices'][number]['lastMetrics'],
    readingsTotal: Number(row.readings_total ?? 0),
  }));
  const last = page.at(-1);
  if (rows.length <= query.pageSize || !last) return { devices };
  return { devices, nextPageToken: deps.pageTokens.encode(scope, { after: last.device_id }) };
}
