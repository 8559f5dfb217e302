/**
 * Warehouse retention (docs/lifecycle.md): BigQuery's partition expiration through the real
 * @google-cloud/bigquery client against the local REST stand-in (set when the sink creates
 * the table, patched on an existing one, left alone when already right), and DuckDB's DELETE
 * of older days.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import { createLogger } from '../shared/log.ts';
import { DAY_MS } from '../shared/retention.ts';
import { createBigQuerySink } from '../shared/warehouse/bigquery.ts';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from './support/bigquery-standin.ts';
import { makeMeasurementRow, makeMeasurementRows } from './support/measurement-rows.ts';

const DATASET = 'telemetry';
const TABLE = 'measurements';
let standIn: BigQueryStandIn;

beforeAll(async () => {
  standIn = await startBigQueryStandIn();
});
afterAll(async () => {
  await standIn.close();
});
beforeEach(() => standIn.reset());

const sinkWith = (options: { createTable?: boolean; partitionExpirationDays?: number } = {}) =>
  createBigQuerySink({
    projectId: 'local-project',
    dataset: DATASET,
    table: TABLE,
    logger: createLogger({ level: 'error' }),
    apiEndpoint: standIn.url,
    authClient: standInAuth(),
    maxRetries: 0,
    ...options,
  });
const expiration = () => standIn.table(DATASET, TABLE)?.timePartitioning as { expirationMs?: string; field?: string } | undefined;
const patches = () => standIn.requests.filter((r) => r.method === 'PATCH');

describe('BigQuery partition expiration', () => {
  it('is set on the table the sink creates', async () => {
    standIn.createDataset(DATASET);
    const sink = sinkWith({ createTable: true, partitionExpirationDays: 90 });
    await sink.write(makeMeasurementRows(2));
    expect(expiration()).toMatchObject({ field: 'event_ts', expirationMs: String(90 * DAY_MS) });
  });

  it('is patched on an existing table, keeping its partitioning field, and left alone when already right', async () => {
    standIn.createDataset(DATASET);
    standIn.createTable(DATASET, TABLE, bigQueryMeasurementsTable());
    expect(expiration()?.expirationMs).toBeUndefined();
    const sink = sinkWith();
    expect(await sink.applyRetention?.(30)).toMatch(/now expire after 30 days \(was never\)/);
    expect(expiration()).toMatchObject({ type: 'DAY', field: 'event_ts', expirationMs: String(30 * DAY_MS) });
    expect(patches()).toHaveLength(1);
    expect(await sink.applyRetention?.(30)).toMatch(/already expire after 30 days/);
    expect(patches()).toHaveLength(1);
    expect(await sink.applyRetention?.(45)).toMatch(/was 30 days/);
    expect(expiration()?.expirationMs).toBe(String(45 * DAY_MS));
  });
});

describe('DuckDB retention', () => {
  it('deletes the measurements of days before the retention, keeps the rest', async () => {
    const sink = await openDuckDbSink(':memory:');
    try {
      const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
      const at = (k: number, ms: number) => ({ ...makeMeasurementRow(k), event_ts: new Date(ms) });
      await sink.write([at(1, today - 40 * DAY_MS), at(2, today - 31 * DAY_MS + 1), at(3, today - 30 * DAY_MS), at(4, Date.now())]);
      expect(await sink.applyRetention(30)).toMatch(/deleted 2 measurements/);
      const left = await sink.query('SELECT count(*) AS n FROM measurements');
      expect(Number(left.rows[0]?.[0])).toBe(2);
    } finally {
      await sink.close();
    }
  });
});
