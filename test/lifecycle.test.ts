/**
 * The operational store's lifecycle (docs/lifecycle.md), on the machine's PostgreSQL and on
 * PGlite: migration 003 converting an unpartitioned `readings` with rows, partitions for new
 * days (ahead of time and on demand), retention dropping exactly the old partitions, rejected
 * rows deleted in batches, `maintain` run twice at once, and (PostgreSQL) ingest writing while
 * partitions are dropped, losing and failing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../shared/db/database.ts';
import { loadMigrations, migrate } from '../shared/db/migrate.ts';
import { openPglite } from '../shared/db/pglite.ts';
import { runMaintenance, type MaintenanceOptions } from '../shared/lifecycle/maintain.ts';
import { DAY_MS, dayOf, partitionName } from '../shared/retention.ts';
import { writeReadings, type NewReading } from '../functions/ingest/readings-store.ts';
import { readingIdOf } from '../functions/ingest/reading-id.ts';
import { captureLogs, createTestDatabase, type TestDatabase } from './support/kit.ts';

const NOW = new Date();
const TODAY_MS = Math.floor(NOW.getTime() / DAY_MS) * DAY_MS;

function reading(deviceId: string, eventMs: number, seq: number): NewReading {
  return {
    reading_id: readingIdOf(deviceId, eventMs, { seq, metrics: {} }),
    device_id: deviceId,
    event_ts: new Date(eventMs),
    received_at: NOW,
    metrics: { temperature: seq % 40 },
    seq,
    location: null,
    message_id: `m-${seq}`,
  };
}

async function partitions(db: Database): Promise<string[]> {
  const result = await db.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass ORDER BY 1",
  );
  return result.rows.map((r) => r.name);
}

const count = async (db: Database, sql: string, params: unknown[] = []) => Number((await db.query<{ n: number }>(sql, params)).rows[0]?.n);

function options(overrides: Partial<MaintenanceOptions> = {}): MaintenanceOptions {
  return { readingsRetentionDays: 30, rejectedRetentionDays: 30, logger: captureLogs().logger, now: NOW, ...overrides };
}

const backends = [
  {
    name: 'PostgreSQL',
    open: async () => {
      const tdb = await createTestDatabase({ migrate: false });
      return { db: tdb.db, close: () => tdb.drop() };
    },
  },
  {
    name: 'PGlite',
    open: async () => {
      const db = await openPglite();
      return { db, close: () => db.close() };
    },
  },
];

describe.each(backends)('lifecycle on $name', ({ open }) => {
  let db: Database;
  let close: () => Promise<void>;
  /** Content of every reading, as one text, before the conversion. */
  let before: string;
  const fingerprint = (d: Database) =>
    d.query<{ f: string }>(
      "SELECT md5(string_agg(reading_id || device_id || event_ts::text || metrics::text || coalesce(seq::text, ''), ',' ORDER BY reading_id)) AS f FROM readings",
    );

  beforeAll(async () => {
    ({ db, close } = await open());
    const all = await loadMigrations();
    await migrate(
      db,
      all.filter((m) => m.version < '003'),
    );
    // An install that ran before partitioning: 45 days of readings, some ahead, one from 2001.
    const rows: NewReading[] = [];
    for (let day = -44; day <= 1; day++)
      for (let i = 0; i < 20; i++) rows.push(reading('dev-a', TODAY_MS + day * DAY_MS + i * 3_600_000, (day + 50) * 100 + i));
    rows.push(reading('dev-b', Date.UTC(2001, 5, 1), 1));
    await db.query(
      `INSERT INTO readings (reading_id, device_id, event_ts, received_at, metrics, seq, message_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::jsonb[], $6::bigint[], $7::text[])`,
      [
        rows.map((r) => r.reading_id),
        rows.map((r) => r.device_id),
        rows.map((r) => r.event_ts.toISOString()),
        rows.map(() => NOW.toISOString()),
        rows.map((r) => JSON.stringify(r.metrics)),
        rows.map((r) => r.seq),
        rows.map((r) => r.message_id),
      ],
    );
    before = (await fingerprint(db)).rows[0]?.f ?? '';
    expect(await migrate(db, all)).toContain('003_partition_readings');
  }, 120_000);
  afterAll(async () => {
    await close();
  });

  it('converts the unpartitioned table without losing or changing a row', async () => {
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings')).toBe(46 * 20 + 1);
    expect((await fingerprint(db)).rows[0]?.f).toBe(before);
    expect(await count(db, "SELECT count(*)::int AS n FROM pg_partitioned_table WHERE partrelid = 'readings'::regclass")).toBe(1);
    expect(await count(db, "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'readings_unpartitioned'")).toBe(0);
    // Every day that had rows has its partition; nothing waits in the default one.
    const names = await partitions(db);
    for (let day = -44; day <= 7; day++) expect(names).toContain(partitionName(dayOf(TODAY_MS + day * DAY_MS)));
    expect(names).toContain('readings_p20010601');
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings_default')).toBe(0);
    expect(await count(db, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'rejected' AND column_name = 'replayed_at'")).toBe(1);
  });

  it('keeps reading_id unique: the same reading written again is stored once', async () => {
    const again = reading('dev-a', TODAY_MS - 3 * DAY_MS, (-3 + 50) * 100);
    expect(await writeReadings(db, [again])).toBe(0);
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings WHERE reading_id = $1', [again.reading_id])).toBe(1);
  });

  it('answers the device readings query with index scans on the partitions it needs', async () => {
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      "EXPLAIN SELECT * FROM readings WHERE device_id = 'dev-a' AND event_ts >= now() - interval '2 days' ORDER BY event_ts DESC LIMIT 100",
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan using readings_p\d{8}_device_id_event_ts_idx/);
    expect(text).not.toMatch(/Seq Scan/);
  });

  it('stores a reading for a day without a partition, and maintain moves it into its own partition', async () => {
    // 12 days ahead: past the 7 days created ahead, within no partition yet.
    const early = reading('dev-c', TODAY_MS + 12 * DAY_MS + 5_000, 7);
    expect(await writeReadings(db, [early])).toBe(1);
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings_default')).toBe(1);
    const report = await runMaintenance(db, options({ now: new Date(TODAY_MS + 5 * DAY_MS), readingsRetentionDays: 36_500 }));
    const name = partitionName(dayOf(early.event_ts.getTime()));
    expect(report.partitionsCreated).toContain(name);
    const where = await db.query<{ part: string }>('SELECT tableoid::regclass::text AS part FROM readings WHERE reading_id = $1', [early.reading_id]);
    expect(where.rows[0]?.part).toBe(name);
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings_default')).toBe(0);
  });

  it('drops exactly the partitions older than the retention, deletes old rejected rows in batches, and is idempotent', async () => {
    await db.query(`INSERT INTO rejected (at, reason, message_id) SELECT now() - interval '40 days', 'old', 'old-' || g FROM generate_series(1, 23) g`);
    await db.query(`INSERT INTO rejected (at, reason, message_id) SELECT now() - interval '2 days', 'recent', 'recent-' || g FROM generate_series(1, 4) g`);
    const logs = captureLogs('info');
    const beforeNames = await partitions(db);
    const cutoffDay = dayOf(TODAY_MS - 30 * DAY_MS);
    const expected = beforeNames.filter((n) => /^readings_p\d{8}$/.test(n) && n < partitionName(cutoffDay));
    expect(expected.length).toBe(14 + 1); // days -44..-31, and 2001

    const report = await runMaintenance(db, options({ logger: logs.logger, batchSize: 5 }));
    expect(report.partitionsDropped.sort()).toEqual(expected.sort());
    const after = await partitions(db);
    const kept = after.filter((n) => /^readings_p\d{8}$/.test(n) && n <= partitionName(dayOf(TODAY_MS)));
    // Today and the 30 days before it.
    expect(kept).toEqual(Array.from({ length: 31 }, (_, i) => partitionName(dayOf(TODAY_MS - (30 - i) * DAY_MS))));
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings WHERE event_ts < $1', [new Date(TODAY_MS - 30 * DAY_MS).toISOString()])).toBe(0);
    expect(await count(db, "SELECT count(*)::int AS n FROM readings WHERE device_id = 'dev-a'")).toBe((30 + 2) * 20);
    expect(report.rejectedDeleted).toBe(23);
    expect(await count(db, "SELECT count(*)::int AS n FROM rejected WHERE reason = 'recent'")).toBe(4);
    expect(report.deviceConfigsDeleted).toBe(0);
    const droppedLogs = logs
      .records()
      .filter((r) => r.message === 'dropped partition')
      .map((r) => r.partition);
    expect(droppedLogs.sort()).toEqual(expected.sort());

    const second = await runMaintenance(db, options());
    expect(second).toMatchObject({ partitionsCreated: [], partitionsDropped: [], rejectedDeleted: 0, defaultRowsDeleted: 0 });
  });

  it('runs twice at once: each partition created or dropped once, nothing fails', async () => {
    // Ten days later: ten more partitions to create ahead, ten to drop.
    const later = new Date(TODAY_MS + 10 * DAY_MS + 60_000);
    const beforeNames = await partitions(db);
    const [a, b] = await Promise.all([runMaintenance(db, options({ now: later })), runMaintenance(db, options({ now: later }))]);
    const dropped = [...a.partitionsDropped, ...b.partitionsDropped].sort();
    const created = [...a.partitionsCreated, ...b.partitionsCreated].sort();
    expect(new Set(dropped).size).toBe(dropped.length);
    expect(new Set(created).size).toBe(created.length);
    const expectedDropped = beforeNames.filter((n) => /^readings_p\d{8}$/.test(n) && n < partitionName(dayOf(later.getTime() - 30 * DAY_MS)));
    expect(dropped).toEqual(expectedDropped.sort());
    expect(dropped.length).toBe(10);
    const afterNames = await partitions(db);
    for (let day = -1; day <= 7; day++) expect(afterNames).toContain(partitionName(dayOf(later.getTime() + day * DAY_MS)));
  });

  it('keeps the last 10 versions per device of device_configs and device_states', async () => {
    // More than their writers keep, as a crash between write and trim could leave.
    await db.exec(`INSERT INTO devices (device_id) SELECT 'keep-' || d FROM generate_series(1, 3) d;
      INSERT INTO device_configs (device_id, version) SELECT 'keep-' || d, v FROM generate_series(1, 3) d, generate_series(1, 14) v;
      INSERT INTO device_states (device_id, update_time) SELECT 'keep-1', now() - g * interval '1 minute' FROM generate_series(1, 12) g;`);
    const report = await runMaintenance(db, options({ batchSize: 7 }));
    expect(report).toMatchObject({ deviceConfigsDeleted: 12, deviceStatesDeleted: 2 });
    expect(await count(db, "SELECT min(version)::int AS n FROM device_configs WHERE device_id = 'keep-2'")).toBe(5);
    expect(await count(db, "SELECT count(*)::int AS n FROM device_states WHERE device_id = 'keep-1' AND update_time > now() - interval '11 minutes'")).toBe(10);
    await db.exec("DELETE FROM devices WHERE device_id LIKE 'keep-%'");
  });
});

