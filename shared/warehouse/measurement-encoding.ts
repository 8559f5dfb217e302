/**
 * How a measurement row is keyed and encoded for each warehouse. Both encoders walk the
 * columns derived from the zod row schema, so a new column reaches every store at once.
 */
import { columnsOf, type Column } from '../../schemas/columns.ts';
import { MeasurementRow } from '../../schemas/tables.ts';

/** The `measurements` columns in table order, derived from the zod schema. */
export const MEASUREMENT_COLUMNS: readonly Column[] = columnsOf(MeasurementRow);

/**
 * The identity of a row: a reading's stable id plus the metric. Used as BigQuery's
 * `insertId` and matching DuckDB's primary key, so a redelivered reading lands once.
 * @see https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#dataconsistency
 */
export function measurementKeyOf(row: Pick<MeasurementRow, 'reading_id' | 'metric'>): string {
  return `${row.reading_id}:${row.metric}`;
}

/** A JSON-ready cell for BigQuery's insertAll: RFC 3339 timestamps, JSON columns as strings. */
function encodeBigQueryCell(column: Column, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (column.kind) {
    case 'timestamp':
      return (value as Date).toISOString();
    case 'json':
      // BigQuery's JSON type takes the document as a string in insertAll.
      return JSON.stringify(value);
    default:
      return value;
  }
}

/**
 * One `rows[]` entry of a tabledata.insertAll request.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll#request-body
 */
export interface BigQueryRawRow {
  insertId: string;
  json: Record<string, unknown>;
}

/** Encodes a row as insertAll's raw form, keyed by its stable insertId. */
export function toBigQueryRawRow(row: MeasurementRow): BigQueryRawRow {
  const json: Record<string, unknown> = {};
  const record = row as unknown as Record<string, unknown>;
  for (const column of MEASUREMENT_COLUMNS) json[column.name] = encodeBigQueryCell(column, record[column.name]);
  return { insertId: measurementKeyOf(row), json };
}
