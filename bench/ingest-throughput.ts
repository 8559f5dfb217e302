/**
 * Ingest throughput: readings/s into PostgreSQL + DuckDB through concurrent Pub/Sub pushes
 * (one reading per push), with group commit against the same load with one write per request,
 * measured in the same run. Server on core 0, load generator (autocannon) on core 1.
 *
 *   node bench/ingest-throughput.ts [--connections 100] [--seconds 10] [--rounds 2]
 *     [--modes per-request,group-commit] [--out bench/results/ingest-throughput.json]
 *     [--warehouse duckdb|bigquery]
 * (`npm run bench -- ingest` runs it through bench/run.ts, with a curve over connections.)
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../shared/config.ts';
import { migrate } from '../shared/db/migrate.ts';
import { openPostgres } from '../shared/db/postgres.ts';
import { median, pinSelf, startServer } from './lib/processes.ts';

const { values: opts } = parseArgs({
  options: {
    connections: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    devices: { type: 'string', default: '100' },
    modes: { type: 'string', default: 'per-request,group-commit' },
    out: { type: 'string', default: 'bench/results/ingest-throughput.json' },
    // bigquery: the deployed warehouse, the BigQuery sink writing to the stand-in on core 1.
    warehouse: { type: 'string', default: 'duckdb' },
  },
});
const CONNECTIONS = Number(opts.connections);
const SECONDS = Number(opts.seconds);
const ROUNDS = Number(opts.rounds);
const DEVICES = Number(opts.devices);
const MODES = opts.modes.split(',').filter((m): m is 'per-request' | 'group-commit' => m === 'per-request' || m === 'group-commit');
const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function freshDatabase(): Promise<string> {
  const name = `bench_ingest_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
  await admin.end();
}

async function countRows(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM readings');
  await client.end();
  return Number(rows[0]?.n);
}

async function seedDevices(url: string): Promise<void> {
  const db = await openPostgres(loadConfig({ DATABASE_URL: url }));
  await migrate(db);
  await db.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`INSERT INTO devices (device_id, site) SELECT 'bench-' || g, 'site-' || (g % 10) FROM generate_series(1, ${DEVICES}) g ON CONFLICT DO NOTHING`);
  await client.end();
}

interface RoundResult {
  mode: string;
  requestsPerSec: number;
  readingsPerSec: number;
  stored: number;
  non2xx: number;
  p50: number;
  p99: number;
}

async function runRound(mode: 'group-commit' | 'per-request'): Promise<RoundResult> {
  const databaseUrl = await freshDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  await seedDevices(databaseUrl);
  const standIn = opts.warehouse === 'bigquery' ? await startServer('bench/servers/bigquery-standin.ts', [], {}, 1) : undefined;
  const endpoint = standIn ? ((await (await fetch(`${standIn.url}/healthz`)).json()) as { url: string }).url : '';
  const [script, args] = standIn ? ['bench/servers/ingest-bigquery.ts', []] : ['scripts/serve.ts', ['ingest']];
  const server = await startServer(script, args, {
    BIGQUERY_API_ENDPOINT: endpoint,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PG_POOL_MAX: '10',
    INGEST_GROUP_COMMIT: mode === 'group-commit' ? 'on' : 'off',
  });
  let n = 0;
  const started = Date.now();
  const result = await autocannon({
    url: server.url,
    connections: CONNECTIONS,
    duration: SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [{
      setupRequest: (req) => {
        n += 1;
        const data = { ts: new Date(started + n).toISOString(), seq: n, metrics: { temp: 20 + (n % 50) / 10, humidity: 40 + (n % 30), ok: true } };
        const body = JSON.stringify({
          message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), attributes: { deviceId: `bench-${(n % DEVICES) + 1}` }, messageId: `m-${mode}-${n}`, publishTime: new Date().toISOString() },
          subscription: 'projects/bench/subscriptions/ingest',
        });
        return { ...req, body };
      },
    }],
  });
  const stored = await countRows(databaseUrl);
  await server.stop();
  await standIn?.stop();
  await dropDatabase(databaseUrl);
  rmSync(dataDir, { recursive: true, force: true });
  const ok = result['2xx'];
  return {
    mode,
    requestsPerSec: Math.round(ok / SECONDS),
    readingsPerSec: Math.round(stored / SECONDS),
    stored,
    non2xx: result.non2xx,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

pinSelf(1);
const rounds: RoundResult[] = [];
for (let i = 0; i < ROUNDS; i++) {
  for (const mode of MODES) {
    const r = await runRound(mode);
    rounds.push(r);
    console.log(`round ${i + 1} ${mode.padEnd(12)} ${r.readingsPerSec} readings/s  p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}`);
  }
}
const summary = (mode: string) => {
  const of = rounds.filter((r) => r.mode === mode);
  return { mode, readingsPerSec: median(of.map((r) => r.readingsPerSec)), p50: median(of.map((r) => r.p50)), p99: median(of.map((r) => r.p99)) };
};
const batched = summary('group-commit');
const baseline = summary('per-request');
const ratio = baseline.readingsPerSec ? Math.round((batched.readingsPerSec / baseline.readingsPerSec) * 10) / 10 : null;
const report = {
  benchmark: 'ingest-throughput',
  at: new Date().toISOString(),
  setup: { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, devices: DEVICES, readingsPerPush: 1, stores: opts.warehouse === 'bigquery' ? 'PostgreSQL 15 + BigQuery sink (stand-in)' : 'PostgreSQL 15 + DuckDB', serverCores: 1 },
  project: batched,
  baseline,
  ratio,
  rounds,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(opts.out, JSON.stringify(report, null, 2) + '\n');
console.log(`\n| ingest | readings/s (median) | p50 ms | p99 ms |\n|---|---|---|---|`);
console.log(`| group commit | ${batched.readingsPerSec} | ${batched.p50} | ${batched.p99} |`);
console.log(`| one write per request | ${baseline.readingsPerSec} | ${baseline.p50} | ${baseline.p99} |`);
console.log(`\nratio: ${ratio}×`);
