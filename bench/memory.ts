/**
 * Memory: idle RSS of each bundle (dist/<name>/index.mjs, started with the Node flags its
 * Knative manifest sets) two seconds after its first /healthz 200, against a bare node:http
 * server started the same way, in interleaved rounds; then the peak RSS of every function under
 * sustained load, with the same flags and pool, against the manifest's memory limit, each at its
 * Service's containerConcurrency with the heaviest requests it takes: the bridge publishing over
 * its own gRPC call to the official emulator, as in its container, at 50 connections of one
 * reading and at 200 of the largest telemetry bodies (256 KiB of small metrics); ingest with pushes of one reading, and with the largest message the bridge publishes (~23,000
 * warehouse rows), into PostgreSQL and the BigQuery sink writing to the stand-in; the registry
 * with operators creating batches of up to 10,000 RS256 devices beside lists and reads;
 * deadletter with the largest messages dead-lettered; readings with the largest pages, series
 * and fleet pages. Every answer is counted by status; a function that dies under load is
 * reported as crashed, its target not met, never hidden.
 *
 *   npm run bench -- memory [--quick]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTelemetryMessage } from '../functions/bridge/message.ts';
import type { DeviceAuth } from '../functions/bridge/credentials-cache.ts';
import { FUNCTION_NAMES, type FunctionName } from '../functions/index.ts';
import { MAX_METRICS_PER_READING, type Reading } from '../schemas/reading.ts';
import { parseTelemetry } from '../shared/telemetry.ts';
import { createDevice, generateTestKeyPair, type TestDevice } from '../test/support/devices.ts';
import { largestTelemetryBody } from '../test/support/manifest-process.ts';
import { freePort, waitFor } from '../test/support/net.ts';
import { startPubsubEmulator } from '../test/support/pubsub-emulator.ts';
import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopRequest } from './lib/closed-loop.ts';
import { createBenchDatabase } from './lib/database.ts';
import { readRssMb, runLoad, sampleRss } from './lib/load.ts';
import { describeRuntime, manifestRuntime, manifestServing, type ManifestRuntime } from './lib/manifest.ts';
import { startServer, type ExitStatus, type ServerProcess } from './lib/processes.ts';
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

  for (const load of LOADS) {
    const manifest = manifestRuntime(load.fn);
    const peak = await load.measure(manifest, options.loadSeconds);
    console.log(`${load.fn} under load (${load.label}): ${describePeak(peak)}`);
    rows.push({
      subject: `${load.fn} under load, ${load.label} (${describeRuntime(manifest)})`,
      role: 'project',
      figures: { loadRssMb: peak.rssMb, reqPerSec: peak.reqPerSec, non2xx: peak.non2xx, errors: peak.errors, crashed: peak.crashed ? 1 : 0 },
    });
    targets.push({
      what: `${load.fn} peak RSS under load, ${load.label}`,
      target: `≤ ${manifest.limitMb} MB (Knative limit), alive`,
      measured: describePeak(peak),
      met: peak.crashed === undefined && peak.rssMb <= manifest.limitMb,
    });
  }

  const largest = largestMessage();
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
      load: {
        bridge: 'autocannon, 50 connections, token auth, one reading a request',
        ingest: `400 concurrent pushes (containerConcurrency), every push a new messageId: one reading each; then the largest message the bridge publishes for a 256 KiB device body (${largest.readings} readings of ${MAX_METRICS_PER_READING} metrics, ${(largest.readings * MAX_METRICS_PER_READING).toLocaleString('en')} warehouse rows, ${largest.kib} KiB of data)`,
        registry: `80 connections (containerConcurrency): 1 posting batchCreate of ${LARGEST_BATCH.toLocaleString('en')} RS256 devices, ${BATCH_CONNECTIONS - 1} of ${BATCH.toLocaleString('en')}, new ids every batch; 36 GET /v1/devices?pageSize=1000, 36 GET /v1/devices/{id}, over 1,000 RS256 devices to start with`,
        deadletter: `50 concurrent pushes (containerConcurrency), every push a new messageId with the CloudPubSubDeadLetterSource* attributes and the largest telemetry data (${largest.kib} KiB)`,
        readings: `80 connections (containerConcurrency), a third each: readings pageSize=1000 (desc), series interval=1m over 1,000 buckets with avg,min,max,count,last, fleet pageSize=1000; over ${READ_DEVICES} devices of ${READINGS_PER_DEVICE.toLocaleString('en')} readings and ${FLEET_DEVICES.toLocaleString('en')} device states, each of ${MAX_METRICS_PER_READING} metrics`,
      },
    },
    rows,
    targets,
    notes: [
      'RSS is read from /proc/<pid>/status (VmRSS) on Node ' + process.version + '; the bare server is the floor any Node.js function starts from.',
      'Each bundle runs with the Node flags of its knative/base manifest (NODE_OPTIONS, and the flags its container args put before index.mjs). Under load they run with the same flags and PG_POOL_MAX: the bundles of the bridge (publishing over its own gRPC call, PUBSUB_PUBLISHER=grpc, the default, to the official emulator on core 1, as in its container), the registry, deadletter and readings; ingest from source with the BigQuery sink writing to the stand-in (bench/servers/ingest-bigquery.ts: the bundle cannot be pointed at the stand-in); the peak of 4 samples a second is compared with the memory limit.',
      "Every load but the bridge's is a closed loop at the Service's containerConcurrency whose every answer is counted by status (bench/lib/closed-loop.ts); requests still in flight when the time is up are waited for, within the manifest's timeoutSeconds. non-2xx (a 429 or 503 from a function shedding load among them) and errors (no answer) are figures, not failures of the run. A function that dies under the load is reported as crashed (`crashed` 1, the signal or exit code in the target) with the peak seen before it died: its target is not met.",
      'Push authentication is off (not production mode): the pushes carry no OIDC token, and checking one costs the same whatever the message.',
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

/** What one load did to a function: its peak RSS, how it answered, and whether it lived. */
interface LoadPeak {
  rssMb: number;
  /** 2xx answers a second. */
  reqPerSec: number;
  non2xx: number;
  /** Requests without an answer (refused or cut connections, timeouts). */
  errors: number;
  /** How the process ended, when it died under the load. */
  crashed?: ExitStatus;
  /** Answers by status and what the errors were, for the target's line. */
  answers: string;
}

