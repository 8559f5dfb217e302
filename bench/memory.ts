/**
 * Memory: idle RSS of each bundle (dist/<name>/index.mjs, started with the Node flags its
 * Knative manifest sets) two seconds after its first /healthz 200, against a bare node:http
 * server started the same way, in interleaved rounds; then the peak RSS under sustained load,
 * with the same flags, against the manifest's memory limit, of the bridge bundle
 * (50 connections, publishing over its own gRPC call to the official emulator, as in its
 * container) and of ingest (400 concurrent pushes, its containerConcurrency, one reading each,
 * into PostgreSQL and the BigQuery sink writing to the stand-in).
 *
 *   npm run bench -- memory [--quick]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { createDevice } from '../test/support/devices.ts';
import { freePort, waitFor } from '../test/support/net.ts';
import { startPubsubEmulator } from '../test/support/pubsub-emulator.ts';
import { createBenchDatabase } from './lib/database.ts';
import { readRssMb, runLoad, sampleRss } from './lib/load.ts';
import { describeRuntime, manifestRuntime, type ManifestRuntime } from './lib/manifest.ts';
import { startServer, type ServerProcess } from './lib/processes.ts';
import { describeMachine, median, writeResult, type ResultRow, type TargetCheck } from './lib/report.ts';
import { runScript } from './lib/scripts.ts';

const ROOT = join(import.meta.dirname, '..');
/** Issue 16: a bundle may cost at most this much idle RSS over the bare server. */
const IDLE_OVER_BARE_MB = 10;
const NO_FLAGS: ManifestRuntime = { nodeOptions: '', nodeFlags: [], limitMb: Infinity };
/** How long a started process idles before its RSS is read: start-up garbage settles. */
const SETTLE_MS = 2_000;

export interface MemoryOptions {
  rounds: number;
  /** Seconds of load for the bridge's peak RSS. */
  loadSeconds: number;
}

interface Subject {
  name: string;
  role: 'project' | 'baseline';
  cwd: string;
  script: string;
  runtime: ManifestRuntime;
}

/** Runs the benchmark and writes bench/results/memory.json and .md. */
export async function runMemoryBench(options: MemoryOptions): Promise<void> {
  // A clean clone has no bundles yet; the deployed form is what is measured.
  if (!FUNCTION_NAMES.some((name) => existsSync(join(ROOT, 'dist', name, 'index.mjs')))) await runScript('scripts/build.ts', []);
  const subjects: Subject[] = [{ name: 'bare node:http', role: 'baseline', cwd: ROOT, script: join(ROOT, 'bench/fixtures/bare-http.mjs'), runtime: NO_FLAGS }];
  for (const name of FUNCTION_NAMES) {
    const dir = join(ROOT, 'dist', name);
    if (existsSync(join(dir, 'index.mjs')))
      subjects.push({ name: `${name} bundle`, role: 'project', cwd: dir, script: 'index.mjs', runtime: manifestRuntime(name) });
  }
  if (subjects.length === 1) throw new Error('no bundles in dist/ after `npm run build`');
  const samples = new Map<Subject, number[]>(subjects.map((s) => [s, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const s of subjects) samples.get(s)?.push(await idleRss(s));
  }
  const rows: ResultRow[] = subjects.map((s) => ({ subject: s.name, role: s.role, figures: { idleRssMb: median(samples.get(s) ?? []) } }));
  const bareIdle = rows[0]?.figures.idleRssMb ?? NaN;
  const targets: TargetCheck[] = rows
    .filter((r) => r.role === 'project')
    .map((r) => {
      const idle = r.figures.idleRssMb ?? NaN;
      return {
        what: `${r.subject} idle RSS`,
        target: `≤ bare + ${IDLE_OVER_BARE_MB} MB`,
        measured: `+${(idle - bareIdle).toFixed(1)} MB (${idle.toFixed(1)}, bare ${bareIdle.toFixed(1)})`,
        met: idle - bareIdle <= IDLE_OVER_BARE_MB,
      };
    });

  for (const [name, measure] of [
    ['bridge', bridgePeakRss],
    ['ingest', ingestPeakRss],
  ] as const) {
    const manifest = manifestRuntime(name);
    const peak = await measure(manifest, options.loadSeconds);
    rows.push({
      subject: `${name} under load (${describeRuntime(manifest)})`,
      role: 'project',
      figures: { loadRssMb: peak.rssMb, reqPerSec: peak.reqPerSec },
    });
    targets.push({
      what: `${name} peak RSS under load`,
      target: `≤ ${manifest.limitMb} MB (Knative limit)`,
      measured: `${peak.rssMb.toFixed(1)} MB`,
      met: peak.rssMb <= manifest.limitMb,
    });
  }

  writeResult({
    name: 'memory',
    title: "Memory: idle RSS per bundle, peak RSS under load, with the manifests' Node flags",
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: {
      rounds: options.rounds,
      settleMs: SETTLE_MS,
      bundles: 'dist/<name>/index.mjs (npm run build)',
      loadSeconds: options.loadSeconds,
      load: 'bridge: autocannon, 50 connections, token auth; ingest: 400 concurrent pushes, one reading each',
    },
    rows,
    targets,
    notes: [
      'RSS is read from /proc/<pid>/status (VmRSS) on Node ' + process.version + '; the bare server is the floor any Node.js function starts from.',
      'Each bundle runs with the Node flags of its knative/base manifest (NODE_OPTIONS, and the flags its container args put before index.mjs). Under load they run with the same flags: the bridge bundle publishing over its own gRPC call (PUBSUB_PUBLISHER=grpc, the default) to the official emulator (on core 1), as in its container; ingest from source with the BigQuery sink (bench/servers/ingest-bigquery.ts); the peak of 4 samples a second is compared with the memory limit.',
    ],
  });
}

async function idleRss(subject: Subject): Promise<number> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '0', process.execPath, ...subject.runtime.nodeFlags, subject.script], {
    cwd: subject.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      NODE_OPTIONS: subject.runtime.nodeOptions,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      GOOGLE_CLOUD_PROJECT: 'local-project',
      BIGQUERY_DATASET: 'telemetry',
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'error',
      ADMIN_TOKEN: 'bench',
    },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { timeoutMs: 15_000, intervalMs: 20, what: `${subject.name} /healthz` });
    await sleep(SETTLE_MS);
    return await readRssMb(child.pid as number);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The bridge bundle on core 0 with its manifest's Node flags, publishing over its own gRPC call (as
 * in its container) to the official emulator on core 1, under 50 connections for `seconds`:
 * its peak RSS.
 */
