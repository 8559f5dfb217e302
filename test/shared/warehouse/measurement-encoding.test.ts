/** How a measurement row is keyed and encoded for BigQuery (shared/warehouse/measurement-encoding.ts). */
import { describe, expect, it } from 'vitest';
import { MeasurementRow } from '../../../schemas/tables.ts';
import { MEASUREMENT_COLUMNS, measurementKeyOf, toBigQueryRawRow } from '../../../shared/warehouse/measurement-encoding.ts';
import { makeMeasurementRow } from '../../support/measurement-rows.ts';

describe('measurement encoding', () => {
  it('walks the columns of the zod row schema, in its order', () => {
    expect(MEASUREMENT_COLUMNS.map((c) => c.name)).toEqual(Object.keys(MeasurementRow.shape));
  });

  it('keys a row by reading and metric: one key per measurement, the same on redelivery', () => {
    const row = makeMeasurementRow(0);
    expect(measurementKeyOf(row)).toBe(measurementKeyOf({ ...makeMeasurementRow(0) }));
    expect(measurementKeyOf(row)).not.toBe(measurementKeyOf(makeMeasurementRow(1)));
    expect(measurementKeyOf({ reading_id: row.reading_id, metric: 'a' })).not.toBe(measurementKeyOf({ reading_id: row.reading_id, metric: 'b' }));
  });

  it('encodes insertAll rows: the key as insertId, RFC 3339 timestamps, JSON columns as text, nulls kept', () => {
    const row = makeMeasurementRow(3);
    const raw = toBigQueryRawRow(row);
    expect(raw.insertId).toBe(measurementKeyOf(row));
    expect(Object.keys(raw.json)).toEqual(MEASUREMENT_COLUMNS.map((c) => c.name));
    expect(raw.json.event_ts).toBe(row.event_ts.toISOString());
    expect(raw.json.tags).toBe(JSON.stringify(row.tags));
    expect(raw.json.value).toBeNull();
    expect(raw.json.value_text).toBe('ok');
  });
});
