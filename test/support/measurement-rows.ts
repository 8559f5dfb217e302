/**
 * Measurement rows for the warehouse tests: deterministic, with every column kind filled.
 */
import type { MeasurementRow } from '../../schemas/tables.ts';

const METRICS = ['temp', 'humidity', 'door.open', 'status'] as const;

/** The i-th row of a synthetic stream: four metrics per reading, numbers, booleans and text. */
export function makeMeasurementRow(i: number, overrides: Partial<MeasurementRow> = {}): MeasurementRow {
  const reading = Math.floor(i / METRICS.length);
  const metric = METRICS[i % METRICS.length] ?? 'temp';
  const eventTs = new Date(Date.UTC(2026, 10, 1) + reading * 1000);
  return {
    reading_id: `r-${reading.toString(16).padStart(8, '0')}`,
    device_id: `dev-${reading % 7}`,
    event_ts: eventTs,
    metric,
    value: metric === 'temp' || metric === 'humidity' ? 20 + (i % 100) / 10 : null,
    value_text: metric === 'status' ? 'ok' : null,
    value_bool: metric === 'door.open' ? i % 2 === 0 : null,
    unit: metric === 'temp' ? 'Cel' : null,
    registry: 'default',
    site: i % 3 === 0 ? null : 'plant-1',
    tags: { line: String(reading % 3) },
    lat: 52.5,
    lon: 13.4,
    seq: reading,
    received_at: new Date(eventTs.getTime() + 50),
    ingested_at: new Date(eventTs.getTime() + 120),
    message_id: `m-${reading}`,
    ...overrides,
  };
}

export function makeMeasurementRows(count: number, start = 0): MeasurementRow[] {
  return Array.from({ length: count }, (_, k) => makeMeasurementRow(start + k));
}
