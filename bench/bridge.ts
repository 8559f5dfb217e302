/**
 * Bridge throughput, latency and memory at 50 connections, token and ES256 JWT auth (cached),
 * against a bare node:http server that reads and JSON-parses the body and answers 202, in
 * interleaved rounds of the same run. Servers on core 0; autocannon, and whatever the bridge
 * publishes to, on core 1. RSS of each server is sampled under load.
 * - `bridge`: publishing to the local stack's in-process topic (durable log, pushed to an
 *   acking receiver), as `npm start` does.
 * - `bridge-emulator`: the production path, `npm run serve -- bridge` publishing over its own
 *   gRPC call to the official emulator, with the Node flags of its Knative manifest; and, as
 *   diagnostics, the same bridge publishing through @google-cloud/pubsub's client
 *   (PUBSUB_PUBLISHER=client), and with a publisher that acknowledges in process (the bridge's
 *   own ceiling).
 *
 *   npm run bench -- bridge bridge-emulator [--quick]
 *   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the servers.
 * @see ../docs/performance.md
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice, generateTestKeyPair } from '../test/support/devices.ts';
import { deviceClaims, signJwt } from '../test/support/jwt.ts';
import { startPubsubEmulator } from '../test/support/pubsub-emulator.ts';
import type { FreshDatabase } from '../test/support/database.ts';
import { createBenchDatabase } from './lib/database.ts';
import { readCpuMs } from './lib/cpu.ts';
import { readRssMb, runLoad, sampleRss, type LoadResult } from './lib/load.ts';
import { describeRuntime, manifestRuntime } from './lib/manifest.ts';
import { startServer, type ServerProcess } from './lib/processes.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow, type Role, type TargetCheck } from './lib/report.ts';

const PROJECT = 'bench-project';
const BODY = JSON.stringify({
  ts: new Date().toISOString(),
  seq: 1,
  metrics: { temperature: 21.5, humidity: 40.25, pressure: 1013.2, battery: 3.71, door_open: false, mode: 'eco' },
  location: { lat: 52.52, lon: 13.405 },
  tags: { site: 'plant-a', line: '3', firmware: '1.4.2' },
});

export interface BridgeBenchOptions {
  seconds: number;
  /** Load before the measured rounds, per subject (JIT, caches, pools, the Pub/Sub channel). */
  warmupSeconds: number;
  rounds: number;
  connections: number;
}

interface Subject {
  name: string;
  role: Role;
  server: ServerProcess;
  url: string;
  authorization?: string;
}

/** What every bridge subject needs: a database with one device, its token and a JWT. */
interface BenchDevice {
  database: FreshDatabase;
  telemetryPath: string;
  token: string;
  jwt: string;
}

