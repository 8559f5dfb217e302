/**
 * The zod row schemas are the source of truth: the PostgreSQL migrations must create exactly
 * their columns (names, types, nullability), and the DuckDB table must match too. A change to
 * one without the other fails here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnsOf, postgresTypeOf } from '../schemas/columns.ts';
import {
  DeviceConfigRow,
  DeviceCredentialRow,
  DeviceRow,
  DeviceStateRow,
  MeasurementRow,
  ReadingRow,
  RejectedRow,
  ReportedStateRow,
} from '../schemas/tables.ts';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { migrate } from '../shared/db/migrate.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await tdb?.drop();
});

const TABLES = {
  devices: DeviceRow,
  device_credentials: DeviceCredentialRow,
  readings: ReadingRow,
  device_state: DeviceStateRow,
  rejected: RejectedRow,
  device_configs: DeviceConfigRow,
  device_states: ReportedStateRow,
};

describe('PostgreSQL migrations match schemas/tables.ts', () => {
  it.each(Object.entries(TABLES))('%s', async (table, schema) => {
    const { rows } = await tdb.db.query<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    const actual = rows.map((r) => ({ name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES' }));
    const expected = columnsOf(schema).map((c) => ({ name: c.name, type: postgresTypeOf(c.kind), nullable: c.nullable }));
    expect(actual).toEqual(expected);
  });

  it('every column beyond the key has a default or is nullable', async () => {
    await tdb.db.query("INSERT INTO devices (device_id) VALUES ('d1')");
    await tdb.db.query("INSERT INTO readings (reading_id) VALUES ('r1')");
    await tdb.db.query("INSERT INTO device_state (device_id) VALUES ('d1')");
    await tdb.db.query('INSERT INTO rejected DEFAULT VALUES');
    await tdb.db.query("INSERT INTO device_configs (device_id) VALUES ('d1')");
    await tdb.db.query("INSERT INTO device_states (device_id) VALUES ('d1')");
    const { rows } = await tdb.db.query<{ registry: string; blocked: boolean; tags: unknown }>(
      "SELECT registry, blocked, tags FROM devices WHERE device_id = 'd1'",
    );
    expect(rows[0]).toEqual({ registry: 'default', blocked: false, tags: {} });
  });

  it('migrating again changes nothing', async () => {
    expect(await migrate(tdb.db)).toEqual([]);
  });
});

describe('DuckDB measurements matches MeasurementRow', () => {
  it('has the same columns and nullability', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
    const sink = await openDuckDbSink(join(dir, 'w.duckdb'));
    try {
      const { rows } = await sink.query(
        "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'measurements' ORDER BY ordinal_position",
      );
      expect(rows.map(([name, nullable]) => ({ name, nullable: nullable === 'YES' }))).toEqual(
        columnsOf(MeasurementRow).map((c) => ({ name: c.name, nullable: c.nullable })),
      );
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
