/**
 * Bridge throughput and memory: the bridge with token auth and with ES256 JWT auth (cached),
 * body validation and a publish to the local stack's in-process topic (durable log, pushed to
 * an acking receiver), 50 connections, against a bare node:http server that reads and
 * JSON-parses the body and answers 202, in interleaved rounds of the same run. Servers on
 * core 0, autocannon and the push receiver on core 1. RSS of each server is sampled under load.
 *
 *   npm run bench -- bridge [--quick]
 * @see ../docs/performance.md
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice, generateTestKeyPair } from '../test/support/devices.ts';
import { deviceClaims, signJwt } from '../test/support/jwt.ts';
import { createBenchDatabase } from './lib/database.ts';
import { readRssMb, runLoad, sampleRss, type LoadResult } from './lib/load.ts';
import { startServer, type ServerProcess } from './lib/processes.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow, type Role } from './lib/report.ts';

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

/** Runs the benchmark and writes bench/results/bridge.json and .md. */
export async function runBridgeBench(options: BridgeBenchOptions): Promise<void> {
  const database = await createBenchDatabase('bridge');
  const dataDirs: string[] = [];
  const servers: ServerProcess[] = [];
  try {
    const key = generateTestKeyPair('es256');
    const device = await createDevice(database.db, { deviceId: 'bench-device-1', token: true, publicKeys: [{ type: 'es256', pem: key.publicKeyPem }] });
    const jwt = signJwt({ alg: 'ES256', key: key.privateKeyPem, claims: deviceClaims(PROJECT, { lifetimeSeconds: 23 * 3600 }) });

    const start = async (script: string, args: string[], env: Record<string, string>, cpu = 0) => {
      const server = await startServer(script, args, env, cpu);
      servers.push(server);
      return server;
    };
    const receiver = await start('bench/servers/bare-http.ts', ['ack'], {}, 1);
    const bridgeEnv = (pushEndpoint?: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'bench-bridge-'));
      dataDirs.push(dir);
      return { DATABASE_URL: database.url, DATA_DIR: dir, MIGRATE_ON_START: 'false', GOOGLE_CLOUD_PROJECT: PROJECT, ...(pushEndpoint ? { PUSH_ENDPOINT: `${receiver.url}/` } : {}) };
    };
    const bare = await start('bench/servers/bare-http.ts', ['bare'], {});
    const bridge = await start('bench/servers/bridge-local.ts', [], bridgeEnv(receiver.url));
    const noSubscriber = await start('bench/servers/bridge-local.ts', [], bridgeEnv());
    const path = `/v1/devices/${device.deviceId}/telemetry`;
    const subjects: Subject[] = [
      { name: 'bare node:http + JSON.parse', role: 'baseline', server: bare, url: `${bare.url}/` },
      { name: 'bridge, token auth → in-process topic', role: 'project', server: bridge, url: bridge.url + path, authorization: `Bearer ${device.token as string}` },
      { name: 'bridge, ES256 JWT auth (cached) → in-process topic', role: 'project', server: bridge, url: bridge.url + path, authorization: `Bearer ${jwt}` },
      { name: 'bridge, token auth → topic without subscription (diagnostic)', role: 'diagnostic', server: noSubscriber, url: noSubscriber.url + path, authorization: `Bearer ${device.token as string}` },
    ];
    const idleRss = new Map<ServerProcess, number>();
    for (const s of subjects) if (!idleRss.has(s.server)) idleRss.set(s.server, await readRssMb(s.server.pid));

    const loadOf = (s: Subject, seconds: number) =>
      runLoad({ url: s.url, connections: options.connections, seconds, body: BODY, headers: { 'content-type': 'application/json', ...(s.authorization ? { authorization: s.authorization } : {}) } });
    for (const s of subjects) await loadOf(s, 2); // warm-up: JIT, credential cache, pools
    const samples = new Map<Subject, { load: LoadResult; rssMb: number }[]>(subjects.map((s) => [s, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (const s of subjects) {
        const rss = sampleRss(s.server.pid);
        const load = await loadOf(s, options.seconds);
        samples.get(s)?.push({ load, rssMb: rss.stop() });
        console.log(`round ${round + 1} ${s.name}: ${Math.round(load.reqPerSec)} req/s p50 ${load.p50Ms} ms p99 ${load.p99Ms} ms non-2xx ${load.non2xx}`);
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
          idleRssMb: idleRss.get(s.server) ?? NaN,
          loadRssMb: median(of.map((x) => x.rssMb)),
        },
      };
    });
    const baseline = rows[0]?.figures.reqPerSec ?? NaN;
    for (const r of rows) r.figures.ratioToBaseline = (r.figures.reqPerSec ?? NaN) / baseline;
    const projects = rows.filter((r) => r.role === 'project');
    writeResult({
      name: 'bridge',
      title: 'Bridge throughput (50 connections, server on one core)',
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: { connections: options.connections, seconds: options.seconds, rounds: options.rounds, bodyBytes: BODY.length, topic: 'local in-process Pub/Sub, durable log, pushed to an acking receiver on core 1' },
      rows,
      targets: projects.flatMap((r) => [
        { what: `${r.subject}: req/s vs bare`, target: '≥ 0.5×', measured: `${roundFigure(r.figures.ratioToBaseline ?? NaN)}×`, met: (r.figures.ratioToBaseline ?? 0) >= 0.5 },
        { what: `${r.subject}: p99`, target: '≤ 10 ms', measured: `${r.figures.p99Ms} ms`, met: (r.figures.p99Ms ?? Infinity) <= 10 },
      ]),
      notes: ['Each server is measured while the others idle; rounds interleave the subjects so machine noise hits them alike.'],
    });
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await database.drop().catch(() => undefined);
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  }
}
