/** How a measurement row is keyed and encoded for BigQuery (shared/warehouse/measurement-encoding.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeasurementRow } from '../../../schemas/tables.ts';
import { createBigQueryRowEncoder, MEASUREMENT_COLUMNS, measurementKeyOf } from '../../../shared/warehouse/measurement-encoding.ts';
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
    const encoded = createBigQueryRowEncoder()(row);
    const raw = JSON.parse(encoded.text) as { insertId: string; json: Record<string, unknown> };
    expect(encoded.insertId).toBe(measurementKeyOf(row));
    expect(raw.insertId).toBe(measurementKeyOf(row));
    expect(Object.keys(raw.json)).toEqual(MEASUREMENT_COLUMNS.map((c) => c.name));
    expect(raw.json.event_ts).toBe(row.event_ts.toISOString());
    expect(raw.json.tags).toBe(JSON.stringify(row.tags));
    expect(raw.json.value).toBeNull();
    expect(raw.json.value_text).toBe('ok');
  });

  it('spells NaN and the infinities of FLOAT columns as BigQuery takes them, never as null', () => {
    const encode = createBigQueryRowEncoder();
    const cells = (row: MeasurementRow) => (JSON.parse(encode(row).text) as { json: Record<string, unknown> }).json;
    expect(cells(makeMeasurementRow(0, { value: Number.NaN, lat: Infinity, lon: -Infinity }))).toMatchObject({
      value: 'NaN',
      lat: 'Infinity',
      lon: '-Infinity',
    });
    expect(cells(makeMeasurementRow(0, { value: 21.5, lat: 0, lon: -0 }))).toMatchObject({ value: 21.5, lat: 0, lon: 0 });
  });
});

/** The entry as documented: RFC 3339 timestamps, JSON columns as strings, NaN and ±Infinity as text, nulls as null. */
function expectedEntry(row: MeasurementRow): unknown {
  const json: Record<string, unknown> = {};
  const record = row as unknown as Record<string, unknown>;
  for (const column of MEASUREMENT_COLUMNS) {
    const value = record[column.name] ?? null;
    json[column.name] =
      value === null
        ? null
        : column.kind === 'timestamp'
          ? (value as Date).toISOString()
          : column.kind === 'json'
            ? JSON.stringify(value)
            : typeof value === 'number' && !Number.isFinite(value)
              ? String(value)
              : value;
  }
  return { insertId: measurementKeyOf(row), json };
}

const sharedTags = { line: '1' };
const sharedTime = new Date(Date.UTC(2026, 10, 27, 18));
/** Rows whose cells are now shared with a neighbour (same object), now equal, now null. */
const row = fc
  .record({
    i: fc.nat({ max: 40 }),
    tags: fc.constantFrom<MeasurementRow['tags']>(sharedTags, { line: '1' }, { line: '2', 'a"b': 'c\\d' }, null),
    received_at: fc.constantFrom<Date | null>(sharedTime, new Date(sharedTime.getTime()), new Date(0), null),
    site: fc.constantFrom<string | null>('plant-1', 'plant-"2"', null),
    value: fc.oneof(fc.double(), fc.constant(null)),
  })
  .map(({ i, ...cells }) => makeMeasurementRow(i, cells));

describe('BigQuery row encoder', () => {
  it('writes each row as JSON.stringify would, reusing shared cells', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 12 }), (rows) => {
        const encode = createBigQueryRowEncoder();
        for (const r of rows) {
          const { insertId, text } = encode(r);
          expect(insertId).toBe(measurementKeyOf(r));
          expect(text).toBe(JSON.stringify(expectedEntry(r)));
        }
      }),
      { numRuns: 500 },
    );
  });
});
