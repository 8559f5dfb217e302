import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { TransientError } from '../shared/errors.ts';
import { queryDuckDb, WarehouseBusyError } from '../shared/warehouse/duckdb-analyst.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRow, makeMeasurementRows } from './support/measurement-rows.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-duckdb-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withSink<T>(name: string, use: (sink: DuckDbSink, path: string) => Promise<T>): Promise<T> {
  const path = join(dir, name, 'warehouse.duckdb');
  const sink = await openDuckDbSink(path);
  try {
    return await use(sink, path);
  } finally {
    await sink.close();
  }
}

async function count(sink: DuckDbSink, where = 'true'): Promise<number> {
  const result = await sink.query(`SELECT count(*)::INTEGER AS n FROM measurements WHERE ${where}`);
  return result.rows[0]?.[0] as number;
}

describe('DuckDB warehouse sink', () => {
  it('creates the directory and table, and stores every column with its type', async () => {
    await withSink('columns', async (sink) => {
      const row = makeMeasurementRow(0, { tags: { line: '2', zone: 'a"b' } });
      expect(await sink.write([row])).toEqual({ refused: [] });
      // BIGINTs that fit a JSON number come back as numbers (larger ones as exact strings).
      const types = await sink.query(`SELECT typeof(event_ts), typeof(tags), typeof(seq), typeof(value), tags->>'zone', epoch_ms(event_ts) FROM measurements`);
      expect(types.rows).toEqual([['TIMESTAMP WITH TIME ZONE', 'JSON', 'BIGINT', 'DOUBLE', 'a"b', row.event_ts.getTime()]]);
      const stored = await sink.query(`SELECT reading_id, metric, value, value_text, value_bool, site, lat, message_id FROM measurements`);
      expect(stored.rows).toEqual([[row.reading_id, row.metric, row.value, null, null, null, 52.5, row.message_id]]);
    });
  });

  it('writes the same (reading_id, metric) once, within a batch and across batches', async () => {
    await withSink('idempotent', async (sink) => {
      const rows = makeMeasurementRows(40);
      await sink.write([...rows, ...rows.slice(0, 10)]);
      await sink.write(rows);
      // A re-sent reading with a different ingest time is still the same row.
      await sink.write([{ ...rows[0]!, ingested_at: new Date() }]);
      expect(await count(sink)).toBe(40);
    });
  });

  it('serialises concurrent batches on the one connection', async () => {
    await withSink('concurrent', async (sink) => {
      // Whole readings (four rows each), each batch sharing thirteen with the one before.
      const batches = Array.from({ length: 20 }, (_, b) => makeMeasurementRows(100, b * 48));
      await Promise.all(batches.map((batch) => sink.write(batch)));
      expect(await count(sink)).toBe(19 * 48 + 100);
    });
  });

  it('keeps the rows after reopening, and answers read-only queries once closed', async () => {
    const path = await withSink('reopen', async (sink, path) => {
      await sink.write(makeMeasurementRows(8));
      return path;
    });
    await withSink('reopen', async (sink) => {
      await sink.write(makeMeasurementRows(8));
      expect(await count(sink)).toBe(8);
    });
    const result = await queryDuckDb(path, 'SELECT metric, count(*)::INTEGER AS n FROM measurements GROUP BY metric ORDER BY metric');
    expect(result.columns).toEqual(['metric', 'n']);
    expect(result.rows).toEqual([
      ['door.open', 2],
      ['humidity', 2],
      ['status', 2],
      ['temp', 2],
    ]);
  });

  it('names the holder when another process has the file open', async () => {
    const path = join(dir, 'busy', 'warehouse.duckdb');
    const sink = await openDuckDbSink(path);
    await sink.close();
    // DuckDB's lock is per process: only a second process meets it.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      import { DuckDBInstance } from '@duckdb/node-api';
      const instance = await DuckDBInstance.create(${JSON.stringify(path)});
      process.stdout.write('open\\n');
      process.stdin.on('end', () => instance.closeSync()).resume();
    `,
      ],
      { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited with ${String(code)}`)));
      });
      const query = queryDuckDb(path, 'SELECT 1');
      await expect(query).rejects.toBeInstanceOf(WarehouseBusyError);
      await expect(query).rejects.toThrow(/open in another process/);
    } finally {
      holder.stdin.end();
      if (holder.exitCode === null && holder.signalCode === null) await new Promise((resolve) => holder.once('exit', resolve));
    }
  });

  it('rejects writes after close with a clear, transient error (shutting down: Pub/Sub redelivers)', async () => {
    const sink = await openDuckDbSink(join(dir, 'closed', 'warehouse.duckdb'));
    await sink.close();
    await expect(sink.write(makeMeasurementRows(1))).rejects.toThrow(/closed/);
    await expect(sink.write(makeMeasurementRows(1))).rejects.toBeInstanceOf(TransientError);
  });
});
