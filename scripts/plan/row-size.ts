/**
 * Bytes a stored reading takes, estimated from the table definitions themselves (the
 * PostgreSQL migrations and the BigQuery table schema), so that a new column changes the plan.
 * Pure. The assumed lengths of text values are stated in `TEXT_LENGTHS` and docs/capacity.md.
 * @see https://www.postgresql.org/docs/15/storage-page-layout.html
 * @see https://cloud.google.com/bigquery/pricing#data (data size calculation)
 */

/** Assumed characters in a text value: ids as the project makes them, names as fleets name them. */
export const TEXT_LENGTHS: Record<string, number> = {
  reading_id: 32, // 32 hex characters (functions/ingest/reading-id.ts)
  device_id: 16,
  message_id: 16, // Pub/Sub message ids are 16-17 digits
  metric: 12,
  registry: 8,
  site: 8,
};
const DEFAULT_TEXT_LENGTH = 16;
/** One metric inside the `metrics` jsonb: the entry header, a 12-character key and a numeric value. */
const JSONB_BYTES_PER_METRIC = 8 + 12 + 10;
const JSONB_HEADER_BYTES = 8;

export interface Column {
  name: string;
  type: string;
  notNull: boolean;
  hasDefault: boolean;
}

/**
 * The columns of the last `CREATE TABLE [IF NOT EXISTS] <table>` in the given SQL (the
 * migrations concatenated in order), or an empty list when there is none.
 */
export function parseCreateTable(sql: string, table: string): Column[] {
  const pattern = new RegExp(`CREATE TABLE(?: IF NOT EXISTS)?\\s+${table}\\s*\\(([\\s\\S]*?)\\)\\s*(?:PARTITION BY[^;]*)?;`, 'gi');
  const bodies = [...sql.matchAll(pattern)].map((m) => m[1]!);
  const body = bodies.at(-1);
  if (body === undefined) return [];
  return body
    .split(/,\s*\n/)
    .map((line) => line.replace(/--.*$/gm, '').trim())
    .filter((line) => line !== '' && !/^(PRIMARY KEY|UNIQUE|CONSTRAINT|CHECK|FOREIGN KEY)\b/i.test(line))
    .map((line) => {
      const [name = '', type = ''] = line.split(/\s+/);
      return { name, type: type.toLowerCase().replace(/,$/, ''), notNull: /NOT NULL|PRIMARY KEY/i.test(line), hasDefault: /DEFAULT/i.test(line) };
    });
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** Bytes of one value of a PostgreSQL column, or 0 when the column is assumed null. */
function postgresValueBytes(column: Column, metrics: number): number {
  if (column.name === 'location') return 0; // most fleets send no position
  switch (column.type) {
    case 'timestamptz':
    case 'timestamp':
    case 'bigint':
    case 'double':
    case 'float8':
      return 8;
    case 'integer':
    case 'int':
    case 'real':
      return 4;
    case 'boolean':
      return 1;
    case 'jsonb':
    case 'json':
      return column.name === 'metrics' ? JSONB_HEADER_BYTES + JSONB_BYTES_PER_METRIC * metrics : 4;
    default:
      return 1 + (TEXT_LENGTHS[column.name] ?? DEFAULT_TEXT_LENGTH); // short varlena header + text
  }
}

/**
 * Bytes on disk per `readings` row with `metrics` metrics: heap tuple (23-byte header,
 * aligned, 4-byte line pointer) plus the primary-key index on `reading_id` and the
 * (device_id, event_ts) index, with 10 % for page headers and free space.
 */
export function estimatePostgresReadingBytes(columns: Column[], metrics: number): number {
  if (columns.length === 0) throw new Error('no readings table found in the migrations');
  const data = columns.reduce((sum, c) => sum + postgresValueBytes(c, metrics), 0);
  const heap = align8(24 + data) + 4;
  const key = (name: string) => postgresValueBytes(columns.find((c) => c.name === name) ?? { name, type: 'text', notNull: true, hasDefault: false }, metrics);
  const pkIndex = align8(8 + key('reading_id')) + 4;
  const deviceIndex = align8(8 + key('device_id') + 8) + 4;
  return Math.round((heap + pkIndex + deviceIndex) * 1.1);
}

export interface BigQueryField {
  name: string;
  type: string;
  mode?: string;
}

/** Columns the ingest function leaves null for a numeric metric without position, unit or tags. */
const BIGQUERY_NULL_FIELDS = new Set(['value_text', 'value_bool', 'unit', 'lat', 'lon', 'tags']);

/**
 * Logical bytes of one `measurements` row (what BigQuery bills storage on): STRING 2 + length,
 * INT64/FLOAT64/TIMESTAMP 8, BOOL 1, NULL 0.
 */
export function estimateBigQueryRowBytes(fields: BigQueryField[]): number {
  if (fields.length === 0) throw new Error('the measurements schema has no fields');
  return fields.reduce((sum, f) => {
    if (f.mode !== 'REQUIRED' && BIGQUERY_NULL_FIELDS.has(f.name)) return sum;
    switch (f.type) {
      case 'STRING':
      case 'JSON':
        return sum + 2 + (TEXT_LENGTHS[f.name] ?? DEFAULT_TEXT_LENGTH);
      case 'BOOLEAN':
      case 'BOOL':
        return sum + 1;
      default:
        return sum + 8;
    }
  }, 0);
}

/**
 * Bytes of one Pub/Sub telemetry message: a JSON batch `{"deviceId", "readings": [...]}` of
 * `readings` readings with `metrics` numeric metrics each, plus the attributes and the
 * 20-byte timestamp and message id Pub/Sub bills.
 */
export function estimateMessageBytes(readings: number, metrics: number): number {
  const reading = '{"ts":"2026-11-27T12:00:00.000Z","seq":123456,"metrics":{}}'.length + metrics * '"temperature1":21.375,'.length;
  const body = '{"deviceId":"","readings":[]}'.length + (TEXT_LENGTHS.device_id ?? 16) + readings * (reading + 1);
  // The attributes the bridge sets (functions/bridge/message.ts): deviceId, registry, schemaVersion, receivedAt.
  const attributes =
    'deviceId'.length +
    (TEXT_LENGTHS.device_id ?? 16) +
    'registry'.length +
    (TEXT_LENGTHS.registry ?? 8) +
    'schemaVersion'.length +
    2 +
    'receivedAt'.length +
    24;
  return body + attributes + 20 + (TEXT_LENGTHS.message_id ?? 16);
}
