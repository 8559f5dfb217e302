/**
 * The warehouse behind one interface: BigQuery in production, DuckDB embedded locally.
 */
import type { MeasurementRow } from '../../schemas/tables.ts';

/** A row the warehouse refused for good (BigQuery's `invalid`): it goes to `rejected`. */
export interface RefusedRow {
  row: MeasurementRow;
  reason: string;
  message: string;
}

export interface WarehouseSink {
  readonly kind: 'bigquery' | 'duckdb';
  /**
   * Writes rows idempotently (same `reading_id` + `metric` → one row). Resolves once every
   * row is durably written or refused for good; throws TransientError when the warehouse
   * cannot be reached (after retrying only the rows that failed).
   */
  write(rows: MeasurementRow[]): Promise<{ refused: RefusedRow[] }>;
  /**
   * Keeps `days` days of event time (docs/lifecycle.md): BigQuery sets the table's partition
   * expiration, DuckDB deletes older rows. Idempotent; says what it did.
   */
  applyRetention?(days: number): Promise<string>;
  close(): Promise<void>;
}
