/** Column kinds derived from the zod row schemas (schemas/columns.ts); the stores matching them is test/schemas.test.ts. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bigQueryMeasurementsTable, columnsOf, duckDbMeasurementsDdl, postgresTypeOf } from '../../schemas/columns.ts';
import { MeasurementRow } from '../../schemas/tables.ts';

describe('columnsOf', () => {
  it('gives each field its kind and nullability, in declaration order', () => {
    const row = z.object({
      id: z.string(),
      n: z.int(),
      x: z.number().nullable(),
      ok: z.boolean().optional(),
      at: z.date(),
      doc: z.record(z.string(), z.string()),
    });
    expect(columnsOf(row)).toEqual([
      { name: 'id', kind: 'string', nullable: false },
      { name: 'n', kind: 'int', nullable: false },
      { name: 'x', kind: 'float', nullable: true },
      { name: 'ok', kind: 'bool', nullable: true },
      { name: 'at', kind: 'timestamp', nullable: false },
      { name: 'doc', kind: 'json', nullable: false },
    ]);
  });

  it('refuses a field it cannot store, naming the zod type', () => {
    expect(() => columnsOf(z.object({ many: z.array(z.string()) }))).toThrow('no column kind for zod type "array"');
  });
});

describe('the store schemas', () => {
  it('give every measurement column a PostgreSQL type, a BigQuery field and a DuckDB column', () => {
    const columns = columnsOf(MeasurementRow);
    expect(postgresTypeOf('json')).toBe('jsonb');
    expect(bigQueryMeasurementsTable().schema.fields.map((f) => f.name)).toEqual(columns.map((c) => c.name));
    const ddl = duckDbMeasurementsDdl();
    for (const column of columns) expect(ddl).toContain(column.name);
  });
});
