import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { duckDbMeasurementsDdl } from '../../../schemas/columns.ts';
import { openDuckDbSink } from '../../../shared/warehouse/duckdb-sink.ts';
import { renderDedupeView } from '../../../shared/warehouse/views.ts';
import type { MeasurementRow } from '../../../schemas/tables.ts';
import { makeMeasurementRows } from '../../support/measurement-rows.ts';

/** The literal SQL of a row, for a table without the appender's help. */
function valuesOf(row: MeasurementRow): string {
  const text = (v: string | null) => (v === null ? 'NULL' : `'${v.replaceAll("'", "''")}'`);
  const time = (v: Date | null) => (v === null ? 'NULL' : `TIMESTAMPTZ '${v.toISOString()}'`);
  const num = (v: number | null) => (v === null ? 'NULL' : String(v));
  return `(${[
    text(row.reading_id),
    text(row.device_id),
    time(row.event_ts),
    text(row.metric),
    num(row.value),
    text(row.value_text),
    row.value_bool === null ? 'NULL' : String(row.value_bool),
    text(row.unit),
    text(row.registry),
    text(row.site),
    row.tags === null ? 'NULL' : text(JSON.stringify(row.tags)),
    num(row.lat),
    num(row.lon),
    num(row.seq),
    time(row.received_at),
    time(row.ingested_at),
    text(row.message_id),
  ].join(', ')})`;
}

describe('measurements_dedup view', () => {
  it('keeps one row per (reading_id, metric), the first ingested, in DuckDB', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      // A copy without the primary key, holding duplicates as BigQuery can.
      await connection.run(duckDbMeasurementsDdl().replace(/,\s*PRIMARY KEY \([^)]*\)/, ''));
      const rows = makeMeasurementRows(12);
      const redelivered = rows.slice(0, 5).map((row) => ({
        ...row,
        ingested_at: new Date(row.ingested_at.getTime() + 60_000),
        message_id: 'm-redelivered',
      }));
      const all = [...redelivered, ...rows, ...redelivered];
      await connection.run(`INSERT INTO measurements VALUES ${all.map(valuesOf).join(',\n')}`);
      await connection.run(await renderDedupeView('duckdb'));

      const raw = await connection.runAndReadAll('SELECT count(*)::INTEGER FROM measurements');
      expect(raw.getRowsJson()).toEqual([[22]]);
      const deduped = await connection.runAndReadAll(`SELECT reading_id || ':' || metric, message_id FROM measurements_dedup ORDER BY reading_id, metric`);
      const kept = deduped.getRowsJson();
      expect(kept).toHaveLength(12);
      expect(new Set(kept.map((r) => r[0])).size).toBe(12);
      // The first ingested copy wins, never the redelivery.
      expect(kept.every((r) => r[1] !== 'm-redelivered')).toBe(true);
      const columns = await connection.runAndReadAll('SELECT * FROM measurements_dedup LIMIT 0');
      const tableColumns = await connection.runAndReadAll('SELECT * FROM measurements LIMIT 0');
      expect(columns.columnNames()).toEqual(tableColumns.columnNames());
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('exists in the DuckDB warehouse the sink opens', async () => {
    const sink = await openDuckDbSink(':memory:');
    try {
      await sink.write(makeMeasurementRows(4));
      const result = await sink.query('SELECT count(*)::INTEGER FROM measurements_dedup');
      expect(result.rows).toEqual([[4]]);
    } finally {
      await sink.close();
    }
  });

  it('renders the BigQuery view for a project and dataset, and names missing placeholders', async () => {
    const sql = await renderDedupeView('bigquery', { project: 'acme-iot', dataset: 'telemetry' });
    expect(sql).toContain('CREATE OR REPLACE VIEW `acme-iot.telemetry.measurements_dedup`');
    expect(sql).toContain('FROM `acme-iot.telemetry.measurements`');
    expect(sql).toMatch(/PARTITION BY reading_id, metric, event_ts/);
    expect(sql).not.toMatch(/\{\{/);
    await expect(renderDedupeView('bigquery', { dataset: 'telemetry' })).rejects.toThrow(/needs a value for: project/);
  });
});
