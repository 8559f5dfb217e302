/**
 * Rows/s of the DuckDB sink's write path (a diagnostic with no target of its own: it explains
 * the ingest figures, whose batches wait for both stores): rows in fixed-size batches into a
 * fresh file, then the same rows again (all conflicts, the redelivery case), then new rows
 * with ten batches in flight (they share commits).
 *
 *   npm run bench -- warehouse-duckdb [--quick]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRows } from '../test/support/measurement-rows.ts';
import { describeMachine, writeResult, type ResultRow } from './lib/report.ts';

export interface WarehouseDuckDbOptions {
  rows: number;
  batch: number;
}

type Rows = ReturnType<typeof makeMeasurementRows>;

/** Runs the benchmark and writes bench/results/warehouse-duckdb.json and .md. */
export async function runWarehouseDuckDbBench(options: WarehouseDuckDbOptions): Promise<void> {
  const { rows: total, batch } = options;
  const rows = makeMeasurementRows(total);
  const dir = await mkdtemp(join(tmpdir(), 'bench-duckdb-'));
  const sink = await openDuckDbSink(join(dir, 'warehouse.duckdb'));
  const results: ResultRow[] = [];
  const record = (subject: string, seconds: number) =>
    results.push({ subject: `DuckDB sink, ${subject}`, role: 'diagnostic', figures: { rowsPerSec: total / seconds } });
  try {
    record(`new rows, ${batch}-row batches`, await timed(() => writeInBatches(sink, rows, batch, 1)));
    record(`duplicates, ${batch}-row batches`, await timed(() => writeInBatches(sink, rows, batch, 1)));
    record(`new rows, 10 batches in flight`, await timed(() => writeInBatches(sink, makeMeasurementRows(total, total), batch, 10)));
    const { rows: counted } = await sink.query('SELECT count(*)::INTEGER FROM measurements');
    if (Number(counted[0]?.[0]) !== 2 * total) throw new Error(`expected ${2 * total} rows in the warehouse, found ${String(counted[0]?.[0])}`);
  } finally {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  }
  writeResult({
    name: 'warehouse-duckdb',
    title: 'Embedded warehouse (DuckDB sink) write path',
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: { ...options },
    rows: results,
    targets: [],
    notes: ['No target of its own: it explains the ingest figures, whose batches wait for both stores.'],
  });
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

/** Writes `rows` in `batch`-row batches, `inFlight` batches at once. */
async function writeInBatches(sink: DuckDbSink, rows: Rows, batch: number, inFlight: number): Promise<void> {
  for (let i = 0; i < rows.length; i += batch * inFlight) {
    const wave = Array.from({ length: inFlight }, (_, k) => rows.slice(i + k * batch, i + (k + 1) * batch)).filter((b) => b.length > 0);
    await Promise.all(wave.map((b) => sink.write(b)));
  }
}