describe('retention while ingest writes (PostgreSQL)', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await tdb.drop();
  });

  it('drops 40 days of partitions while ingest writes: no write lost or failed', async () => {
    const { db } = tdb;
    // 40 days back (dates the migration did not create: they arrive in the default partition,
    // and maintain splits them out), then maintain at "now" drops the ten oldest.
    const old: NewReading[] = [];
    for (let day = -40; day <= 0; day++)
      for (let i = 0; i < 50; i++) old.push(reading('fleet-0', TODAY_MS + day * DAY_MS + i * 60_000, 10_000 + (day + 40) * 100 + i));
    for (let i = 0; i < old.length; i += 500) await writeReadings(db, old.slice(i, i + 500));
    await runMaintenance(db, options({ readingsRetentionDays: 365 }));
    expect(await count(db, 'SELECT count(*)::int AS n FROM readings_default')).toBe(0);

    let stop = false;
    let written = 0;
    const failures: unknown[] = [];
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let seq = 0; !stop || seq < 20; seq++) {
        const batch = Array.from({ length: 20 }, (_, i) => reading(`writer-${w}`, NOW.getTime() - 1_000 - i, seq * 100 + i));
        try {
          const stored = await writeReadings(db, batch);
          written += stored;
        } catch (error) {
          failures.push(error);
        }
      }
    });
    const report = await runMaintenance(db, options({ readingsRetentionDays: 30 }));
    stop = true;
    await Promise.all(writers);
    expect(failures).toEqual([]);
    expect(report.partitionsDropped).toHaveLength(10);
    expect(await count(db, "SELECT count(*)::int AS n FROM readings WHERE device_id LIKE 'writer-%'")).toBe(written);
    expect(written).toBeGreaterThanOrEqual(4 * 20 * 20);
    expect(await count(db, "SELECT sum(readings_total)::int AS n FROM device_state WHERE device_id LIKE 'writer-%'")).toBe(written);
  }, 120_000);
});
