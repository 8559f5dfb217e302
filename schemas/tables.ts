/**
 * The stored shapes: one zod object per table, with column names as keys. The PostgreSQL
 * migrations, the DuckDB DDL and the BigQuery table schema are derived from or checked
 * against these (see columns.ts and test/schemas.test.ts).
 */
import { z } from 'zod';

const Json = z.record(z.string(), z.unknown());

/** PostgreSQL `devices`. */
export const DeviceRow = z.object({
  device_id: z.string(),
  num_id: z.int(),
  registry: z.string(),
  site: z.string().nullable(),
  tags: Json,
  blocked: z.boolean(),
  created_at: z.date(),
  updated_at: z.date(),
});
export type DeviceRow = z.infer<typeof DeviceRow>;

/** PostgreSQL `device_credentials`: token secrets are stored only as a hash. */
export const DeviceCredentialRow = z.object({
  credential_id: z.string(),
  device_id: z.string(),
  type: z.string(),
  secret_hash: z.string().nullable(),
  public_key_pem: z.string().nullable(),
  expires_at: z.date().nullable(),
  created_at: z.date(),
});
export type DeviceCredentialRow = z.infer<typeof DeviceCredentialRow>;

/** PostgreSQL `readings`: one row per reading. */
export const ReadingRow = z.object({
  reading_id: z.string(),
  device_id: z.string(),
  event_ts: z.date(),
  received_at: z.date().nullable(),
  ingested_at: z.date(),
  metrics: Json,
  seq: z.int().nullable(),
  location: Json.nullable(),
  message_id: z.string().nullable(),
});
export type ReadingRow = z.infer<typeof ReadingRow>;

/** PostgreSQL `device_state`: the newest reading per device. */
export const DeviceStateRow = z.object({
  device_id: z.string(),
  last_event_ts: z.date().nullable(),
  last_metrics: Json,
  last_seen_at: z.date(),
  readings_total: z.int(),
});
export type DeviceStateRow = z.infer<typeof DeviceStateRow>;

/** PostgreSQL `rejected`: messages that can never be stored, with why. */
export const RejectedRow = z.object({
  id: z.int(),
  at: z.date(),
  stage: z.string(),
  reason: z.string(),
  detail: Json,
  payload: z.string().nullable(),
  attributes: Json,
  message_id: z.string().nullable(),
  delivery_attempt: z.int().nullable(),
  subscription: z.string().nullable(),
  /** When `npm run replay` last republished it (migration 003). */
  replayed_at: z.date().nullable(),
});
export type RejectedRow = z.infer<typeof RejectedRow>;

/** Warehouse `measurements`: one row per metric value of a reading. */
export const MeasurementRow = z.object({
  reading_id: z.string(),
  device_id: z.string(),
  event_ts: z.date(),
  metric: z.string(),
  value: z.number().nullable(),
  value_text: z.string().nullable(),
  value_bool: z.boolean().nullable(),
  unit: z.string().nullable(),
  registry: z.string().nullable(),
  site: z.string().nullable(),
  tags: Json.nullable(),
  lat: z.number().nullable(),
  lon: z.number().nullable(),
  seq: z.int().nullable(),
  received_at: z.date().nullable(),
  ingested_at: z.date(),
  message_id: z.string().nullable(),
});
export type MeasurementRow = z.infer<typeof MeasurementRow>;

/** PostgreSQL `device_configs`: IoT Core's numbered configuration versions, payload base64. */
export const DeviceConfigRow = z.object({
  device_id: z.string(),
  version: z.int(),
  binary_data: z.string(),
  cloud_update_time: z.date(),
  device_ack_time: z.date().nullable(),
});
export type DeviceConfigRow = z.infer<typeof DeviceConfigRow>;

/** PostgreSQL `device_states`: the states a device reported (IoT Core's setState), payload base64. */
export const ReportedStateRow = z.object({
  id: z.int(),
  device_id: z.string(),
  update_time: z.date(),
  binary_data: z.string(),
});
export type ReportedStateRow = z.infer<typeof ReportedStateRow>;
