/**
 * The readings function's wire shapes: the query strings of the read API and its answers.
 * Windows and pages are bounded here, so that no request can ask PostgreSQL for more than
 * one index range of one device (raw readings: 31 days, 1,000 per page; series: 1,000 buckets).
 * @see ../docs/readings-api.md
 */
import { z } from 'zod';
import { RegistryId, Site } from './device.ts';
import { queryInteger } from './query-integer.ts';
import { MetricName } from './reading.ts';

export const MAX_READINGS_WINDOW_MS = 31 * 24 * 60 * 60 * 1000;
export const DEFAULT_WINDOW_MS = 24 * 60 * 60 * 1000;
export const MAX_READINGS_PAGE_SIZE = 1000;
export const DEFAULT_READINGS_PAGE_SIZE = 100;
export const MAX_SERIES_BUCKETS = 1000;
export const MAX_FLEET_PAGE_SIZE = 1000;
export const DEFAULT_FLEET_PAGE_SIZE = 100;
/** Metrics one request may select. */
export const MAX_SELECTED_METRICS = 32;
export const MAX_PAGE_TOKEN_LENGTH = 2048;

/** Bucket widths of the series endpoint, in milliseconds. */
export const SERIES_INTERVALS = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 } as const;
export type SeriesInterval = keyof typeof SERIES_INTERVALS;
export const SERIES_AGGREGATES = ['avg', 'min', 'max', 'count', 'last'] as const;
export type SeriesAggregate = (typeof SERIES_AGGREGATES)[number];

/**
 * The instants a query may name: from year 1, and before the last day of year 9999, so that a
 * window widened to whole days still ends in year 9999. PostgreSQL refused what lay beyond
 * (a 500), and an answer's `to` in year 10000 is not RFC 3339.
 */
export const EARLIEST_QUERY_TIME = Date.parse('0001-01-01T00:00:00Z');
export const LATEST_QUERY_TIME = Date.parse('9999-12-31T00:00:00Z');

/** An instant in a query string: RFC 3339 with an offset, or epoch milliseconds. Output: epoch ms. */
export const QueryTime = z.string().transform((s, ctx) => {
  const ms = /^\d{1,15}$/.test(s) ? Number(s) : z.iso.datetime({ offset: true }).safeParse(s).success ? Date.parse(s) : Number.NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 timestamp with offset or epoch milliseconds' });
    return z.NEVER;
  }
  if (ms < EARLIEST_QUERY_TIME || ms >= LATEST_QUERY_TIME) {
    ctx.addIssue({ code: 'custom', message: 'must be from 0001-01-01T00:00:00Z and before 9999-12-31T00:00:00Z' });
    return z.NEVER;
  }
  return ms;
});

/** `a,b,c` → a de-duplicated list of metric names, each checked. */
const MetricList = z
  .string()
  .transform((s) => [
    ...new Set(
      s
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== ''),
    ),
  ])
  .pipe(
    z
      .array(MetricName)
      .min(1, { error: 'name at least one metric' })
      .max(MAX_SELECTED_METRICS, { error: `at most ${MAX_SELECTED_METRICS} metrics` }),
  );

/** A duration such as `90s`, `15m`, `2h`, `7d`. Output: milliseconds. */
export const Duration = z.string().transform((s, ctx) => {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(s);
  const ms = match ? Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'] : 0;
  if (ms > 0) return ms;
  ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as 90s, 15m, 2h or 7d' });
  return z.NEVER;
});

const PageToken = z.string().min(1).max(MAX_PAGE_TOKEN_LENGTH);
const pageSize = (max: number, fallback: number) => queryInteger(z.number().min(1).max(max)).default(fallback);

/**
 * The window a query means: `to` defaults to now and `from` to a span before `to`. `from` and
 * `to` stay as given, so that a page token can tell the same query asked again later.
 */
function resolveWindow<T extends { from?: number; to?: number }>(
  query: T,
  defaultSpanMs: number,
  now = Date.now(),
): T & { window: { from: number; to: number } } {
  const to = query.to ?? now;
  return { ...query, window: { from: query.from ?? to - defaultSpanMs, to } };
}

