/**
 * The DuckDB sink on readings it has seen: a batch that mixes new rows with rows already stored
 * keeps every new row, once, and nothing else; the first batch to carry a reading wins.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckDbMeasurementsDdl } from '../schemas/columns.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { RecentReadings } from '../shared/warehouse/recent-readings.ts';
import { makeMeasurementRows } from './support/measurement-rows.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-duckdb-conflicts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Keeps nothing in either tier, so that the anti join decides every redelivery. */
const NO_MEMORY = { maxReadings: 0, bucketMs: 1, sieve: { maxReadings: 0, bucketMs: 1 } };
/** Exact memory answers only for readings newer than any stored; the sieve, with room for every reading here, for the rest. */
const SIEVE_ONLY = { maxReadings: 0, bucketMs: 1, sieve: { maxReadings: 10_000, bucketMs: 60_000 } };

/** Memory as the sink keeps it, the sieve alone, and no memory. */
const MEMORIES = [
  { memory: 'default memory', recentReadings: {} },
  { memory: 'sieve only', recentReadings: SIEVE_ONLY },
  { memory: 'no memory', recentReadings: NO_MEMORY },
];

describe.each(MEMORIES)('DuckDB sink on readings already seen ($memory)', ({ memory, recentReadings }) => {
  const file = (name: string) => join(dir, `${memory.replace(' ', '-')}-${name}`);

  it('stores the new rows of a batch that also carries stored ones, each once', async () => {
    const sink = await openDuckDbSink(file('mixed.duckdb'), { recentReadings });
    try {
      // Whole readings (four metric rows each): ingest writes a reading's rows together.
      const first = makeMeasurementRows(32);
      await sink.write(first);
      const mixed = [...first.slice(12), ...makeMeasurementRows(24, 32)];
      expect(await sink.write(mixed)).toEqual({ refused: [] });
      const result = await sink.query('SELECT count(*)::INTEGER, count(DISTINCT reading_id || metric)::INTEGER FROM measurements');
      expect(result.rows).toEqual([[56, 56]]);
      // After that, a batch without stored readings is stored whole.
      await sink.write(makeMeasurementRows(4, 56));
      expect((await sink.query('SELECT count(*)::INTEGER FROM measurements')).rows).toEqual([[60]]);
    } finally {
      await sink.close();
    }
  });

  it('keeps the first version of a row when a redelivery differs only in ingest time', async () => {
    const sink = await openDuckDbSink(file('first-wins.duckdb'), { recentReadings });
    try {
      const [row] = makeMeasurementRows(1);
      await sink.write([row!]);
      await sink.write([{ ...row!, ingested_at: new Date(row!.ingested_at.getTime() + 60_000) }]);
      const stored = await sink.query('SELECT epoch_ms(ingested_at) FROM measurements');
      expect(stored.rows).toEqual([[row!.ingested_at.getTime()]]);
    } finally {
      await sink.close();
    }
  });

  it("keeps only the first batch's rows of a reading that two batches of one group carry with other metrics", async () => {
    const sink = await openDuckDbSink(file('same-group.duckdb'), { recentReadings });
    try {
      // While the first write runs, the next two wait and are written together, as one group.
      const running = sink.write(makeMeasurementRows(8, 400));
      const first = makeMeasurementRows(2, 0); // reading r-00000000: temp, humidity
      const other = makeMeasurementRows(2, 2); // the same reading: door.open, status
      await Promise.all([running, sink.write(first), sink.write(other)]);
      const stored = await sink.query(`SELECT metric FROM measurements WHERE reading_id = 'r-00000000' ORDER BY metric`);
      expect(stored.rows).toEqual([['humidity'], ['temp']]);
    } finally {
      await sink.close();
    }
  });

  it('writes to a file made by earlier versions, whose table has the primary key (reading_id, metric)', async () => {
    const path = file('keyed.duckdb');
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(duckDbMeasurementsDdl().replace(/\n\)$/, ',\n  PRIMARY KEY (reading_id, metric)\n)'));
    connection.closeSync();
    instance.closeSync();
    const sink = await openDuckDbSink(path, { recentReadings });
    try {
      const first = makeMeasurementRows(32);
      await sink.write(first);
      await sink.write([...first.slice(12), ...makeMeasurementRows(24, 32)]);
      await sink.write(first);
      const result = await sink.query('SELECT count(*)::INTEGER, count(DISTINCT reading_id || metric)::INTEGER FROM measurements');
      expect(result.rows).toEqual([[56, 56]]);
      // The same reading id at another event time: neither memory nor the anti join looks for it
      // there, so only the key sees it; the stored row stays and the rest of the group lands.
      const moved = { ...first[0]!, event_ts: new Date(first[0]!.event_ts.getTime() + 3_600_000), value: 99 };
      await sink.write([moved, ...makeMeasurementRows(4, 56)]);
      const kept = await sink.query(`SELECT value FROM measurements WHERE reading_id = '${first[0]!.reading_id}' AND metric = '${first[0]!.metric}'`);
      expect(kept.rows).toEqual([[first[0]!.value]]);
      expect((await sink.query('SELECT count(*)::INTEGER FROM measurements')).rows).toEqual([[60]]);
      const keys = await sink.query(`SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'measurements' AND constraint_type = 'PRIMARY KEY'`);
      expect(keys.rows).toEqual([['PRIMARY KEY']]);
    } finally {
      await sink.close();
    }
  });
});

