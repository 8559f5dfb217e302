/** Bytes per stored reading, estimated from the project's own table definitions. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  estimateBigQueryRowBytes,
  estimateMessageBytes,
  estimatePostgresReadingBytes,
  parseCreateTable,
  type BigQueryField,
} from '../../../scripts/plan/row-size.ts';

const migration = readFileSync(new URL('../../../schemas/migrations/001_initial.sql', import.meta.url), 'utf8');
const bigquery = JSON.parse(readFileSync(new URL('../../../schemas/bigquery/measurements.json', import.meta.url), 'utf8')) as {
  schema: { fields: BigQueryField[] };
};

describe('parseCreateTable', () => {
  it('reads the readings columns from the migration', () => {
    const columns = parseCreateTable(migration, 'readings');
    expect(columns.map((c) => c.name)).toEqual([
      'reading_id',
      'device_id',
      'event_ts',
      'received_at',
      'ingested_at',
      'metrics',
      'seq',
      'location',
      'message_id',
    ]);
    expect(columns.find((c) => c.name === 'metrics')).toMatchObject({ type: 'jsonb', notNull: true, hasDefault: true });
  });

  it('takes the last definition when a later migration recreates the table (partitioned)', () => {
    const later = `${migration}\nCREATE TABLE readings (\n  reading_id text NOT NULL,\n  event_ts timestamptz NOT NULL,\n  metrics jsonb NOT NULL,\n  PRIMARY KEY (reading_id, event_ts)\n) PARTITION BY RANGE (event_ts);`;
    expect(parseCreateTable(later, 'readings').map((c) => c.name)).toEqual(['reading_id', 'event_ts', 'metrics']);
  });
});

describe('estimates', () => {
  it('PostgreSQL: heap tuple and two indexes, growing with each metric in the jsonb', () => {
    const columns = parseCreateTable(migration, 'readings');
    const one = estimatePostgresReadingBytes(columns, 1);
    const four = estimatePostgresReadingBytes(columns, 4);
    expect(one).toBeGreaterThan(200);
    expect(one).toBeLessThan(400);
    expect(four - one).toBeGreaterThanOrEqual(3 * 30);
    expect(four - one).toBeLessThanOrEqual(Math.ceil(3 * 30 * 1.1) + 8);
    expect(() => estimatePostgresReadingBytes([], 1)).toThrow(/no readings table/);
  });

  it('BigQuery: logical bytes per measurements row from the schema (strings 2 + length, numbers 8, nulls 0)', () => {
    // reading_id 34, device_id 18, event_ts 8, metric 14, value 8, registry 10, site 10, seq 8,
    // received_at 8, ingested_at 8, message_id 18.
    expect(estimateBigQueryRowBytes(bigquery.schema.fields)).toBe(144);
    expect(estimateBigQueryRowBytes([...bigquery.schema.fields, { name: 'firmware', type: 'STRING', mode: 'REQUIRED' }])).toBe(144 + 18);
  });

  it('Pub/Sub: a message grows with readings and metrics', () => {
    const base = estimateMessageBytes(1, 1);
    expect(base).toBeGreaterThan(150);
    expect(estimateMessageBytes(1, 4)).toBeGreaterThan(base);
    expect(estimateMessageBytes(10, 4)).toBeGreaterThan(9 * (estimateMessageBytes(1, 4) - base));
  });
});
