/**
 * `npm run bench [-- <name>...] [--quick]`: runs every benchmark (or the named ones), each
 * measuring the project and its baseline in the same run, and writes bench/results/<name>.json
 * and .md, the combined bench/results/summary.md and the chart bench/results/summary.svg.
 * Servers run on core 0 (`taskset -c 0`), load generators on core 1.
 * @see ../docs/performance.md
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, usageFailure } from '../scripts/cli.ts';
import { runBridgeBench, runBridgeEmulatorBench } from './bridge.ts';
import { runColdStartBench } from './cold-start.ts';
import { runEndToEndBench } from './end-to-end.ts';
import { runIngestBench } from './ingest.ts';
import { renderChart, type Panel } from './lib/chart.ts';
import { RESULTS_DIR, describeMachine, machineGrouping, readResult, renderMarkdown, renderSummary, type BenchResult, type Role } from './lib/report.ts';
import { runMemoryBench } from './memory.ts';
import { runPublisherBench } from './publisher.ts';
import { runReadingsBench } from './readings.ts';
import { runStackBench } from './stack.ts';
import { runWarehouseDuckDbBench } from './warehouse-duckdb.ts';
import { runWarehouseWritesBench } from './warehouse-writes.ts';
import { runMaintainBench } from './maintain.ts';

interface Benchmark {
  name: string;
  /** Part of a plain `npm run bench`. */
  byDefault: boolean;
  run(quick: boolean): Promise<void>;
}

const BENCHMARKS: Benchmark[] = [
  {
    name: 'bridge',
    byDefault: true,
    run: (quick) => runBridgeBench({ seconds: quick ? 3 : 10, warmupSeconds: quick ? 1 : 2, rounds: quick ? 1 : 3, connections: 50 }),
  },
  {
    name: 'bridge-emulator',
    byDefault: true,
    run: (quick) => runBridgeEmulatorBench({ seconds: quick ? 3 : 10, warmupSeconds: quick ? 1 : 2, rounds: quick ? 1 : 3, connections: 50 }),
  },
  { name: 'publisher', byDefault: true, run: (quick) => runPublisherBench({ messages: quick ? 10_000 : 40_000, rounds: quick ? 1 : 5, concurrency: 50 }) },
  {
    name: 'ingest',
    byDefault: true,
    run: (quick) => runIngestBench({ seconds: quick ? 4 : 8, rounds: quick ? 1 : 3, connections: 400, curve: quick ? [] : [100, 200] }),
  },
  { name: 'end-to-end', byDefault: true, run: (quick) => runEndToEndBench({ rate: 1000, seconds: quick ? 8 : 30, warmupSeconds: 2, devices: 20 }) },
  { name: 'stack', byDefault: true, run: (quick) => runStackBench({ rate: 6_000, seconds: quick ? 15 : 60, devices: 1_000, concurrency: 256 }) },
  { name: 'cold-start', byDefault: true, run: (quick) => runColdStartBench({ runs: quick ? 3 : 9 }) },
  { name: 'memory', byDefault: true, run: (quick) => runMemoryBench({ rounds: quick ? 1 : 3, loadSeconds: quick ? 5 : 20 }) },
  {
    name: 'warehouse-writes',
    byDefault: true,
    run: (quick) => runWarehouseWritesBench({ readings: quick ? 2_000 : 10_000, rounds: quick ? 1 : 3, concurrency: 200 }),
  },
  { name: 'maintain', byDefault: false, run: (quick) => runMaintainBench({ rows: quick ? 1_000_000 : 10_000_000, rounds: quick ? 1 : 3, baselineMs: 3_000 }) },
  { name: 'warehouse-duckdb', byDefault: true, run: (quick) => runWarehouseDuckDbBench({ rows: quick ? 10_000 : 50_000, batch: 500 }) },
  {
    name: 'readings',
    byDefault: true,
    run: (quick) =>
      runReadingsBench({
        devices: quick ? 20 : 100,
        readingsPerDevice: quick ? 5_000 : 10_000,
        seconds: quick ? 3 : 8,
        rounds: quick ? 1 : 3,
        connections: 10,
      }),
  },
];

/** The order of the summary; benchmarks not run this time keep their last results. */
const SUMMARY_ORDER = BENCHMARKS.map((b) => b.name);

