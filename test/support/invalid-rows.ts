/**
 * What the stores hold after a run, checked against the row schemas and the reading rules,
 * and counted per device: the ground truth for "nothing lost, nothing duplicated, nothing
 * invalid".
 * @see ../../schemas/tables.ts and ../../schemas/reading.ts
 */
import type { z } from 'zod';
import { DeviceId, EARLIEST_EVENT_MS, MAX_FUTURE_SKEW_MS, MetricName, MetricValue } from '../../schemas/reading.ts';
import { DeviceRow, DeviceStateRow, MeasurementRow, ReadingRow, RejectedRow } from '../../schemas/tables.ts';
import type { Sql } from '../../shared/db/database.ts';

export interface QueryableWarehouse {
  query(sql: string): Promise<{ columns: string[]; rows: unknown[][] }>;
}

const asDate = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
const asNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** A DuckDB answer row as a MeasurementRow candidate (timestamps and JSON come back as text). */
function measurementFrom(columns: string[], values: unknown[]): Record<string, unknown> {
  const row = Object.fromEntries(columns.map((c, i) => [c, values[i]]));
  return {
    ...row,
    event_ts: asDate(row.event_ts),
    received_at: asDate(row.received_at),
    ingested_at: asDate(row.ingested_at),
    seq: asNumber(row.seq),
    value: asNumber(row.value),
    lat: asNumber(row.lat),
    lon: asNumber(row.lon),
    tags: typeof row.tags === 'string' ? (JSON.parse(row.tags) as unknown) : row.tags,
  };
}

/** Every way a reading row breaks the reading rules beyond its column types. */
function readingRuleProblems(row: z.infer<typeof ReadingRow>): string[] {
  const problems: string[] = [];
  if (!DeviceId.safeParse(row.device_id).success) problems.push('device_id is not a valid device id');
  const ms = row.event_ts.getTime();
  if (!(ms >= EARLIEST_EVENT_MS && ms <= row.ingested_at.getTime() + MAX_FUTURE_SKEW_MS + 60_000))
    problems.push(`event_ts ${row.event_ts.toISOString()} out of range`);
  for (const [name, value] of Object.entries(row.metrics)) {
    if (!MetricName.safeParse(name).success) problems.push(`metric name ${JSON.stringify(name)}`);
    if (!MetricValue.safeParse(value).success) problems.push(`metric value ${JSON.stringify(value)}`);
  }
  if (Object.keys(row.metrics).length === 0) problems.push('no metrics');
  return problems;
}

function check<S extends z.ZodType>(table: string, schema: S, rows: unknown[], extra: (row: z.infer<S>) => string[] = () => []): string[] {
  const problems: string[] = [];
  for (const row of rows) {
    const parsed = schema.safeParse(row);
    if (!parsed.success) problems.push(`${table}: ${JSON.stringify(row).slice(0, 200)}: ${parsed.error.message.slice(0, 300)}`);
    else for (const p of extra(parsed.data)) problems.push(`${table}: ${p}`);
  }
  return problems;
}

/** Every row of every store that does not validate; empty when all is well. */
export async function findInvalidRows(db: Sql, warehouse?: QueryableWarehouse): Promise<{ problems: string[]; counted: Record<string, number> }> {
  const tables = {
    devices: (await db.query('SELECT * FROM devices')).rows,
    readings: (await db.query('SELECT * FROM readings')).rows,
    device_state: (await db.query('SELECT * FROM device_state')).rows,
    rejected: (await db.query('SELECT * FROM rejected')).rows,
  };
  const problems = [
    ...check('devices', DeviceRow, tables.devices),
    ...check('readings', ReadingRow, tables.readings, readingRuleProblems),
    ...check('device_state', DeviceStateRow, tables.device_state),
    ...check('rejected', RejectedRow, tables.rejected),
  ];
  const counted: Record<string, number> = Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, v.length]));
  if (warehouse) {
    const result = await warehouse.query('SELECT * FROM measurements');
    const rows = result.rows.map((r) => measurementFrom(result.columns, r));
    problems.push(...check('measurements', MeasurementRow, rows, (m) => (MetricName.safeParse(m.metric).success ? [] : [`metric ${m.metric}`])));
    counted.measurements = rows.length;
  }
  return { problems, counted };
}
