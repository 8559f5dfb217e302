/**
 * Rows/s of the DuckDB sink's write path: 50,000 rows in 500-row batches into a fresh file,
 * then the same rows again (all conflicts, the redelivery case), then new rows with ten
 * batches in flight (they share commits).
 * Run: `npx node bench/warehouse-duckdb.ts [rows] [batch]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRows } from '../test/support/measurement-rows.ts';

const total = Number(process.argv[2] ?? 50_000);
const batchSize = Number(process.argv[3] ?? 500);
const rows = makeMeasurementRows(total);
const batches = Array.from({ length: Math.ceil(total / batchSize) }, (_, i) => rows.slice(i * batchSize, (i + 1) * batchSize));

const dir = await mkdtemp(join(tmpdir(), 'bench-duckdb-'));
const sink = await openDuckDbSink(join(dir, 'warehouse.duckdb'));
try {
  for (const pass of ['new rows', 'duplicates']) {
    const started = performance.now();
    for (const batch of batches) await sink.write(batch);
    const seconds = (performance.now() - started) / 1000;
    console.log(`${pass}: ${total} rows in ${batchSize}-row batches, ${seconds.toFixed(2)} s, ${Math.round(total / seconds)} rows/s`);
  }
  // Ten batches in flight at once, as the ingest's concurrent requests deliver them.
  const fresh = makeMeasurementRows(total, total);
  const started = performance.now();
  for (let i = 0; i < fresh.length; i += batchSize * 10) {
    const wave = Array.from({ length: 10 }, (_, k) => fresh.slice(i + k * batchSize, i + (k + 1) * batchSize));
    await Promise.all(wave.map((batch) => sink.write(batch)));
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`10 batches in flight: ${total} rows, ${seconds.toFixed(2)} s, ${Math.round(total / seconds)} rows/s`);
  const { rows: counted } = await sink.query('SELECT count(*)::INTEGER FROM measurements');
  console.log(`stored: ${String(counted[0]?.[0])}`);
} finally {
  await sink.close();
  await rm(dir, { recursive: true, force: true });
}