/** The in-process topic: bench/results/bridge.json and .md. */
export async function runBridgeBench(options: BridgeBenchOptions): Promise<void> {
  const dataDirs: string[] = [];
  try {
    await withServers(async (device, start) => {
      const receiver = await start('bench/servers/bare-http.ts', ['ack'], {}, 1);
      const bridgeEnv = (pushEndpoint?: string) => {
        const dir = mkdtempSync(join(tmpdir(), 'bench-bridge-'));
        dataDirs.push(dir);
        return {
          DATABASE_URL: device.database.url,
          DATA_DIR: dir,
          MIGRATE_ON_START: 'false',
          GOOGLE_CLOUD_PROJECT: PROJECT,
          ...(pushEndpoint ? { PUSH_ENDPOINT: pushEndpoint } : {}),
        };
      };
      const bare = await start('bench/servers/bare-http.ts', ['bare'], {});
      const bridge = await start('bench/servers/bridge-local.ts', [], bridgeEnv(`${receiver.url}/`));
      const noSubscriber = await start('bench/servers/bridge-local.ts', [], bridgeEnv());
      const rows = await measure(options, [
        { name: 'bare node:http + JSON.parse', role: 'baseline', server: bare, url: `${bare.url}/` },
        ...authSubjects(bridge, device, 'project', {
          token: 'bridge, token auth → in-process topic',
          jwt: 'bridge, ES256 JWT auth (cached) → in-process topic',
        }),
        ...authSubjects(noSubscriber, device, 'diagnostic', { token: 'bridge, token auth → topic without subscription (diagnostic)' }),
      ]);
      writeBridgeResult(options, rows, {
        name: 'bridge',
        title: 'Bridge throughput (50 connections, server on one core)',
        setup: { topic: 'local in-process Pub/Sub, durable log, pushed to an acking receiver on core 1' },
        minRatio: 0.5,
        notes: ['Each server is measured while the others idle; rounds interleave the subjects so machine noise hits them alike.'],
      });
    });
  } finally {
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** The production publisher through the official emulator: bench/results/bridge-emulator.json and .md. */
export async function runBridgeEmulatorBench(options: BridgeBenchOptions): Promise<void> {
  const emulator = await startPubsubEmulator({ cpu: 1 });
  try {
    await emulator.createTopic(PROJECT, 'telemetry');
    await withServers(async (device, start) => {
      const env = {
        DATABASE_URL: device.database.url,
        MIGRATE_ON_START: 'false',
        GOOGLE_CLOUD_PROJECT: PROJECT,
        TELEMETRY_TOPIC: 'telemetry',
        HOST: '127.0.0.1',
      };
      const bare = await start('bench/servers/bare-http.ts', ['bare'], {});
      // As in its container: the manifest's heap flags, which decide how often V8 collects.
      const runtime = manifestRuntime('bridge');
      const withRuntime = { ...env, NODE_OPTIONS: runtime.nodeOptions };
      const bridge = await start('scripts/serve.ts', ['bridge'], { ...withRuntime, PUBSUB_EMULATOR_HOST: emulator.host }, 0, runtime.nodeFlags);
      const throughClient = await start(
        'scripts/serve.ts',
        ['bridge'],
        { ...withRuntime, PUBSUB_EMULATOR_HOST: emulator.host, PUBSUB_PUBLISHER: 'client' },
        0,
        runtime.nodeFlags,
      );
      const instant = await start('bench/servers/bridge-instant-ack.ts', [], withRuntime, 0, runtime.nodeFlags);
      const rows = await measure(options, [
        { name: 'bare node:http + JSON.parse', role: 'baseline', server: bare, url: `${bare.url}/` },
        ...authSubjects(bridge, device, 'project', { token: 'bridge, token auth → Pub/Sub emulator', jwt: 'bridge, ES256 JWT auth → Pub/Sub emulator' }),
        ...authSubjects(throughClient, device, 'diagnostic', {
          token: 'bridge, token auth → @google-cloud/pubsub client → emulator (diagnostic)',
          jwt: 'bridge, JWT auth → @google-cloud/pubsub client → emulator (diagnostic)',
        }),
        ...authSubjects(instant, device, 'diagnostic', {
          token: 'bridge, token auth, publish acked in process (diagnostic)',
          jwt: 'bridge, JWT auth, publish acked in process (diagnostic)',
        }),
      ]);
      writeBridgeResult(options, rows, {
        name: 'bridge-emulator',
        title: 'Bridge through the production publisher (its own gRPC publish → official emulator), 50 connections, server on one core',
        setup: {
          publisher:
            'shared/pubsub/google-publisher.ts over its own gRPC call (PUBSUB_PUBLISHER=grpc; the client rows: =client) → emulator on core 1, beside the load generator',
          bridgeRuntime: describeRuntime(manifestRuntime('bridge')),
        },
        minRatio: 0.4,
        notes: [
          "Server CPU per request (user + system, /proc) is the bridge's own cost, the figure that holds on a busy machine; req/s also depends on the emulator.",
          'The emulator shares core 1 with the load generator, so its CPU counts against the bridge rows, not the baseline.',
          'Rounds interleave the subjects so machine noise hits them alike.',
          'Both bridges run with the Node flags of knative/base/bridge.yaml (bridgeRuntime above), as in their container; the baseline runs without.',
        ],
      });
    });
  } finally {
    emulator.stop();
  }
}

/** What sets one bridge result apart; the rest is the same for both. */
interface BridgeResultSpec {
  name: string;
  title: string;
  /** Setup beyond the load every bridge result states (connections, seconds, rounds, body size). */
  setup: Record<string, unknown>;
  /** The req/s each project row must reach, as a share of the baseline's. */
  minRatio: number;
  notes: string[];
}

/** Writes a bridge result: when and where it was measured, the load, and the targets, built here once for both. */
function writeBridgeResult(options: BridgeBenchOptions, rows: ResultRow[], spec: BridgeResultSpec): void {
  writeResult({
    name: spec.name,
    title: spec.title,
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: { connections: options.connections, seconds: options.seconds, rounds: options.rounds, bodyBytes: BODY.length, ...spec.setup },
    rows,
    targets: throughputTargets(rows, spec.minRatio, 10),
    notes: spec.notes,
  });
}

type Start = (script: string, args: string[], env: Record<string, string>, cpu?: number, nodeFlags?: string[]) => Promise<ServerProcess>;

/** One server's subjects, one per credential named: the device's token, its ES256 JWT. */
function authSubjects(server: ServerProcess, device: BenchDevice, role: Role, names: { token?: string; jwt?: string }): Subject[] {
  const credentials = { token: device.token, jwt: device.jwt };
  return (['token', 'jwt'] as const).flatMap((kind) => {
    const name = names[kind];
    return name ? [{ name, role, server, url: server.url + device.telemetryPath, authorization: `Bearer ${credentials[kind]}` }] : [];
  });
}

/** A fresh database with the device, and servers that are all stopped afterwards. */
async function withServers(body: (device: BenchDevice, start: Start) => Promise<void>): Promise<void> {
  const database = await createBenchDatabase('bridge');
  const servers: ServerProcess[] = [];
  try {
    const key = generateTestKeyPair('es256');
    const created = await createDevice(database.db, { deviceId: 'bench-device-1', token: true, publicKeys: [{ type: 'es256', pem: key.publicKeyPem }] });
    const jwt = signJwt({ alg: 'ES256', key: key.privateKeyPem, claims: deviceClaims(PROJECT, { lifetimeSeconds: 23 * 3600 }) });
    const device = { database, telemetryPath: `/v1/devices/${created.deviceId}/telemetry`, token: created.token as string, jwt };
    await body(device, async (script, args, env, cpu = 0, nodeFlags = []) => {
      const server = await startServer(script, args, env, cpu, nodeFlags);
      servers.push(server);
      return server;
    });
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await database.drop().catch(() => undefined);
  }
}

/** Warm-up, then interleaved rounds; medians per subject and the ratio to the baseline (the first). */
async function measure(options: BridgeBenchOptions, subjects: Subject[]): Promise<ResultRow[]> {
  const idleRss = new Map<ServerProcess, number>();
  for (const s of subjects) if (!idleRss.has(s.server)) idleRss.set(s.server, await readRssMb(s.server.pid));
  const loadOf = (s: Subject, seconds: number) =>
    runLoad({
      url: s.url,
      connections: options.connections,
      seconds,
      body: BODY,
      headers: { 'content-type': 'application/json', ...(s.authorization ? { authorization: s.authorization } : {}) },
    });
  for (const s of subjects) await loadOf(s, options.warmupSeconds);
  const samples = new Map<Subject, { load: LoadResult; rssMb: number; cpuUsPerReq: number }[]>(subjects.map((s) => [s, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const s of subjects) {
      const rss = sampleRss(s.server.pid);
      const cpuBefore = await readCpuMs(s.server.pid);
      const load = await loadOf(s, options.seconds);
      const cpuUsPerReq = (((await readCpuMs(s.server.pid)) - cpuBefore) * 1000) / (load.reqPerSec * options.seconds);
      samples.get(s)?.push({ load, rssMb: rss.stop(), cpuUsPerReq });
      console.log(
        `round ${round + 1} ${s.name}: ${Math.round(load.reqPerSec)} req/s p50 ${load.p50Ms} ms p99 ${load.p99Ms} ms non-2xx ${load.non2xx} server CPU ${Math.round(cpuUsPerReq)} µs/req`,
      );
    }
  }
  const rows: ResultRow[] = subjects.map((s) => {
    const of = samples.get(s) ?? [];
    return {
      subject: s.name,
      role: s.role,
      figures: {
        reqPerSec: median(of.map((x) => x.load.reqPerSec)),
        p50Ms: median(of.map((x) => x.load.p50Ms)),
        p99Ms: median(of.map((x) => x.load.p99Ms)),
        non2xx: of.reduce((n, x) => n + x.load.non2xx + x.load.errors, 0),
        cpuUsPerReq: Math.round(median(of.map((x) => x.cpuUsPerReq))),
        idleRssMb: idleRss.get(s.server) ?? NaN,
        loadRssMb: median(of.map((x) => x.rssMb)),
      },
    };
  });
  const baseline = rows[0]?.figures.reqPerSec ?? NaN;
  const baselineCpu = rows[0]?.figures.cpuUsPerReq ?? NaN;
  for (const r of rows) {
    r.figures.ratioToBaseline = (r.figures.reqPerSec ?? NaN) / baseline;
    r.figures.cpuRatioToBaseline = roundFigure((r.figures.cpuUsPerReq ?? NaN) / baselineCpu);
  }
  return rows;
}

/** For each project row: req/s against the baseline, p99, and no error answers. */
function throughputTargets(rows: ResultRow[], minRatio: number, maxP99Ms: number): TargetCheck[] {
  return rows
    .filter((r) => r.role === 'project')
    .flatMap((r) => [
      {
        what: `${r.subject}: req/s vs bare`,
        target: `≥ ${minRatio}×`,
        // Three decimals, cut rather than rounded: 0.397× must not read as a met 0.4×.
        measured: `${(Math.floor((r.figures.ratioToBaseline ?? NaN) * 1000) / 1000).toFixed(3)}×`,
        met: (r.figures.ratioToBaseline ?? 0) >= minRatio,
      },
      { what: `${r.subject}: p99`, target: `≤ ${maxP99Ms} ms`, measured: `${r.figures.p99Ms} ms`, met: (r.figures.p99Ms ?? Infinity) <= maxP99Ms },
      { what: `${r.subject}: non-2xx and errors`, target: '0', measured: String(r.figures.non2xx), met: r.figures.non2xx === 0 },
    ]);
}