async function main(): Promise<void> {
  const spec = {
    command: 'npm run bench',
    synopsis: '[<benchmark>...] [--quick]',
    description: 'Runs the benchmarks (each with its baseline, in the same run) and writes bench/results/.\nServers run on core 0, load generators on core 1.',
    positionals: [
      {
        name: '<benchmark>...',
        variadic: true,
        help: `any of ${BENCHMARKS.map((b) => b.name).join(', ')} (default: all but ${BENCHMARKS.filter((b) => !b.byDefault)
          .map((b) => b.name)
          .join(', ')})`,
      },
    ],
    options: { quick: { type: 'boolean', help: 'shorter runs and fewer rounds, for a smoke test', defaultText: 'off' } },
  } as const;
  const { values, positionals } = runCli(spec);
  const unknown = positionals.filter((p) => !BENCHMARKS.some((b) => b.name === p));
  if (unknown.length) usageFailure(spec, `unknown benchmark(s) ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  const quick = values.quick ?? false;
  const runStartedAt = new Date();
  const selected = positionals.length ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS.filter((b) => b.byDefault);
  const failed: string[] = [];
  for (const bench of selected) {
    const started = performance.now();
    console.log(`\n=== ${bench.name}${quick ? ' (quick)' : ''} ===`);
    try {
      await bench.run(quick);
      const result = readResult(bench.name);
      if (result) console.log(`\n${renderMarkdown(result)}`);
    } catch (error) {
      // One broken benchmark must not cost the others' figures.
      failed.push(bench.name);
      console.error(`${bench.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    console.log(`(${bench.name}: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  writeSummary(runStartedAt);
  if (failed.length) {
    console.error(`\nfailed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

function writeSummary(runStartedAt: Date): void {
  const results = SUMMARY_ORDER.map(readResult).filter((r): r is BenchResult => r !== undefined);
  const machine = describeMachine();
  writeFileSync(join(RESULTS_DIR, 'summary.md'), renderSummary(results, { runStartedAt, machine, chart: '![throughput and latency](summary.svg)' }));
  const machineOf = machineGrouping([machine, ...results.map((r) => r.machine)]);
  const machines = new Set(results.map((r) => machineOf(r.machine)));
  const subtitle = machines.size > 1 ? `${machines.size} machines mixed: see summary.md` : `${machine.cpus}-core machine, servers pinned to one core; medians`;
  writeFileSync(
    join(RESULTS_DIR, 'summary.svg'),
    renderChart('Telemetry pipeline: project (blue) vs baseline (grey), same run', subtitle, chartPanels(results)),
  );
  console.log(`\nwrote ${join(RESULTS_DIR, 'summary.md')} and summary.svg`);
}

function chartPanels(results: BenchResult[]): Panel[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const bars = (name: string, key: string, roles: Role[] = ['project', 'baseline', 'diagnostic']) =>
    (byName.get(name)?.rows ?? [])
      .filter((r) => roles.includes(r.role) && r.figures[key] !== undefined)
      .map((r) => ({ label: r.subject, value: r.figures[key] as number, role: r.role }));
  const bareIdleMb = byName.get('memory')?.rows.find((r) => r.role === 'baseline')?.figures.idleRssMb ?? 60;
  const panels: Panel[] = [
    { title: 'Bridge throughput, 50 connections', unit: 'req/s', bars: bars('bridge', 'reqPerSec') },
    { title: 'Bridge latency p99', unit: 'ms', bars: bars('bridge', 'p99Ms'), target: { value: 10, label: '10 ms' } },
    {
      title: 'Ingest throughput, 1 reading per push',
      unit: 'readings/s',
      bars: bars('ingest', 'readingsPerSec'),
      target: { value: 10_000, label: '10,000/s' },
    },
    { title: 'Ingest latency p99', unit: 'ms', bars: bars('ingest', 'p99Ms') },
    {
      title: 'End to end at 1,000 readings/s, POST → PostgreSQL row',
      unit: 'ms',
      bars: ['p50Ms', 'p90Ms', 'p99Ms'].flatMap((k) => bars('end-to-end', k).map((b) => ({ ...b, label: `${k.replace('Ms', '')}` }))),
      target: { value: 250, label: 'p99 ≤ 250' },
    },
    { title: 'Cold start to first /healthz 200', unit: 'ms', bars: bars('cold-start', 'startMs'), target: { value: 150, label: '150 ms' } },
    { title: 'Idle RSS', unit: 'MB', bars: bars('memory', 'idleRssMb'), target: { value: bareIdleMb + 10, label: 'bare + 10 MB' } },
    { title: 'BigQuery insertAll requests per 1,000 rows', unit: 'requests', bars: bars('warehouse-writes', 'requestsPer1000Rows') },
  ];
  return panels.filter((p) => p.bars.length > 0);
}

await main();
