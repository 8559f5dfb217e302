/**
 * Ingest throughput: readings/s stored through concurrent Pub/Sub pushes (one reading per
 * push), with each warehouse: the embedded DuckDB sink and the BigQuery sink (production)
 * writing to the stand-in on core 1, both beside PostgreSQL. Group commit is compared with
 * one write per request in the same run, in interleaved rounds; then, with the BigQuery sink,
 * group commit alone at other concurrencies (Pub/Sub's push concurrency per instance is
 * containerConcurrency, 400 for ingest in knative/base/ingest.yaml).
 * Server on core 0, with the Node flags of its Knative manifest; load generator
 * (bench/lib/push-load.ts) and stand-in on core 1.
 *
 *   npm run bench -- ingest [--quick]
 * Profile the server with BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (bench/lib/processes.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase } from './lib/database.ts';
import { describeRuntime, manifestRuntime } from './lib/manifest.ts';
import { startServer } from './lib/processes.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow, type TargetCheck } from './lib/report.ts';

export interface IngestOptions {
  seconds: number;
  rounds: number;
  /** Concurrent pushes for the comparison with the baseline. */
  connections: number;
  /** Further concurrencies for group commit alone, BigQuery sink. */
  curve: number[];
}

type Sink = 'duckdb' | 'bigquery';
type Mode = 'group-commit' | 'per-request';

