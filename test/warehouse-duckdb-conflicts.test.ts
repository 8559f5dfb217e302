/**
 * The DuckDB sink on readings it has seen: a batch that mixes new rows with rows already stored
 * keeps every new row, once, and nothing else; the first batch to carry a reading wins.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckDbMeasurementsDdl } from '../schemas/columns.ts';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRows } from './support/measurement-rows.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-duckdb-conflicts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DuckDB sink on readings already seen', () => {
  it('stores the new rows of a batch that also carries stored ones, each once', async () => {
    const sink = await openDuckDbSink(join(dir, 'mixed.duckdb'));
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
    const sink = await openDuckDbSink(join(dir, 'first-wins.duckdb'));
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
    const sink = await openDuckDbSink(join(dir, 'same-group.duckdb'));
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
    const path = join(dir, 'keyed.duckdb');
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(duckDbMeasurementsDdl().replace(/\n\)$/, ',\n  PRIMARY KEY (reading_id, metric)\n)'));
    connection.closeSync();
    instance.closeSync();
    const sink = await openDuckDbSink(path);
    try {
      const first = makeMeasurementRows(32);
      await sink.write(first);
      await sink.write([...first.slice(12), ...makeMeasurementRows(24, 32)]);
      await sink.write(first);
      const result = await sink.query('SELECT count(*)::INTEGER, count(DISTINCT reading_id || metric)::INTEGER FROM measurements');
      expect(result.rows).toEqual([[56, 56]]);
      // The same reading id at another event time: outside the range the stored rows are looked
      // for in, so only the key sees it; the stored row stays and the rest of the group lands.
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
