/**
 * Column descriptions derived from the row schemas, and from them the DDL of each store.
 */
import type { z } from 'zod';
import { MeasurementRow } from './tables.ts';

export type ColumnKind = 'string' | 'int' | 'float' | 'bool' | 'timestamp' | 'json';
export interface Column {
  name: string;
  kind: ColumnKind;
  nullable: boolean;
}

type AnyZod = z.core.$ZodType;

function kindOf(schema: AnyZod): { kind: ColumnKind; nullable: boolean } {
  const def = schema._zod.def;
  switch (def.type) {
    case 'nullable':
    case 'optional':
      return { kind: kindOf((def as z.core.$ZodNullableDef).innerType).kind, nullable: true };
    case 'string':
      return { kind: 'string', nullable: false };
    case 'number': {
      const integral = (def as { format?: string }).format === 'safeint';
      return { kind: integral ? 'int' : 'float', nullable: false };
    }
    case 'boolean':
      return { kind: 'bool', nullable: false };
    case 'date':
      return { kind: 'timestamp', nullable: false };
    case 'record':
    case 'object':
      return { kind: 'json', nullable: false };
    default:
      throw new Error(`no column kind for zod type "${def.type}"`);
  }
}

/** The columns of a row schema, in declaration order. */
export function columnsOf(row: z.ZodObject): Column[] {
  return Object.entries(row.shape).map(([name, schema]) => ({ name, ...kindOf(schema as AnyZod) }));
}

const POSTGRES_TYPES: Record<ColumnKind, string> = {
  string: 'text',
  int: 'bigint',
  float: 'double precision',
  bool: 'boolean',
  timestamp: 'timestamp with time zone',
  json: 'jsonb',
};
/** The PostgreSQL type a column of this kind must have (as information_schema names it). */
export const postgresTypeOf = (kind: ColumnKind): string => POSTGRES_TYPES[kind];

const BIGQUERY_TYPES: Record<ColumnKind, string> = {
  string: 'STRING',
  int: 'INTEGER',
  float: 'FLOAT',
  bool: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  json: 'JSON',
};

const DAY_MS = 86_400_000;

/**
 * The BigQuery table resource for `measurements` (fields, partitioning, clustering); its
 * partitions expire after `partitionExpirationDays` when given.
 */
export function bigQueryMeasurementsTable(options: { partitionExpirationDays?: number } = {}) {
  const expiration = options.partitionExpirationDays === undefined ? {} : { expirationMs: String(options.partitionExpirationDays * DAY_MS) };
  return {
    schema: {
      fields: columnsOf(MeasurementRow).map((c) => ({
        name: c.name,
        type: BIGQUERY_TYPES[c.kind],
        mode: c.nullable ? 'NULLABLE' : 'REQUIRED',
      })),
    },
    timePartitioning: { type: 'DAY', field: 'event_ts', ...expiration },
    clustering: { fields: ['device_id', 'metric'] },
    requirePartitionFilter: true,
  };
}

const DUCKDB_TYPES: Record<ColumnKind, string> = {
  string: 'VARCHAR',
  int: 'BIGINT',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
  timestamp: 'TIMESTAMPTZ',
  json: 'JSON',
};

/** DuckDB DDL for `measurements`. No primary key: the sink keeps each reading once (duckdb-sink.ts). */
export function duckDbMeasurementsDdl(): string {
  const columns = columnsOf(MeasurementRow).map((c) => `  ${c.name} ${DUCKDB_TYPES[c.kind]}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE IF NOT EXISTS measurements (\n${columns.join(',\n')}\n)`;
}