interface Load {
  fn: FunctionName;
  /** The load in a few words, for the row and the target. */
  label: string;
  measure(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak>;
}

/** The loads under which each function's peak RSS is read; each is its containerConcurrency but the bridge's. */
const LOADS: Load[] = [
  { fn: 'bridge', label: '50 connections, one reading each', measure: bridgePeakRss },
  { fn: 'bridge', label: '200 connections, the largest telemetry body (256 KiB of small metrics)', measure: bridgeLargestBodiesPeakRss },
  { fn: 'ingest', label: '400 pushes of one reading', measure: (runtime, seconds) => ingestPeakRss(runtime, seconds, oneReadingData) },
  { fn: 'ingest', label: `400 pushes of the largest telemetry message`, measure: (runtime, seconds) => ingestPeakRss(runtime, seconds, largestTelemetryData) },
  { fn: 'registry', label: '80 operators: batchCreate of RS256 devices (10,000 and 1,000) beside lists and gets', measure: registryPeakRss },
  { fn: 'deadletter', label: '50 pushes of the largest dead-lettered message', measure: deadletterPeakRss },
  { fn: 'readings', label: '80 readers: pages of 1,000, series of 1,000 buckets, fleet pages of 1,000', measure: readingsPeakRss },
];

function describePeak(peak: LoadPeak): string {
  const rss = `${peak.rssMb.toFixed(1)} MB`;
  const died = peak.crashed ? `**crashed** (${peak.crashed.signal ?? `exit ${String(peak.crashed.code)}`}) after a peak of ${rss}` : rss;
  return `${died}; ${peak.answers}`;
}

/**
 * Starts a function's bundle (dist/<name>/index.mjs) on core 0 as its container runs it: the
 * manifest's Node flags and pool size, with `env`.
 */
function startBundle(fn: FunctionName, runtime: ManifestRuntime, env: Record<string, string>): Promise<ServerProcess> {
  return startDeployed(join(ROOT, 'dist', fn, 'index.mjs'), fn, runtime, env);
}

function startDeployed(script: string, fn: FunctionName, runtime: ManifestRuntime, env: Record<string, string>): Promise<ServerProcess> {
  const pool = String(manifestServing(fn).poolMax);
  return startServer(script, [], { NODE_OPTIONS: runtime.nodeOptions, MIGRATE_ON_START: 'false', PG_POOL_MAX: pool, ...env }, 0, runtime.nodeFlags);
}

/**
 * Runs a closed-loop load of `fn`'s containerConcurrency against `server` for `seconds`, each
 * request given the manifest's timeoutSeconds, while sampling its RSS. A server that dies ends
 * the load at once: its death is the result, not a failure of the benchmark.
 */
async function peakUnderLoad(
  server: ServerProcess,
  fn: FunctionName,
  seconds: number,
  next: ClosedLoopOptions['next'],
  connections = manifestServing(fn).containerConcurrency,
): Promise<LoadPeak> {
  const rss = sampleRss(server.pid);
  const died = new AbortController();
  const seen: { crashed?: ExitStatus } = {};
  void server.exit.then((status) => {
    seen.crashed = status;
    died.abort();
  });
  const load = await runClosedLoop({ url: server.url, connections, seconds, next, timeoutMs: manifestServing(fn).timeoutSeconds * 1000, signal: died.signal });
  // A last sample: the answers just sent may have been the heaviest moment.
  await sleep(300);
  const rssMb = rss.stop();
  const statuses = Object.entries(load.statuses)
    .map(([status, count]) => `${status} ×${count}`)
    .join(', ');
  const errors = load.errors ? `, ${load.errors} errors (${load.errorMessages.join('; ')})` : '';
  return {
    rssMb,
    reqPerSec: load.reqPerSec,
    non2xx: load.non2xx,
    errors: load.errors,
    ...(seen.crashed ? { crashed: seen.crashed } : {}),
    answers: `${load.sent} requests in ${load.elapsedSeconds.toFixed(1)} s: ${statuses || 'no answers'}${errors}`,
  };
}

/**
 * The bridge bundle on core 0 with its manifest's Node flags, publishing over its own gRPC call (as
 * in its container) to the official emulator on core 1, under 50 connections for `seconds`:
 * its peak RSS.
 */
async function bridgePeakRss(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  const emulator = await startPubsubEmulator({ cpu: 1 });
  const servers: ServerProcess[] = [];
  try {
    const project = 'bench-project';
    await emulator.createTopic(project, 'telemetry');
    const device = await createDevice(database.db, { deviceId: 'memory-device-1', token: true });
    const bridge = await startBundle('bridge', runtime, {
      DATABASE_URL: database.url,
      GOOGLE_CLOUD_PROJECT: project,
      TELEMETRY_TOPIC: 'telemetry',
      PUBSUB_EMULATOR_HOST: emulator.host,
    });
    servers.push(bridge);
    const rss = sampleRss(bridge.pid);
    const seen: { crashed?: ExitStatus } = {};
    void bridge.exit.then((status) => (seen.crashed = status));
    const load = await runLoad({
      url: `${bridge.url}/v1/devices/${device.deviceId}/telemetry`,
      connections: 50,
      seconds,
      body: JSON.stringify({ metrics: { temperature: 21.5, humidity: 40 } }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token as string}` },
    });
    return {
      rssMb: rss.stop(),
      reqPerSec: load.reqPerSec,
      non2xx: load.non2xx,
      errors: load.errors,
      ...(seen.crashed ? { crashed: seen.crashed } : {}),
      answers: `${load.non2xx} non-2xx, ${load.errors} errors`,
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    emulator.stop();
    await database.drop().catch(() => undefined);
  }
}

/**
 * The bridge bundle as above, at its containerConcurrency (200) of the largest telemetry bodies
 * devices may send: 83 readings of 256 small metrics, 259 KB, from 50 devices (a device's rate
 * is not what is measured): its peak RSS. Before its body budget, this ran it out of heap.
 */
async function bridgeLargestBodiesPeakRss(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  const emulator = await startPubsubEmulator({ cpu: 1 });
  let bridge: ServerProcess | undefined;
  try {
    const project = 'bench-project';
    await emulator.createTopic(project, 'telemetry');
    const devices: TestDevice[] = [];
    for (let i = 0; i < 50; i++) devices.push(await createDevice(database.db, { deviceId: `memory-bulky-${i}`, token: true }));
    bridge = await startBundle('bridge', runtime, {
      DATABASE_URL: database.url,
      GOOGLE_CLOUD_PROJECT: project,
      TELEMETRY_TOPIC: 'telemetry',
      PUBSUB_EMULATOR_HOST: emulator.host,
    });
    const body = largestTelemetryBody();
    return await peakUnderLoad(bridge, 'bridge', seconds, (n) => {
      const device = devices[n % devices.length] as TestDevice;
      return {
        method: 'POST',
        path: `/v1/devices/${device.deviceId}/telemetry`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token as string}` },
        body,
      };
    });
  } finally {
    await bridge?.stop();
    emulator.stop();
    await database.drop().catch(() => undefined);
  }
}

