/**
 * The DuckDB sink's fast path (a plain INSERT) and its fallback on a key conflict: a batch that
 * mixes new rows with rows already stored keeps every new row, once, and nothing else.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRows } from './support/measurement-rows.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-duckdb-conflicts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DuckDB sink on key conflicts', () => {
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
});
