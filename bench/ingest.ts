/**
 * Ingest throughput through bench/ingest-throughput.ts: group commit against one write per
 * request at 100 concurrent pushes (interleaved rounds), then group commit alone at other
 * concurrencies, since Pub/Sub's push concurrency per instance is containerConcurrency (400 for
 * ingest in knative/base/ingest.yaml); and once with the BigQuery sink (a diagnostic).
 *
 *   npm run bench -- ingest [--quick]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMachine, roundFigure, writeResult, type ResultRow } from './lib/report.ts';
import { runScript } from './lib/scripts.ts';

export interface IngestOptions {
  seconds: number;
  rounds: number;
  /** Concurrent pushes for the comparison with the baseline. */
  connections: number;
  /** Further concurrencies for group commit alone. */
  curve: number[];
}

interface ModeFigures {
  readingsPerSec: number;
  p50: number;
  p99: number;
}

interface IngestReport {
  project: ModeFigures;
  baseline: ModeFigures;
}

/** Runs the benchmark and writes bench/results/ingest.json and .md. */
export async function runIngestBench(options: IngestOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ingest-results-'));
  try {
    const run = async (connections: number, modes: string, rounds: number, warehouse = 'duckdb'): Promise<IngestReport> => {
      const out = join(dir, `${connections}-${modes}-${warehouse}.json`);
      await runScript('bench/ingest-throughput.ts', ['--connections', String(connections), '--seconds', String(options.seconds), '--rounds', String(rounds), '--modes', modes, '--warehouse', warehouse, '--out', out]);
      return JSON.parse(readFileSync(out, 'utf8')) as IngestReport;
    };
    const compared = await run(options.connections, 'per-request,group-commit', options.rounds);
    const figures = (f: ModeFigures, connections: number) => ({ connections, readingsPerSec: f.readingsPerSec, p50Ms: f.p50, p99Ms: f.p99 });
    const rows: ResultRow[] = [
      { subject: `group commit, ${options.connections} concurrent pushes`, role: 'project', figures: figures(compared.project, options.connections) },
      { subject: `one write per request, ${options.connections} concurrent pushes`, role: 'baseline', figures: figures(compared.baseline, options.connections) },
    ];
    for (const connections of options.curve) {
      const curve = await run(connections, 'group-commit', 1);
      rows.push({ subject: `group commit, ${connections} concurrent pushes`, role: 'project', figures: figures(curve.project, connections) });
    }
    // The deployed warehouse instead of the embedded one: tells how much of the cost is DuckDB's.
    const bigQuery = await run(options.connections, 'group-commit', 1, 'bigquery');
    rows.push({ subject: `group commit, BigQuery sink → stand-in on core 1, ${options.connections} pushes`, role: 'diagnostic', figures: figures(bigQuery.project, options.connections) });
    const ratio = compared.project.readingsPerSec / compared.baseline.readingsPerSec;
    const best = rows.filter((r) => r.role !== 'baseline').reduce((a, b) => ((b.figures.readingsPerSec ?? 0) > (a.figures.readingsPerSec ?? 0) ? b : a));
    for (const r of rows) r.figures.ratioToBaseline = (r.figures.readingsPerSec ?? NaN) / compared.baseline.readingsPerSec;
    writeResult({
      name: 'ingest',
      title: 'Ingest throughput: readings/s into PostgreSQL + DuckDB, one reading per push, server on one core',
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: { seconds: options.seconds, rounds: options.rounds, connections: options.connections, curve: options.curve, readingsPerPush: 1, batch: 'ingest defaults: ≤ 1000 rows, ≤ 5 ms wait, 4 batches in flight; PG pool 10' },
      rows,
      targets: [
        { what: `group commit vs one write per request (${options.connections} pushes)`, target: '≥ 10×', measured: `${roundFigure(ratio)}×`, met: ratio >= 10 },
        { what: 'readings/s on one core, best concurrency', target: '≥ 10,000', measured: `${Math.round(best.figures.readingsPerSec ?? 0)} (${best.figures.connections} pushes)`, met: (best.figures.readingsPerSec ?? 0) >= 10_000 },
      ],
      notes: ['The load generator (autocannon) runs on core 1; PostgreSQL is not pinned and shares both cores with everything else on the machine.'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
