import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { bigQueryMeasurementsTable, columnsOf } from '../../schemas/columns.ts';
import { MeasurementRow } from '../../schemas/tables.ts';
import { MEASUREMENTS_TABLE_FILE, renderMeasurementsTable } from '../../scripts/bigquery-schema.ts';

describe('schemas/bigquery/measurements.json', () => {
  it('is what `npm run schemas:bigquery` generates from the zod schema (run it on drift)', async () => {
    const committed = await readFile(MEASUREMENTS_TABLE_FILE, 'utf8');
    expect(committed).toBe(renderMeasurementsTable());
    expect(JSON.parse(committed)).toEqual(bigQueryMeasurementsTable());
  });

  it('has every column docs/data-model.md lists, partitioned by day of event_ts and clustered by device and metric', async () => {
    const table = JSON.parse(await readFile(MEASUREMENTS_TABLE_FILE, 'utf8')) as ReturnType<typeof bigQueryMeasurementsTable>;
    expect(table.schema.fields.map((f) => f.name)).toEqual([
      'reading_id',
      'device_id',
      'event_ts',
      'metric',
      'value',
      'value_text',
      'value_bool',
      'unit',
      'registry',
      'site',
      'tags',
      'lat',
      'lon',
      'seq',
      'received_at',
      'ingested_at',
      'message_id',
    ]);
    expect(table.schema.fields.map((f) => f.name)).toEqual(columnsOf(MeasurementRow).map((c) => c.name));
    expect(table.schema.fields.find((f) => f.name === 'value')).toEqual({ name: 'value', type: 'FLOAT', mode: 'NULLABLE' });
    expect(table.schema.fields.find((f) => f.name === 'tags')?.type).toBe('JSON');
    expect(table.timePartitioning).toEqual({ type: 'DAY', field: 'event_ts' });
    expect(table.clustering).toEqual({ fields: ['device_id', 'metric'] });
    expect(table.requirePartitionFilter).toBe(true);
  });
});