/** The four metric rows of reading k (readings are a second apart: makeMeasurementRow). */
const reading = (k: number) => makeMeasurementRows(4, 4 * k);
const readings = (ks: number[]) => ks.flatMap(reading);
const countRows = async (sink: DuckDbSink) =>
  (await sink.query('SELECT count(*)::INTEGER, count(DISTINCT reading_id || metric)::INTEGER FROM measurements')).rows[0];

describe('DuckDB sink on readings its memory does not answer for', () => {
  it('after reopening, stores a redelivery of readings stored before once, and the new ones whole', async () => {
    const path = join(dir, 'reopened.duckdb');
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    const first = await openDuckDbSink(path);
    await first.write(readings(range(0, 80)));
    await first.close();
    const sink = await openDuckDbSink(path);
    try {
      // 75 stored readings (more event times than the anti join lists: their range) and 5 new ones.
      await sink.write(readings(range(5, 85)));
      // Two stored readings (their event times listed) and a new one.
      await sink.write(readings([3, 12, 85]));
      expect(await countRows(sink)).toEqual([344, 344]);
    } finally {
      await sink.close();
    }
  });

  it.each([
    // The test's readings are a second apart: one bucket holds them all.
    { tiers: 'the sieve answering', sieve: { maxReadings: 10_000, bucketMs: 60_000 } },
    // Sieve buckets of one reading's time, and room for four: the sieve forgets too, and the join decides.
    { tiers: 'the sieve forgetting as well', sieve: { maxReadings: 4, bucketMs: 1 } },
  ])('stores a redelivery of readings older than exact memory keeps once, and a late new reading ($tiers)', async ({ tiers, sieve }) => {
    const sink = await openDuckDbSink(join(dir, `forgotten-${tiers.replaceAll(' ', '-')}.duckdb`), {
      recentReadings: { maxReadings: 4, bucketMs: 1_000, sieve },
    });
    try {
      for (let k = 10; k < 50; k++) await sink.write(reading(k));
      // 10-40 are forgotten by exact memory now; 0-3 were never written.
      await sink.write(readings([10, 11, 12, 13]));
      await sink.write(readings([0, 1, 2, 3, 49]));
      await sink.write(readings([0, 1, 10, 48]));
      expect(await countRows(sink)).toEqual([176, 176]);
    } finally {
      await sink.close();
    }
  });

  it.each([
    { memory: 'a small memory', recentReadings: { maxReadings: 12, bucketMs: 2_000 }, batchReadings: 5 },
    {
      memory: 'a small memory and a small sieve',
      recentReadings: { maxReadings: 12, bucketMs: 2_000, sieve: { maxReadings: 40, bucketMs: 4_000 } },
      batchReadings: 5,
    },
    { memory: 'the sieve alone', recentReadings: SIEVE_ONLY, batchReadings: 20 },
    // Groups of up to 180 readings with no memory: every redelivery and late reading goes to the anti join.
    { memory: 'no memory, large groups', recentReadings: NO_MEMORY, batchReadings: 60 },
  ])('stores each reading once, whatever the order, redeliveries, groups and reopenings ($memory)', async ({ memory, recentReadings, batchReadings }) => {
    // A seeded generator: the same sequence on every run.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const path = join(dir, `random-${memory.replaceAll(' ', '-')}.duckdb`);
    const open = () => openDuckDbSink(path, { recentReadings });
    const written = new Set<number>();
    let sink = await open();
    try {
      let newest = 0;
      for (let step = 0; step < 150; step++) {
        // Mostly readings near the newest (in order or a little late), some far behind, some
        // redelivered. The newest sometimes skips one, so a late reading far behind may be new.
        const batch = () =>
          Array.from({ length: 1 + Math.floor(random() * batchReadings) }, () => {
            const r = random();
            const k =
              r < 0.6
                ? (newest += random() < 0.2 ? 2 : 1)
                : r < 0.85
                  ? Math.max(0, newest - 1 - Math.floor(random() * 8))
                  : Math.floor(random() * (newest + 1));
            written.add(k);
            return k;
          });
        // One to three batches at once: those that wait for a running write share a group.
        await Promise.all(Array.from({ length: 1 + Math.floor(random() * 3) }, () => sink.write(readings(batch()))));
        if (random() < 0.05) {
          await sink.close();
          sink = await open();
        }
      }
      expect(await countRows(sink)).toEqual([4 * written.size, 4 * written.size]);
    } finally {
      await sink.close();
    }
  });

  it('after reopening on a reading stamped a day ahead, stores its redelivery once, and the readings between', async () => {
    const path = join(dir, 'ahead.duckdb');
    const dayAhead = reading(0).map((row) => ({ ...row, event_ts: new Date(Date.now() + 86_400_000) }));
    const first = await openDuckDbSink(path);
    await first.write([...readings([1, 2]), ...dayAhead]);
    await first.close();
    const sink = await openDuckDbSink(path);
    try {
      const now = (k: number) => reading(k).map((row) => ({ ...row, event_ts: new Date() }));
      await sink.write([...dayAhead, ...now(3), ...readings([1])]);
      await sink.write([...dayAhead, ...now(4)]);
      expect(await countRows(sink)).toEqual([20, 20]);
    } finally {
      await sink.close();
    }
  });

  it('after reopening on a reading stamped ahead, stores its redelivery once after exact memory forgot it', async () => {
    const path = join(dir, 'ahead-forgotten.duckdb');
    const stamped = (k: number, days: number) => {
      const at = new Date(Date.now() + days * 86_400_000);
      return reading(k).map((row) => ({ ...row, event_ts: at }));
    };
    const ahead = stamped(0, 1);
    const first = await openDuckDbSink(path);
    await first.write(ahead);
    await first.close();
    // Exact memory for two readings: the two after it push the one found ahead out, to the sieve alone.
    const sink = await openDuckDbSink(path, { recentReadings: { maxReadings: 2, bucketMs: 1_000 } });
    try {
      await sink.write([...stamped(1, 2), ...stamped(2, 3)]);
      await sink.write(ahead);
      expect(await countRows(sink)).toEqual([12, 12]);
    } finally {
      await sink.close();
    }
  });

  it('stores again a reading that retention deleted while memory held it', async () => {
    const sink = await openDuckDbSink(':memory:');
    try {
      const old = reading(0).map((row) => ({ ...row, event_ts: new Date(Date.now() - 40 * 86_400_000) }));
      await sink.write(old);
      expect(await sink.applyRetention(30)).toMatch(/deleted 4 measurements/);
      await sink.write(old);
      expect(await countRows(sink)).toEqual([4, 4]);
    } finally {
      await sink.close();
    }
  });

  it('after a group the table refuses, stores the redelivery of readings stored before once', async () => {
    const sink = await openDuckDbSink(join(dir, 'refused-group.duckdb'));
    try {
      await sink.write(readings([0, 1, 2]));
      // A row without its metric breaks NOT NULL: the whole group fails.
      const broken = { ...reading(3)[0]!, metric: null as unknown as string };
      await expect(sink.write([...readings([2, 4]), broken])).rejects.toThrow(/NOT NULL/);
      await sink.write(readings([0, 1, 2, 3, 4]));
      expect(await countRows(sink)).toEqual([20, 20]);
    } finally {
      await sink.close();
    }
  });

  it('answers for a group it stored but could not remember whole, and stores its redelivery once', async () => {
    const sink = await openDuckDbSink(join(dir, 'half-remembered.duckdb'));
    // Memory fails on the group's third reading, as a filter it cannot allocate would.
    const remember = RecentReadings.prototype.add;
    let calls = 0;
    const failing = vi.spyOn(RecentReadings.prototype, 'add').mockImplementation(function (this: RecentReadings, readingId, eventMs) {
      if (++calls === 3) throw new RangeError('Array buffer allocation failed');
      remember.call(this, readingId, eventMs);
    });
    try {
      await expect(sink.write(readings([0, 1, 2, 3, 4]))).resolves.toEqual({ refused: [] });
      expect(calls).toBeGreaterThanOrEqual(3);
      failing.mockRestore();
      await sink.write(readings([0, 1, 2, 3, 4, 5]));
      expect(await countRows(sink)).toEqual([24, 24]);
    } finally {
      failing.mockRestore();
      await sink.close();
    }
  });
});