/** The data of a push: the message data for the `n`th push, `ts` that push's receive time. */
type MessageData = (n: number, ts: string) => string;

const INGEST_DEVICES = 20;

/**
 * Ingest on core 0 with its manifest's Node flags and the deployed stores, under its
 * containerConcurrency of pushes for `seconds`, every push a new message (a new messageId)
 * carrying `data`: its peak RSS. From source: the bundle builds its BigQuery client from the
 * environment, which can name neither the stand-in's endpoint nor its fixed token;
 * bench/servers/ingest-bigquery.ts injects both into the same function.
 */
async function ingestPeakRss(runtime: ManifestRuntime, seconds: number, data: MessageData): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  const servers: ServerProcess[] = [];
  try {
    for (let i = 1; i <= INGEST_DEVICES; i++) await createDevice(database.db, { deviceId: `memory-${i}` });
    const standIn = await startServer('bench/servers/bigquery-standin.ts', [], {}, 1);
    servers.push(standIn);
    const endpoint = ((await (await fetch(`${standIn.url}/healthz`)).json()) as { url: string }).url;
    const ingest = await startDeployed('bench/servers/ingest-bigquery.ts', 'ingest', runtime, {
      BIGQUERY_API_ENDPOINT: endpoint,
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      GOOGLE_CLOUD_PROJECT: 'bench-project',
    });
    servers.push(ingest);
    const started = Date.now();
    // Every push a new message of new readings, as Pub/Sub delivers them: no redelivery to dedupe.
    return await peakUnderLoad(ingest, 'ingest', seconds, (n) => {
      const deviceId = `memory-${(n % INGEST_DEVICES) + 1}`;
      const ts = new Date(started + n).toISOString();
      return pushRequest(data(n, ts), { deviceId, registry: 'default', schemaVersion: '1', receivedAt: ts }, `memory-${n}`, 'ingest');
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await database.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A wrapped Pub/Sub push of one message, every field in both spellings, as Pub/Sub sends them. */
function pushRequest(data: string, attributes: Record<string, string>, messageId: string, subscription: string): ClosedLoopRequest {
  const publishTime = new Date().toISOString();
  const message = {
    data: Buffer.from(data).toString('base64'),
    attributes,
    messageId,
    message_id: messageId,
    publishTime,
    publish_time: publishTime,
  };
  return {
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, subscription: `projects/bench-project/subscriptions/${subscription}` }),
  };
}

function oneReadingData(n: number, ts: string): string {
  return JSON.stringify({ ts, seq: n, metrics: { temperature: 20 + (n % 50) / 10, humidity: 40 + (n % 30) } });
}

/** The bridge refuses a device body over this (413). */
const DEVICE_BODY_BYTES = 256 * 1024;
/** A receive time the largest message is built with, replaced by each push's own (same length). */
const TEMPLATE_TS = '2000-01-01T00:00:00.000Z';
let largest: { data: string; readings: number; kib: number } | undefined;

/**
 * The largest message the bridge publishes for telemetry: the data it builds (functions/bridge/
 * message.ts) from a device body of at most 256 KiB holding as many readings as fit, each of
 * MAX_METRICS_PER_READING short numeric metrics and no `ts` (the bridge stamps the receive time
 * on each), which gives the most warehouse rows a message can carry: ~23,000. `ts` is this
 * push's receive time, so every push carries new readings.
 */
function largestTelemetryData(_n: number, ts: string): string {
  return largestMessage().data.replaceAll(TEMPLATE_TS, ts);
}

/** The largest message's data, built once, with TEMPLATE_TS for its receive time. */
function largestMessage(): { data: string; readings: number; kib: number } {
  largest ??= buildLargestMessage();
  return largest;
}

function buildLargestMessage(): { data: string; readings: number; kib: number } {
  const metrics = Object.fromEntries(Array.from({ length: MAX_METRICS_PER_READING }, (_, i) => [`m${i}`, Math.round((20 + (i % 50) / 3) * 10) / 10]));
  const body: Reading[] = [];
  while (Buffer.byteLength(JSON.stringify([...body, { seq: body.length, metrics }])) <= DEVICE_BODY_BYTES) body.push({ seq: body.length, metrics });
  const parsed = parseTelemetry(body, { nowMs: Date.parse(TEMPLATE_TS) });
  if (!parsed.ok) throw new Error(`the bridge would refuse the largest body: ${JSON.stringify(parsed.issues.slice(0, 3))}`);
  const device: DeviceAuth = { deviceId: 'memory-1', numId: '1', registry: 'default', blocked: false, tokens: [], keys: [] };
  const data = buildTelemetryMessage(device, parsed.value, Date.parse(TEMPLATE_TS)).data;
  return { data: data.toString(), readings: body.length, kib: Math.round(data.length / 1024) };
}

/**
 * The deadletter bundle under its containerConcurrency of pushes for `seconds`, each a new
 * dead-lettered message (the attributes Pub/Sub adds when it gives up) carrying the largest
 * data the bridge publishes: its peak RSS.
 */
async function deadletterPeakRss(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  let server: ServerProcess | undefined;
  try {
    server = await startBundle('deadletter', runtime, { DATABASE_URL: database.url });
    const attributes = {
      deviceId: 'memory-1',
      registry: 'default',
      schemaVersion: '1',
      CloudPubSubDeadLetterSourceDeliveryCount: '5',
      CloudPubSubDeadLetterSourceSubscription: 'telemetry-ingest',
      CloudPubSubDeadLetterSourceSubscriptionProject: 'bench-project',
    };
    const started = Date.now();
    return await peakUnderLoad(server, 'deadletter', seconds, (n) => {
      const ts = new Date(started + n).toISOString();
      const message = { ...attributes, receivedAt: ts, CloudPubSubDeadLetterSourceTopicPublishTime: ts };
      return pushRequest(largestTelemetryData(n, ts), message, `memory-dead-${n}`, 'telemetry-dead-letter');
    });
  } finally {
    await server?.stop();
    await database.drop().catch(() => undefined);
  }
}

const ADMIN_TOKEN = 'bench-admin-token-0123456789';
/** Operators' batches: one connection sends the largest the API takes, a few more a tenth of that. */
const LARGEST_BATCH = 10_000;
const BATCH = 1_000;
const BATCH_CONNECTIONS = 8;

/**
 * The registry bundle under its containerConcurrency of operators for `seconds`: one connection
 * creates batches of 10,000 devices with RS256 keys (5.8 MB bodies, the largest the API takes),
 * seven batches of 1,000, the rest list pages of 1,000 devices and read single devices, over a
 * registry of 1,000 devices to start with: its peak RSS.
 */
async function registryPeakRss(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  let server: ServerProcess | undefined;
  try {
    const { publicKeyPem } = generateTestKeyPair('rs256');
    await database.db.query(
      `INSERT INTO devices (device_id, site) SELECT 'seed-' || lpad(g::text, 4, '0'), 'site-' || (g % 10) FROM generate_series(1, 1000) g`,
    );
    await database.db.query(`INSERT INTO device_credentials (device_id, type, public_key_pem) SELECT device_id, 'rs256', $1 FROM devices`, [publicKeyPem]);
    server = await startBundle('registry', runtime, { DATABASE_URL: database.url, ADMIN_TOKEN });
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    return await peakUnderLoad(server, 'registry', seconds, (n, worker) => {
      if (worker < BATCH_CONNECTIONS) {
        const size = worker === 0 ? LARGEST_BATCH : BATCH;
        // New ids every batch: a batch of existing ids is refused (409) before the heavy part.
        const devices = Array.from({ length: size }, (_, i) => ({
          deviceId: `memory-${n}-${i}`,
          site: `site-${i % 10}`,
          credentials: [{ type: 'rs256', publicKeyPem }],
        }));
        return { method: 'POST', path: '/v1/devices:batchCreate', headers, body: JSON.stringify({ devices }) };
      }
      const path = worker % 2 ? '/v1/devices?pageSize=1000' : `/v1/devices/seed-${String((n % 1000) + 1).padStart(4, '0')}`;
      return { method: 'GET', path, headers };
    });
  } finally {
    await server?.stop();
    await database.drop().catch(() => undefined);
  }
}

const READ_TOKEN = 'bench-read-token-0123456789';
const READ_DEVICES = 8;
/** A reading a minute: one more than a page of 1,000, and 1,000 one-minute buckets. */
const READINGS_PER_DEVICE = 1_100;
const FLEET_DEVICES = 1_000;

/**
 * The readings bundle under its containerConcurrency of readers for `seconds`, each asking for
 * the most one request can: a page of 1,000 readings, a series of 1,000 one-minute buckets
 * with every aggregate, a fleet page of 1,000 devices. The readings are as the largest
 * messages store them (MAX_METRICS_PER_READING metrics each), and so is every device's state:
 * its peak RSS.
 */
async function readingsPeakRss(runtime: ManifestRuntime, seconds: number): Promise<LoadPeak> {
  const database = await createBenchDatabase('memory');
  let server: ServerProcess | undefined;
  try {
    const metrics = `(SELECT jsonb_object_agg('m' || k, round((20 + k % 50 / 3.0 + random())::numeric, 1)) FROM generate_series(0, ${MAX_METRICS_PER_READING - 1}) k)`;
    await database.db.query(
      `INSERT INTO devices (device_id, site) SELECT 'memory-' || lpad(d::text, 4, '0'), 'site-' || (d % 10) FROM generate_series(1, $1::int) d`,
      [FLEET_DEVICES],
    );
    await database.db.query(
      `INSERT INTO readings (reading_id, device_id, event_ts, received_at, metrics, seq)
       SELECT md5(d || ':' || i), 'memory-' || lpad(d::text, 4, '0'), now() - i * interval '1 minute', now() - i * interval '1 minute', ${metrics}, i
         FROM generate_series(1, $1::int) d, generate_series(0, $2::int - 1) i`,
      [READ_DEVICES, READINGS_PER_DEVICE],
    );
    await database.db.query(
      `INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total)
       SELECT device_id, now(), ${metrics}, now(), $1::int FROM devices`,
      [READINGS_PER_DEVICE],
    );
    await database.db.query('ANALYZE');
    server = await startBundle('readings', runtime, { DATABASE_URL: database.url, READ_TOKEN });
    const minute = 60_000;
    const to = new Date((Math.floor(Date.now() / minute) + 1) * minute).toISOString();
    const from = new Date(Date.parse(to) - 1_000 * minute).toISOString();
    const pageFrom = new Date(Date.now() - READINGS_PER_DEVICE * minute).toISOString();
    const headers = { authorization: `Bearer ${READ_TOKEN}` };
    return await peakUnderLoad(server, 'readings', seconds, (n, worker) => {
      const device = `memory-${String((n % READ_DEVICES) + 1).padStart(4, '0')}`;
      const paths = [
        `/v1/devices/${device}/readings?from=${pageFrom}&to=${to}&pageSize=1000&order=desc`,
        `/v1/devices/${device}/series?metric=m0&interval=1m&agg=avg,min,max,count,last&from=${from}&to=${to}`,
        '/v1/fleet?pageSize=1000',
      ];
      return { method: 'GET', path: paths[worker % paths.length] as string, headers };
    });
  } finally {
    await server?.stop();
    await database.drop().catch(() => undefined);
  }
}
