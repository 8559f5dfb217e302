/**
 * How a measurement row is keyed and encoded for each warehouse. Both encoders walk the
 * columns derived from the zod row schema, so a new column reaches every store at once.
 */
import { columnsOf, type Column } from '../../schemas/columns.ts';
import { MeasurementRow } from '../../schemas/tables.ts';
import { isoTime } from '../iso-time.ts';

/** The `measurements` columns in table order, derived from the zod schema. */
export const MEASUREMENT_COLUMNS: readonly Column[] = columnsOf(MeasurementRow);

/**
 * The identity of a row: a reading's stable id plus the metric. Used as BigQuery's
 * `insertId`, so a redelivered reading lands once.
 * @see https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#dataconsistency
 */
export function measurementKeyOf(row: Pick<MeasurementRow, 'reading_id' | 'metric'>): string {
  return `${row.reading_id}:${row.metric}`;
}

/**
 * One `rows[]` entry of a tabledata.insertAll request, serialised once: for sizing the
 * requests, then for their bodies and retries.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll#request-body
 */
export interface BigQueryRawRow {
  insertId: string;
  /** `{"insertId":…,"json":{…}}` as sent. */
  text: string;
}

/** `"name":` of each column, in table order, written once. */
const COLUMN_PREFIXES = MEASUREMENT_COLUMNS.map((column, i) => `${i === 0 ? '' : ','}${JSON.stringify(column.name)}:`);

/**
 * An encoder of rows into insertAll's raw form, keyed by their stable insertId: RFC 3339
 * timestamps, JSON columns as strings (BigQuery's JSON type takes the document as a string in
 * insertAll), a FLOAT's NaN and ±Infinity as the text BigQuery reads them from. The rows of one reading share most cells (ids, times, tags, site) and come one
 * after the other, so each column remembers its last value and text: a shared cell is encoded once.
 */
export function createBigQueryRowEncoder(): (row: MeasurementRow) => BigQueryRawRow {
  const unset = Symbol('unset');
  const lastValue: unknown[] = MEASUREMENT_COLUMNS.map(() => unset);
  const lastText: string[] = MEASUREMENT_COLUMNS.map(() => '');
  return (row) => {
    const record = row as unknown as Record<string, unknown>;
    const insertId = measurementKeyOf(row);
    let json = '';
    for (let i = 0; i < MEASUREMENT_COLUMNS.length; i++) {
      const column = MEASUREMENT_COLUMNS[i] as Column;
      const value = record[column.name];
      if (value !== lastValue[i]) {
        lastValue[i] = value;
        lastText[i] = encodeCell(column, value);
      }
      json += (COLUMN_PREFIXES[i] as string) + (lastText[i] as string);
    }
    return { insertId, text: `{"insertId":${JSON.stringify(insertId)},"json":{${json}}}` };
  };
}

function encodeCell(column: Column, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (column.kind) {
    case 'timestamp':
      return `"${isoTime((value as Date).getTime())}"`;
    case 'json':
      return JSON.stringify(JSON.stringify(value));
    case 'float':
      // FLOAT64 holds NaN and ±Infinity (DuckDB's DOUBLE keeps them too), but a JSON number
      // cannot spell them and JSON.stringify writes null: insertAll takes them as the text
      // "NaN", "Infinity", "-Infinity", which is what String() gives.
      return typeof value === 'number' && !Number.isFinite(value) ? `"${String(value)}"` : JSON.stringify(value);
    default:
      return JSON.stringify(value);
  }
}