/** `GET /v1/devices/{id}/readings`: the window is [from, to). */
export const ReadingsQuery = z
  .strictObject({
    from: QueryTime.optional(),
    to: QueryTime.optional(),
    metrics: MetricList.optional(),
    order: z.enum(['asc', 'desc']).default('asc'),
    pageSize: pageSize(MAX_READINGS_PAGE_SIZE, DEFAULT_READINGS_PAGE_SIZE),
    pageToken: PageToken.optional(),
  })
  .transform((q) => resolveWindow(q, DEFAULT_WINDOW_MS))
  .superRefine(({ window: { from, to } }, ctx) => {
    if (from >= to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    else if (to - from > MAX_READINGS_WINDOW_MS) ctx.addIssue({ code: 'custom', path: ['to'], message: 'the window from..to spans at most 31 days' });
  });
export type ReadingsQuery = z.infer<typeof ReadingsQuery>;

/** `GET /v1/devices/{id}/series`: buckets of `interval` aligned in UTC, over [from, to). */
export const SeriesQuery = z
  .strictObject({
    metric: MetricName,
    from: QueryTime.optional(),
    to: QueryTime.optional(),
    interval: z.enum(Object.keys(SERIES_INTERVALS) as [SeriesInterval, ...SeriesInterval[]], { error: 'must be one of 1m, 5m, 1h, 1d' }).default('5m'),
    agg: z
      .string()
      .transform((s) => [...new Set(s.split(',').map((a) => a.trim()))])
      .pipe(z.array(z.enum(SERIES_AGGREGATES, { error: 'each aggregate must be one of avg, min, max, count, last' })).min(1))
      .default(['avg']),
  })
  .transform((q) => resolveWindow(q, Math.min(DEFAULT_WINDOW_MS, SERIES_INTERVALS[q.interval] * (MAX_SERIES_BUCKETS - 1))))
  .superRefine((q, ctx) => {
    if (q.window.from >= q.window.to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
      return;
    }
    if (countBuckets(q.window.from, q.window.to, SERIES_INTERVALS[q.interval]) > MAX_SERIES_BUCKETS) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `the window from..to holds more than ${MAX_SERIES_BUCKETS} buckets of ${q.interval}` });
    }
  });
export type SeriesQuery = z.infer<typeof SeriesQuery>;

/** Aligned buckets a window [from, to) touches. */
export function countBuckets(from: number, to: number, widthMs: number): number {
  return Math.ceil(to / widthMs) - Math.floor(from / widthMs);
}

/** `GET /v1/fleet`. */
export const FleetQuery = z.strictObject({
  registry: RegistryId.optional(),
  site: Site.optional(),
  silentFor: Duration.optional(),
  pageSize: pageSize(MAX_FLEET_PAGE_SIZE, DEFAULT_FLEET_PAGE_SIZE),
  pageToken: PageToken.optional(),
});
export type FleetQuery = z.infer<typeof FleetQuery>;

// ---------------------------------------------------------------------------------------
// Answers.

const Timestamp = z.iso.datetime();
const MetricValue = z.union([z.number(), z.boolean(), z.string()]);

export const ReadingItem = z.object({
  ts: Timestamp,
  metrics: z.record(z.string(), MetricValue),
  seq: z.int().optional(),
  location: z.object({ lat: z.number(), lon: z.number(), alt: z.number().optional() }).optional(),
});
export type ReadingItem = z.infer<typeof ReadingItem>;

export const ReadingsResponse = z.object({ readings: z.array(ReadingItem), nextPageToken: z.string().optional() });
export type ReadingsResponse = z.infer<typeof ReadingsResponse>;

export const SeriesBucket = z.object({
  ts: Timestamp,
  avg: z.number().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  count: z.int().optional(),
  last: z.number().optional(),
});
export type SeriesBucket = z.infer<typeof SeriesBucket>;

export const SeriesResponse = z.object({
  deviceId: z.string(),
  metric: z.string(),
  interval: z.enum(Object.keys(SERIES_INTERVALS) as [SeriesInterval, ...SeriesInterval[]]),
  from: Timestamp,
  to: Timestamp,
  buckets: z.array(SeriesBucket),
});
export type SeriesResponse = z.infer<typeof SeriesResponse>;

export const FleetDevice = z.object({
  deviceId: z.string(),
  registry: z.string(),
  site: z.string().nullable(),
  blocked: z.boolean(),
  lastEventTs: Timestamp.nullable(),
  lastSeenAt: Timestamp.nullable(),
  lastMetrics: z.record(z.string(), MetricValue),
  readingsTotal: z.int(),
});
export type FleetDevice = z.infer<typeof FleetDevice>;

export const FleetResponse = z.object({ devices: z.array(FleetDevice), nextPageToken: z.string().optional() });
export type FleetResponse = z.infer<typeof FleetResponse>;
