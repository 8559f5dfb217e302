/**
 * The readings writer against the real PostgreSQL: the batch travels as one JSON document
 * (json_to_recordset), so every column must come back exactly as it went in, whatever the text
 * and numbers a device sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReadings, type NewReading } from '../../../functions/ingest/readings-store.ts';
import { runMaintenance } from '../../../shared/lifecycle/maintain.ts';
import { openPostgres } from '../../../shared/db/postgres.ts';
import { classifyDbError } from '../../../shared/db/database.ts';
import { TransientError } from '../../../shared/errors.ts';
import { captureLogs, createTestDatabase, testConfig, type TestDatabase } from '../../support/kit.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await tdb.drop();
});

const EVENT_MS = Date.now() - 60_000;

function reading(n: number, overrides: Partial<NewReading> = {}): NewReading {
  return {
    reading_id: `store-test-${n}`,
    device_id: 'store-dev',
    event_ts: new Date(EVENT_MS + n),
    received_at: new Date(EVENT_MS + n + 7),
    metrics: { temperature: 21.5 },
    seq: n,
    location: null,
    message_id: `m-${n}`,
    ...overrides,
  };
}

interface StoredRow {
  reading_id: string;
  event_ts: Date;
  received_at: Date | null;
  metrics: unknown;
  seq: string | null;
  location: unknown;
  message_id: string | null;
}

async function stored(id: string): Promise<StoredRow | undefined> {
  const { rows } = await tdb.db.query<StoredRow>(
    'SELECT reading_id, event_ts, received_at, metrics, seq::text AS seq, location, message_id FROM readings WHERE reading_id = $1',
    [id],
  );
  return rows[0];
}

describe('writeReadings', () => {
  it('stores every column as given: times to the millisecond, nulls, extreme numbers, awkward text', async () => {
    const rows = [
      reading(1, { received_at: null, seq: null, location: { lat: -33.8688, lon: 151.2093, alt: 58 } }),
      reading(2, {
        seq: Number.MAX_SAFE_INTEGER,
        metrics: { huge: 1.7976931348623157e308, tiny: 5e-324, negative: -0.5, on: true, text: 'a "quoted" \\ back\\slash\nnew line, ünïcödé, 🌡' },
        message_id: 'id with "quotes", \\ and ünïcödé',
      }),
    ];
    expect(await writeReadings(tdb.db, rows)).toBe(2);

    const first = await stored('store-test-1');
    expect(first?.event_ts.getTime()).toBe(EVENT_MS + 1);
    expect(first?.received_at).toBeNull();
    expect(first?.seq).toBeNull();
    expect(first?.location).toEqual({ lat: -33.8688, lon: 151.2093, alt: 58 });

    const second = await stored('store-test-2');
    expect(second?.received_at?.getTime()).toBe(EVENT_MS + 2 + 7);
    expect(second?.seq).toBe(String(Number.MAX_SAFE_INTEGER));
    expect(second?.location).toBeNull();
    expect(second?.metrics).toEqual(rows[1]?.metrics);
    expect(second?.message_id).toBe('id with "quotes", \\ and ünïcödé');
  });

  it('stores text PostgreSQL would refuse as written (a lone surrogate, a NUL) with U+FFFD in its place', async () => {
    const row = reading(3, { metrics: { ['key\uD800']: 'value\uDC00', nul: 'a\u0000b' }, message_id: 'm\u0000x' });
    expect(await writeReadings(tdb.db, [row])).toBe(1);
    const back = await stored('store-test-3');
    expect(back?.metrics).toEqual({ ['key\uFFFD']: 'value\uFFFD', nul: 'a\uFFFDb' });
    expect(back?.message_id).toBe('m\uFFFDx');
  });

  it('stores a batch written twice once, and moves the device state only with the newest reading', async () => {
    const batch = [reading(10, { metrics: { temperature: 1 } }), reading(11, { metrics: { temperature: 2 } })];
    expect(await writeReadings(tdb.db, batch)).toBe(2);
    expect(await writeReadings(tdb.db, batch)).toBe(0);
    const { rows } = await tdb.db.query<{ last_metrics: unknown; readings_total: number }>(
      "SELECT last_metrics, readings_total FROM device_state WHERE device_id = 'store-dev'",
    );
    expect(rows[0]?.last_metrics).toEqual({ temperature: 2 });
    const { rows: counted } = await tdb.db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings WHERE device_id = 'store-dev'");
    expect(rows[0]?.readings_total).toBe(counted[0]?.n);
  });
});

describe('writeReadings as a prepared statement', () => {
  it('is prepared once on its connection and keeps working while maintain and migrations change the table under it', async () => {
    // One connection, so every write below runs on the connection that prepared the statement.
    const db = await openPostgres(testConfig({ DATABASE_URL: tdb.url, PG_POOL_MAX: '1' }));
    try {
      const day = 24 * 60 * 60 * 1000;
      const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
      const at = (days: number, n: number) => reading(9_000 + n, { reading_id: `prepared-${n}`, event_ts: new Date(today + days * day + n) });
      expect(await writeReadings(db, [at(0, 1)])).toBe(1);
      const prepared = await db.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
      expect(prepared.rows.map((r) => r.name)).toEqual(['ingest_write_readings']);

      // A day far ahead lands in the default partition; maintain then gives it a partition of
      // its own and drops partitions past retention, all while the plan is cached.
      expect(await writeReadings(db, [at(20, 2)])).toBe(1);
      await runMaintenance(db, { readingsRetentionDays: 1, rejectedRetentionDays: 30, logger: captureLogs().logger, now: new Date(today + 19 * day) });
      expect(await writeReadings(db, [at(20, 3)])).toBe(1);
      await db.exec('ALTER TABLE readings ADD COLUMN prepared_probe text');
      expect(await writeReadings(db, [at(20, 5)])).toBe(1);
      await db.exec('ALTER TABLE readings DROP COLUMN prepared_probe');
      // What a pooler in transaction mode does: the server connection no longer holds the
      // statement the driver prepared. The rows are not at fault, so the error is transient.
      await db.exec('DEALLOCATE ingest_write_readings');
      const lost = await writeReadings(db, [at(20, 6)]).catch((error: unknown) => error);
      expect(lost).toMatchObject({ code: '26000' });
      expect(classifyDbError(lost, 'readings')).toBeInstanceOf(TransientError);
      // Transient indeed: the pool drops a connection whose query failed, and the retry
      // prepares the statement afresh on a new one.
      expect(await writeReadings(db, [at(20, 7)])).toBe(1);

      const { rows } = await db.query<{ id: string; partition: string }>(
        "SELECT reading_id AS id, tableoid::regclass::text AS partition FROM readings WHERE reading_id LIKE 'prepared-%' ORDER BY 1",
      );
      const ahead = `readings_p${new Date(today + 20 * day).toISOString().slice(0, 10).replaceAll('-', '')}`;
      // prepared-1 was past retention (maintain's "now" is 19 days ahead), its partition dropped.
      expect(rows).toEqual([
        { id: 'prepared-2', partition: ahead },
        { id: 'prepared-3', partition: ahead },
        { id: 'prepared-5', partition: ahead },
        { id: 'prepared-7', partition: ahead },
      ]);
    } finally {
      await db.close();
    }
  });
});
