/**
 * End to end on the local stack (`npm start` with PostgreSQL and the DuckDB warehouse, pinned
 * to core 0): devices POST one reading each at a fixed rate for a fixed time from a process on
 * core 1; then every accepted reading must be a row in PostgreSQL and in the warehouse. The
 * latency of a reading is `ingested_at` (PostgreSQL's commit-transaction clock) minus the
 * send time stamped into the reading as its `ts` - both this machine's clock. The same load runs
 * for `warmupSeconds` first: the latency targets are about the running stack, and the first
 * second of load on a fresh process is spent warming up (V8's compilers, connection pools,
 * caches: a reading took 200–600 ms then on the Intel Xeon machine, 8–10 ms after); the
 * warm-up's own latency is reported beside it.
 *
 *   npm run bench -- end-to-end [--quick]
 * @see ../docs/architecture.md
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQueryScript, stackEnv, startStackProcess } from '../test/support/stack-process.ts';
import { waitFor } from '../test/support/net.ts';
import { createBenchDatabase } from './lib/database.ts';
import { describeMachine, writeResult } from './lib/report.ts';

export interface EndToEndOptions {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  devices: number;
}

interface PacedSummary {
  sent: number;
  accepted: number;
  failed: number;
  httpP50Ms: number;
  httpP99Ms: number;
}

/** Runs the benchmark and writes bench/results/end-to-end.json and .md. */
export async function runEndToEndBench(options: EndToEndOptions): Promise<void> {
  const database = await createBenchDatabase('e2e');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  const stack = await startStackProcess(await stackEnv(dataDir, { DATABASE_URL: database.url, LOG_LEVEL: 'error' }));
  try {
    execFileSync('taskset', ['-pc', '0', String(stack.child.pid)], { stdio: 'ignore' });
    const tokens = await registerDevices(stack.state.urls.registry, stack.state.adminToken, options.devices);
    const warmup = await runPacedClient(stack.state.urls.bridge, { ...options, seconds: options.warmupSeconds }, tokens);
    // Readings carry their send time: those sent from here on are the measured ones.
    const measuredFrom = new Date();
    const paced = await runPacedClient(stack.state.urls.bridge, options, tokens);
    const accepted = warmup.accepted + paced.accepted;
    // Everything accepted must arrive; give the pipeline a bounded time to drain.
    const counted = async () => Number((await database.db.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n ?? 0);
    await waitFor(async () => (await counted()) >= accepted, { timeoutMs: 60_000, intervalMs: 250, what: 'every accepted reading in PostgreSQL' }).catch(
      () => undefined,
    );
    const stored = await counted();
    const { rows } = await database.db.query<{ warmup: boolean; p50: number; p90: number; p99: number; max: number }>(
      `SELECT warmup, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
         FROM (SELECT event_ts < $1 AS warmup, extract(epoch FROM ingested_at - event_ts) * 1000 AS ms FROM readings) t
        GROUP BY warmup`,
      [measuredFrom.toISOString()],
    );
    const none = { p50: NaN, p90: NaN, p99: NaN, max: NaN };
    const latency = rows.find((r) => !r.warmup) ?? none;
    const warmupLatency = rows.find((r) => r.warmup) ?? none;
    const inWarehouse = await countWarehouse(dataDir);
    const lostPg = accepted - stored;
    const lostWarehouse = accepted - inWarehouse;
    writeResult({
      name: 'end-to-end',
      title: `End to end: device POST → row in PostgreSQL and the warehouse, ${options.rate} readings/s for ${options.seconds} s`,
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: {
        ...options,
        stack: 'npm start (scripts/start.ts): in-process Pub/Sub, PostgreSQL 15, DuckDB; pinned to core 0',
        client: 'bench/lib/paced-client.ts on core 1',
      },
      rows: [
        {
          subject: 'npm start stack',
          role: 'project',
          figures: {
            readingsPerSec: paced.accepted / options.seconds,
            p50Ms: Number(latency.p50),
            p90Ms: Number(latency.p90),
            p99Ms: Number(latency.p99),
            maxMs: Number(latency.max),
            lost: Math.max(lostPg, lostWarehouse),
            non2xx: paced.failed,
          },
        },
        {
          subject: `the same stack's first ${options.warmupSeconds} s of load (warm-up, not in the targets)`,
          role: 'diagnostic',
          figures: {
            readingsPerSec: warmup.accepted / options.warmupSeconds,
            p50Ms: Number(warmupLatency.p50),
            p90Ms: Number(warmupLatency.p90),
            p99Ms: Number(warmupLatency.p99),
            maxMs: Number(warmupLatency.max),
            non2xx: warmup.failed,
          },
        },
      ],
      targets: [
        { what: 'POST → PostgreSQL row, p50', target: '≤ 50 ms', measured: `${Number(latency.p50).toFixed(1)} ms`, met: Number(latency.p50) <= 50 },
        { what: 'POST → PostgreSQL row, p99', target: '≤ 250 ms', measured: `${Number(latency.p99).toFixed(1)} ms`, met: Number(latency.p99) <= 250 },
        {
          what: 'accepted readings missing (PostgreSQL / warehouse)',
          target: '0 / 0',
          measured: `${lostPg} / ${lostWarehouse}`,
          met: lostPg === 0 && lostWarehouse === 0 && paced.failed === 0 && warmup.failed === 0,
        },
      ],
      notes: [
        `${paced.sent} POSTs sent, ${paced.accepted} accepted (202), ${paced.failed} refused or failed; bridge answer p50 ${paced.httpP50Ms.toFixed(1)} ms, p99 ${paced.httpP99Ms.toFixed(1)} ms.`,
        `Warm-up before them: ${warmup.sent} POSTs, ${warmup.accepted} accepted, the same rate; missing readings count both.`,
        '`ingested_at` is the time the writing transaction started (PostgreSQL `now()`), so the figures leave out the few ms of the commit itself.',
      ],
    });
  } finally {
    stack.child.kill('SIGTERM');
    await stack.exited;
    await database.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function registerDevices(registryUrl: string, adminToken: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 1; i <= count; i++) {
    const deviceId = `e2e-${i}`;
    const res = await fetch(`${registryUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId, site: 'bench', credentials: [{ type: 'token' }] }),
    });
    const body = (await res.json()) as { credentials?: { token?: string }[] };
    const token = body.credentials?.[0]?.token;
    if (res.status !== 201 || !token) throw new Error(`registering ${deviceId}: ${res.status} ${JSON.stringify(body)}`);
    tokens.push(`${deviceId}:${token}`);
  }
  return tokens;
}

function runPacedClient(bridgeUrl: string, options: EndToEndOptions, devices: string[]): Promise<PacedSummary> {
  const args = [
    '-c',
    '1',
    process.execPath,
    join(import.meta.dirname, 'lib', 'paced-client.ts'),
    bridgeUrl,
    String(options.rate),
    String(options.seconds),
    ...devices,
  ];
  return new Promise((resolve, reject) => {
    execFile('taskset', args, { encoding: 'utf8' }, (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as PacedSummary)));
  });
}

async function countWarehouse(dataDir: string): Promise<number> {
  const rows = await runQueryScript(dataDir, 'SELECT count(DISTINCT reading_id) AS n FROM measurements');
  return Number(rows[0]?.n ?? 0);
}
