/**
 * The analyst queries under schemas/queries/: every BigQuery query has a DuckDB twin, and each
 * DuckDB one answers correctly on generated data in a real DuckDB warehouse.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeasurementRow } from '../schemas/tables.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';

const DIR = join(import.meta.dirname, '..', 'schemas', 'queries');
const sqlOf = (name: string) => readFileSync(join(DIR, name), 'utf8');
const HOUR = 3_600_000;
const now = Date.now();
/**
 * A whole hour, so every reading of one hour lands in the same rollup bucket; at least 10
 * minutes ago, so dev-a (last heard 10 minutes before it) has been silent for 20 to 80 minutes
 * whenever the test runs, including the first minutes of an hour.
 */
const hourStart = Math.floor((now - 10 * 60_000) / HOUR) * HOUR;

let sink: DuckDbSink;

function row(deviceId: string, site: string | null, metric: string, value: number | string, eventMs: number, n: number): MeasurementRow {
  return {
    reading_id: `${deviceId}-${n}`,
    device_id: deviceId,
    event_ts: new Date(eventMs),
    metric,
    value: typeof value === 'number' ? value : null,
    value_text: typeof value === 'string' ? value : null,
    value_bool: null,
    unit: metric === 'temperature' ? 'Cel' : null,
    registry: 'default',
    site,
    tags: {},
    lat: null,
    lon: null,
    seq: n,
    received_at: new Date(eventMs),
    ingested_at: new Date(eventMs + 100),
    message_id: String(n),
  };
}

// dev-a: site north, 100 temperatures 1..100 over the 2 hours before the current hour, then one
// string status; dev-b: site south, quiet for 3 hours; dev-c: no site, reported a minute ago.
const rows: MeasurementRow[] = [];
for (let i = 1; i <= 100; i++) rows.push(row('dev-a', 'north', 'temperature', i, hourStart - 2 * HOUR + (i - 1) * 60_000, i));
rows.push(row('dev-a', 'north', 'status', 'ok', hourStart - HOUR + 50 * 60_000, 101));
rows.push(row('dev-b', 'south', 'temperature', 15, now - 3 * HOUR - 60_000, 1));
rows.push(row('dev-b', 'south', 'temperature', 16, now - 3 * HOUR, 2));
rows.push(row('dev-c', null, 'humidity', 55, now - 60_000, 1));

beforeAll(async () => {
  sink = await openDuckDbSink(':memory:');
  await sink.write(rows);
});
afterAll(() => sink.close());

/** quantile_cont: linear interpolation between the closest ranks of sorted values. */
function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const below = sorted[lo] as number;
  return below + ((sorted[Math.min(lo + 1, sorted.length - 1)] as number) - below) * (pos - lo);
}

const objects = (result: { columns: string[]; rows: unknown[][] }) => result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]])));

describe('schemas/queries', () => {
  it('has a DuckDB equivalent for every BigQuery query', () => {
    const files = readdirSync(DIR);
    const names = (suffix: string) =>
      files
        .filter((f) => f.endsWith(suffix))
        .map((f) => f.slice(0, -suffix.length))
        .sort();
    expect(names('.duckdb.sql')).toEqual(names('.bigquery.sql'));
    expect(names('.duckdb.sql')).toEqual(expect.arrayContaining(['latest-value-per-device', 'hourly-rollups', 'silent-devices', 'p95-per-metric-per-day']));
  });

  it('latest-value-per-device: the newest value of each metric of each device', async () => {
    const result = objects(await sink.query(sqlOf('latest-value-per-device.duckdb.sql')));
    expect(result.map((r) => [r.device_id, r.metric, r.value ?? r.value_text])).toEqual([
      ['dev-a', 'status', 'ok'],
      ['dev-a', 'temperature', 100],
      ['dev-b', 'temperature', 16],
      ['dev-c', 'humidity', 55],
    ]);
  });

  it('hourly-rollups: count, average, min and max per site, metric and hour', async () => {
    const result = objects(await sink.query(sqlOf('hourly-rollups.duckdb.sql')));
    const north = result.filter((r) => r.site === 'north' && r.metric === 'temperature');
    expect(north.map((r) => [Number(r.samples), r.avg_value, r.min_value, r.max_value])).toEqual([
      [60, 30.5, 1, 60],
      [40, 80.5, 61, 100],
    ]);
    expect(result.some((r) => r.metric === 'status')).toBe(false);
    expect(result.find((r) => r.metric === 'humidity')?.site).toBe('(none)');
  });

  it('silent-devices: devices quiet for longer than N minutes, 15 by default', async () => {
    const byDefault = objects(await sink.query(sqlOf('silent-devices.duckdb.sql')));
    expect(byDefault.map((r) => r.device_id)).toEqual(['dev-b', 'dev-a']);
    // Analyst SQL runs on a connection of its own per query: the variable goes with the query.
    const longer = objects(await sink.query(`SET VARIABLE silent_minutes = 150;\n${sqlOf('silent-devices.duckdb.sql')}`));
    expect(longer.map((r) => r.device_id)).toEqual(['dev-b']);
    expect(Number(longer[0]?.silent_minutes)).toBeGreaterThanOrEqual(180);
  });

  it('p95-per-metric-per-day: the 95th percentile of numeric metrics per day', async () => {
    const result = objects(await sink.query(sqlOf('p95-per-metric-per-day.duckdb.sql')));
    const temperature = result.filter((r) => r.metric === 'temperature');
    expect(temperature.reduce((sum, r) => sum + Number(r.samples), 0)).toBe(102);
    // Each day's p95, recomputed here by linear interpolation over that day's values.
    const days = objects(
      await sink.query(
        "SELECT CAST(event_ts AS DATE) AS day, list(value ORDER BY value) AS vs FROM measurements WHERE metric = 'temperature' GROUP BY ALL ORDER BY day",
      ),
    );
    expect(temperature.map((r) => r.day)).toEqual(days.map((d) => d.day));
    for (const [i, d] of days.entries()) expect(temperature[i]?.p95).toBeCloseTo(quantile(d.vs as number[], 0.95), 9);
    expect(result.some((r) => r.metric === 'status')).toBe(false);
  });
});