interface Round {
  readingsPerSec: number;
  /** The server's CPU time (user + system) per stored reading: steadier than readings/s on a busy machine. */
  cpuUsPerReading: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

const DEVICES = 100;
const SINKS: { sink: Sink; label: string; readings: number; ratio: number }[] = [
  { sink: 'bigquery', label: 'PostgreSQL + BigQuery sink (stand-in on core 1)', readings: 12_000, ratio: 12 },
  { sink: 'duckdb', label: 'PostgreSQL + DuckDB', readings: 10_000, ratio: 10 },
];

/** Runs the benchmark and writes bench/results/ingest.json and .md. */
export async function runIngestBench(options: IngestOptions): Promise<void> {
  const rounds = new Map<string, Round[]>();
  const record = (key: string, round: Round) => rounds.set(key, [...(rounds.get(key) ?? []), round]);
  for (let i = 0; i < options.rounds; i++) {
    const floor = await runFloorRound(options.connections, options.seconds);
    record(`floor ${options.connections}`, floor);
    console.log(
      `round ${i + 1} bare node:http floor ${floor.readingsPerSec} pushes/s  ${floor.cpuUsPerReading} µs CPU/push  p50 ${floor.p50Ms} ms  p99 ${floor.p99Ms} ms`,
    );
    for (const { sink } of SINKS) {
      for (const mode of ['per-request', 'group-commit'] as const) {
        const round = await runRound(sink, mode, options.connections, options.seconds);
        record(`${sink} ${mode} ${options.connections}`, round);
        console.log(
          `round ${i + 1} ${sink.padEnd(8)} ${mode.padEnd(12)} ${round.readingsPerSec} readings/s  ${round.cpuUsPerReading} µs CPU/reading  p50 ${round.p50Ms} ms  p99 ${round.p99Ms} ms  non-2xx ${round.non2xx}`,
        );
      }
    }
  }
  for (const connections of options.curve)
    record(`bigquery group-commit ${connections}`, await runRound('bigquery', 'group-commit', connections, options.seconds));

  const figures = (key: string, connections: number) => {
    const of = rounds.get(key) ?? [];
    return {
      connections,
      readingsPerSec: median(of.map((r) => r.readingsPerSec)),
      cpuUsPerReading: median(of.map((r) => r.cpuUsPerReading)),
      p50Ms: median(of.map((r) => r.p50Ms)),
      p99Ms: median(of.map((r) => r.p99Ms)),
      non2xx: median(of.map((r) => r.non2xx)),
    };
  };
  const rows: ResultRow[] = [];
  const targets: TargetCheck[] = [];
  for (const { sink, label, readings, ratio } of SINKS) {
    const project = figures(`${sink} group-commit ${options.connections}`, options.connections);
    const baseline = figures(`${sink} per-request ${options.connections}`, options.connections);
    const measuredRatio = project.readingsPerSec / baseline.readingsPerSec;
    rows.push(
      { subject: `${label}: group commit, ${options.connections} pushes`, role: 'project', figures: { ...project, ratioToBaseline: measuredRatio } },
      { subject: `${label}: one write per request, ${options.connections} pushes`, role: 'baseline', figures: { ...baseline, ratioToBaseline: 1 } },
    );
    targets.push(
      {
        what: `${label}: readings/s on one core, ${options.connections} pushes`,
        target: `≥ ${readings.toLocaleString('en')}`,
        measured: String(Math.round(project.readingsPerSec)),
        met: project.readingsPerSec >= readings,
      },
      {
        what: `${label}: group commit vs one write per request`,
        target: `≥ ${ratio}×`,
        measured: `${roundFigure(measuredRatio)}×`,
        met: measuredRatio >= ratio,
      },
    );
  }
  const floor = figures(`floor ${options.connections}`, options.connections);
  rows.push({
    subject: `bare node:http (read, JSON.parse, 202), the same pushes: the core's ceiling at one push per reading`,
    role: 'diagnostic',
    figures: { ...floor, ratioToBaseline: floor.readingsPerSec / figures(`bigquery per-request ${options.connections}`, options.connections).readingsPerSec },
  });
  const bigQueryBaseline = figures(`bigquery per-request ${options.connections}`, options.connections).readingsPerSec;
  for (const connections of options.curve) {
    const curve = figures(`bigquery group-commit ${connections}`, connections);
    rows.push({
      subject: `${SINKS[0]?.label}: group commit, ${connections} pushes`,
      role: 'diagnostic',
      figures: { ...curve, ratioToBaseline: curve.readingsPerSec / bigQueryBaseline },
    });
  }
  writeResult({
    name: 'ingest',
    title: 'Ingest throughput: readings/s into PostgreSQL + a warehouse, one reading per push, server on one core',
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: {
      seconds: options.seconds,
      rounds: options.rounds,
      connections: options.connections,
      curve: options.curve,
      devices: DEVICES,
      readingsPerPush: 1,
      batch: 'ingest defaults: ≤ 1000 rows, ≤ 5 ms wait, 4 batches in flight; PG pool 10',
      ingestRuntime: describeRuntime(manifestRuntime('ingest')),
    },
    rows,
    targets,
    notes: [
      'Readings/s counts the rows in PostgreSQL after the run, over the run time; medians over the rounds, the baseline measured in the same rounds.',
      'The bare node:http row stores nothing: its figure is pushes answered per second with the same load generator, the most one core of this machine can take at one reading per push.',
      'PostgreSQL is not pinned and shares both cores with everything else on the machine; the load generator and the BigQuery stand-in run on core 1.',
      'Ingest runs with the Node flags of knative/base/ingest.yaml (ingestRuntime above), as in its container, in both modes and with both sinks.',
    ],
  });
}

/** One server, fresh stores, one load run; the readings stored per second of load. */
async function runRound(sink: Sink, mode: Mode, connections: number, seconds: number): Promise<Round> {
  const database = await createBenchDatabase('ingest');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  const standIn = sink === 'bigquery' ? await startServer('bench/servers/bigquery-standin.ts', [], {}, 1) : undefined;
  try {
    await database.db.query(`INSERT INTO devices (device_id, site) SELECT 'bench-' || g, 'site-' || (g % 10) FROM generate_series(1, ${DEVICES}) g`);
    const endpoint = standIn ? ((await (await fetch(`${standIn.url}/healthz`)).json()) as { url: string }).url : '';
    const [script, args] = standIn ? ['bench/servers/ingest-bigquery.ts', []] : ['scripts/serve.ts', ['ingest']];
    // As in its container: the manifest's heap flags, which decide how often V8 collects.
    const runtime = manifestRuntime('ingest');
    const env = {
      BIGQUERY_API_ENDPOINT: endpoint,
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      MIGRATE_ON_START: 'false',
      PG_POOL_MAX: '10',
      INGEST_GROUP_COMMIT: mode === 'group-commit' ? 'on' : 'off',
      NODE_OPTIONS: runtime.nodeOptions,
    };
    const server = await startServer(script, args, env, 0, runtime.nodeFlags);
    let load: { ok: number; non2xx: number; p50Ms: number; p99Ms: number };
    let cpuUs: number;
    try {
      const cpuBefore = await cpuTimeUs(server.pid);
      load = await pushLoad(server.url, connections, seconds, `${sink}-${mode}`);
      cpuUs = (await cpuTimeUs(server.pid)) - cpuBefore;
    } finally {
      await server.stop();
    }
    const { rows } = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM readings');
    const stored = rows[0]?.n ?? 0;
    return {
      readingsPerSec: Math.round(stored / seconds),
      cpuUsPerReading: Math.round(cpuUs / Math.max(1, stored)),
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      non2xx: load.non2xx,
    };
  } finally {
    await standIn?.stop();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same pushes against bare node:http on the same core: the ceiling no ingest can pass here. */
async function runFloorRound(connections: number, seconds: number): Promise<Round> {
  const server = await startServer('bench/servers/bare-http.ts', ['bare'], {});
  try {
    const cpuBefore = await cpuTimeUs(server.pid);
    const load = await pushLoad(server.url, connections, seconds, 'floor');
    const cpuUs = (await cpuTimeUs(server.pid)) - cpuBefore;
    return {
      readingsPerSec: Math.round(load.ok / seconds),
      cpuUsPerReading: Math.round(cpuUs / Math.max(1, load.ok)),
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      non2xx: load.non2xx,
    };
  } finally {
    await server.stop();
  }
}

/** User + system CPU time of a process so far, from /proc (clock ticks of 10 ms on Linux). */
async function cpuTimeUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function pushLoad(url: string, connections: number, seconds: number, runId: string): Promise<{ ok: number; non2xx: number; p50Ms: number; p99Ms: number }> {
  const script = join(import.meta.dirname, 'lib', 'push-load.ts');
  const args = ['-c', '1', process.execPath, script, url, String(connections), String(seconds), String(DEVICES), runId];
  return new Promise((resolve, reject) => {
    execFile('taskset', args, { encoding: 'utf8', timeout: (seconds + 60) * 1000 }, (error, stdout) => {
      if (error) return reject(new Error(`push load against ${url} failed: ${error.message}`));
      resolve(JSON.parse(stdout) as { ok: number; non2xx: number; p50Ms: number; p99Ms: number });
    });
  });
}