async function bridgePeakRss(runtime: ManifestRuntime, seconds: number): Promise<{ rssMb: number; reqPerSec: number }> {
  const database = await createBenchDatabase('memory');
  const emulator = await startPubsubEmulator({ cpu: 1 });
  const servers: ServerProcess[] = [];
  try {
    const project = 'bench-project';
    await emulator.createTopic(project, 'telemetry');
    const device = await createDevice(database.db, { deviceId: 'memory-device-1', token: true });
    const bridge = await startServer(
      join(ROOT, 'dist', 'bridge', 'index.mjs'),
      [],
      {
        NODE_OPTIONS: runtime.nodeOptions,
        DATABASE_URL: database.url,
        MIGRATE_ON_START: 'false',
        GOOGLE_CLOUD_PROJECT: project,
        TELEMETRY_TOPIC: 'telemetry',
        PUBSUB_EMULATOR_HOST: emulator.host,
      },
      0,
      runtime.nodeFlags,
    );
    servers.push(bridge);
    const rss = sampleRss(bridge.pid);
    const load = await runLoad({
      url: `${bridge.url}/v1/devices/${device.deviceId}/telemetry`,
      connections: 50,
      seconds,
      body: JSON.stringify({ metrics: { temperature: 21.5, humidity: 40 } }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token as string}` },
    });
    if (load.non2xx > 0 || load.errors > 0) throw new Error(`the bridge answered ${load.non2xx} non-2xx and ${load.errors} errors under load`);
    return { rssMb: rss.stop(), reqPerSec: load.reqPerSec };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    emulator.stop();
    await database.drop().catch(() => undefined);
  }
}

/** Ingest on core 0 with its manifest's Node flags and the deployed stores, under 400 concurrent pushes for `seconds`: its peak RSS. */
async function ingestPeakRss(runtime: ManifestRuntime, seconds: number): Promise<{ rssMb: number; reqPerSec: number }> {
  const database = await createBenchDatabase('memory');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  const servers: ServerProcess[] = [];
  try {
    const devices = 20;
    for (let i = 1; i <= devices; i++) await createDevice(database.db, { deviceId: `memory-${i}` });
    const standIn = await startServer('bench/servers/bigquery-standin.ts', [], {}, 1);
    servers.push(standIn);
    const endpoint = ((await (await fetch(`${standIn.url}/healthz`)).json()) as { url: string }).url;
    const ingest = await startServer(
      'bench/servers/ingest-bigquery.ts',
      [],
      {
        NODE_OPTIONS: runtime.nodeOptions,
        BIGQUERY_API_ENDPOINT: endpoint,
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        MIGRATE_ON_START: 'false',
        GOOGLE_CLOUD_PROJECT: 'bench-project',
      },
      0,
      runtime.nodeFlags,
    );
    servers.push(ingest);
    const rss = sampleRss(ingest.pid);
    let n = 0;
    const started = Date.now();
    // Every push a new reading, as Pub/Sub delivers them: no redelivery to dedupe.
    const result = await autocannon({
      url: `${ingest.url}/`,
      connections: 400,
      duration: seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req) => {
            n += 1;
            const reading = { ts: new Date(started + n).toISOString(), seq: n, metrics: { temperature: 20 + (n % 50) / 10, humidity: 40 + (n % 30) } };
            const message = {
              data: Buffer.from(JSON.stringify(reading)).toString('base64'),
              attributes: { deviceId: `memory-${(n % devices) + 1}` },
              messageId: `memory-${n}`,
              message_id: `memory-${n}`,
              publishTime: new Date().toISOString(),
              publish_time: new Date().toISOString(),
            };
            return { ...req, body: JSON.stringify({ message, subscription: 'projects/bench-project/subscriptions/ingest' }) };
          },
        },
      ],
    });
    return { rssMb: rss.stop(), reqPerSec: result['2xx'] / seconds };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await database.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
