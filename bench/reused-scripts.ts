/**
 * Benchmarks other engineers wrote as programs, run unchanged and their output turned into
 * the common result: cold start (bench/cold-start.ts, after `npm run build`) and the DuckDB
 * sink's write path (bench/warehouse-duckdb.ts).
 * @see ../docs/performance.md
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, describeMachine, renderMarkdown, writeResult, type BenchResult, type MachineNote, type ResultRow } from './lib/report.ts';
import { runScript } from './lib/scripts.ts';

interface ColdStartRow {
  name: string;
  medianMs: number;
  ratioToBare: number;
  idleRssMb: number;
  /** Present on bundles only. */
  entryKiB?: number;
}

interface ColdStartFile {
  runs: number;
  measuredAt: string;
  rows: ColdStartRow[];
}

const COLD_START_TARGET_MS = 150;

/**
 * Builds the bundles, then bench/cold-start.ts, which keeps writing its own
 * bench/results/cold-start.json; the runner adds cold-start.md from it.
 */
export async function runColdStartBench(options: { runs: number }): Promise<void> {
  await runScript('scripts/build.ts', []);
  await runScript('bench/cold-start.ts', ['--runs', String(options.runs)]);
  // Its JSON has no load average; keep the one of this run beside it.
  writeFileSync(join(RESULTS_DIR, 'cold-start.machine.json'), `${JSON.stringify(describeMachine(), null, 2)}\n`);
  const result = readColdStartResult();
  if (result) writeFileSync(join(RESULTS_DIR, 'cold-start.md'), `${renderMarkdown(result)}\n`);
}

/** bench/results/cold-start.json (the deploy engineer's format) as a common result. */
export function readColdStartResult(): BenchResult | undefined {
  const path = join(RESULTS_DIR, 'cold-start.json');
  if (!existsSync(path)) return undefined;
  const raw = JSON.parse(readFileSync(path, 'utf8')) as ColdStartFile;
  const machinePath = join(RESULTS_DIR, 'cold-start.machine.json');
  const isBundle = (r: ColdStartRow) => r.entryKiB !== undefined;
  const rows: ResultRow[] = raw.rows.map((r) => ({
    subject: isBundle(r) ? `${r.name} bundle` : r.name,
    role: isBundle(r) ? 'project' : 'baseline',
    figures: { startMs: r.medianMs, ratioToBaseline: r.ratioToBare, rssMb: r.idleRssMb },
  }));
  return {
    name: 'cold-start',
    title: 'Cold start: process start → first /healthz 200',
    measuredAt: raw.measuredAt,
    machine: existsSync(machinePath) ? (JSON.parse(readFileSync(machinePath, 'utf8')) as MachineNote) : describeMachine(),
    setup: { runs: raw.runs, bundles: 'dist/<name>/index.mjs (npm run build)', rss: 'right after the first 200 (see memory for settled idle RSS)', script: 'bench/cold-start.ts' },
    rows,
    targets: raw.rows.filter(isBundle).map((r) => ({
      what: `${r.name} bundle start`,
      target: `≤ ${COLD_START_TARGET_MS} ms and ≤ 2× bare`,
      measured: `${r.medianMs} ms, ${r.ratioToBare}×`,
      met: r.medianMs <= COLD_START_TARGET_MS && r.ratioToBare <= 2,
    })),
    notes: ['Subjects start one after the other in interleaved rounds; medians of the rounds.'],
  };
}

/** bench/warehouse-duckdb.ts: rows/s of the embedded warehouse's write path (a diagnostic). */
export async function runWarehouseDuckDbBench(options: { rows: number }): Promise<void> {
  const out = await runScript('bench/warehouse-duckdb.ts', [String(options.rows), '500']);
  const rows: ResultRow[] = [...out.matchAll(/^(.+?): .*?(\d+) rows\/s$/gm)].map((m) => ({
    subject: `DuckDB sink, ${m[1] ?? ''}`,
    role: 'diagnostic',
    figures: { rowsPerSec: Number(m[2]) },
  }));
  writeResult({
    name: 'warehouse-duckdb',
    title: 'Embedded warehouse (DuckDB sink) write path',
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: { rows: options.rows, batch: 500, script: 'bench/warehouse-duckdb.ts' },
    rows,
    targets: [],
    notes: ['No target of its own: it explains the ingest figures, whose batches wait for both stores.'],
  });
}
