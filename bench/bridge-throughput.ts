/**
 * Bridge requests/s on one core with 50 device connections, token and JWT auth, publishing to
 * the official Pub/Sub emulator, against a bare node:http server that only parses the JSON
 * body, in the same run. Servers are pinned to core 0 (`taskset -c 0`); the load generator
 * (autocannon) and the emulator share core 1.
 * Run: `npx node bench/bridge-throughput.ts [seconds=10] [connections=50]`.
 * @see ../docs/performance.md
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { loadConfig } from '../shared/config.ts';
import { openPostgres } from '../shared/db/postgres.ts';
import { migrate } from '../shared/db/migrate.ts';
import { createDevice, generateTestKeyPair } from '../test/support/devices.ts';
import { deviceClaims, signJwt } from '../test/support/jwt.ts';
import { freePort, waitFor } from '../test/support/net.ts';

const PROJECT = 'bench-project';
const TOPIC = 'telemetry';
const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BODY = JSON.stringify({
  ts: new Date().toISOString(),
  seq: 1,
  metrics: { temperature: 21.5, humidity: 40.25, pressure: 1013.2, battery: 3.71, door_open: false, mode: 'eco' },
  location: { lat: 52.52, lon: 13.405 },
  tags: { site: 'plant-a', line: '3', firmware: '1.4.2' },
});

if (process.argv[2] === '--bare') serveBare(Number(process.env.PORT));
else if (process.argv[2] === '--bridge-instant-ack') await serveBridgeInstantAck(Number(process.env.PORT));
else await main(Number(process.argv[2] ?? 10), Number(process.argv[3] ?? 50));

/** The baseline: node:http, read the body, JSON.parse, answer 202 with a small JSON body. */
function serveBare(port: number): void {
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metrics?: object };
      const out = JSON.stringify({ accepted: parsed.metrics ? 1 : 0, messageIds: ['1'] });
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  }).listen(port, '127.0.0.1');
}

/**
 * A diagnostic, not the contract: the bridge with a publisher that acknowledges at once, to
 * show the bridge's own CPU ceiling apart from the emulator's round trip.
 */
async function serveBridgeInstantAck(port: number): Promise<void> {
  const { default: bridge } = await import('../functions/bridge/index.ts');
  const { createPlatform } = await import('../shared/runtime/platform.ts');
  const { serveFunction, exitOnSignals } = await import('../shared/runtime/serve.ts');
  let next = 0;
  const publisher = { publish: () => Promise.resolve(String(++next)), close: () => Promise.resolve() };
  const platform = createPlatform({ providers: { publisher: () => Promise.resolve(publisher) } });
  exitOnSignals([await serveFunction(bridge, platform, { port, host: '127.0.0.1' })], platform);
}

async function main(seconds: number, connections: number): Promise<void> {
  const children: ChildProcess[] = [];
  const dbName = `bench_bridge_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    const emulatorPort = await freePort();
    children.push(spawnPinned('1', emulatorLauncher(), ['--host=127.0.0.1', `--port=${emulatorPort}`], {}));
    const emulatorHost = `127.0.0.1:${emulatorPort}`;
    await waitFor(async () => (await fetch(`http://${emulatorHost}/`)).ok, { timeoutMs: 60_000, what: 'Pub/Sub emulator' });
    const topicUrl = `http://${emulatorHost}/v1/projects/${PROJECT}/topics/${TOPIC}`;
    if (!(await fetch(topicUrl, { method: 'PUT' })).ok) throw new Error('could not create the topic');

    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    const db = await openPostgres(loadConfig({ DATABASE_URL: url.toString() }));
    await migrate(db);
    const key = generateTestKeyPair('es256');
    const device = await createDevice(db, { deviceId: 'bench-device-1', token: true, publicKeys: [{ type: 'es256', pem: key.publicKeyPem }] });
    await db.close();
    const jwt = signJwt({ alg: 'ES256', key: key.privateKeyPem, claims: deviceClaims(PROJECT, { lifetimeSeconds: 23 * 3600 }) });

    const barePort = await freePort();
    children.push(spawnPinned('0', process.execPath, [import.meta.filename, '--bare'], { PORT: String(barePort) }));
    const bridgePort = await freePort();
    // BENCH_BRIDGE_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to profile the bridge.
    const nodeArgs = process.env.BENCH_BRIDGE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    children.push(spawnPinned('0', process.execPath, [...nodeArgs, 'scripts/serve.ts', 'bridge'], {
      PORT: String(bridgePort),
      DATABASE_URL: url.toString(),
      MIGRATE_ON_START: 'false',
      GOOGLE_CLOUD_PROJECT: PROJECT,
      TELEMETRY_TOPIC: TOPIC,
      PUBSUB_EMULATOR_HOST: emulatorHost,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    }));
    const instantPort = await freePort();
    children.push(spawnPinned('0', process.execPath, [...nodeArgs, import.meta.filename, '--bridge-instant-ack'], {
      PORT: String(instantPort),
      DATABASE_URL: url.toString(),
      MIGRATE_ON_START: 'false',
      GOOGLE_CLOUD_PROJECT: PROJECT,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    }));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${barePort}/`, { method: 'POST', body: '{}' })).status === 202, { what: 'bare server' });
    for (const port of [bridgePort, instantPort]) await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { what: 'bridge' });

    const telemetry = `http://127.0.0.1:${bridgePort}/v1/devices/${device.deviceId}/telemetry`;
    const runs = [
      { name: 'bare node:http + JSON.parse', url: `http://127.0.0.1:${barePort}/`, auth: 'none' },
      { name: 'bridge, token auth', url: telemetry, auth: `Bearer ${device.token as string}` },
      { name: 'bridge, ES256 JWT auth', url: telemetry, auth: `Bearer ${jwt}` },
      { name: 'bridge, token auth, publish acked in process (diagnostic)', url: telemetry.replace(String(bridgePort), String(instantPort)), auth: `Bearer ${device.token as string}` },
      { name: 'bridge, JWT auth, publish acked in process (diagnostic)', url: telemetry.replace(String(bridgePort), String(instantPort)), auth: `Bearer ${jwt}` },
    ];
    const results: { name: string; rps: number; p50: number; p99: number; non2xx: number; errors: number }[] = [];
    for (const run of runs) {
      load(run.url, run.auth, 3, connections); // warm-up: JIT, clients, caches
      const r = load(run.url, run.auth, seconds, connections);
      results.push({ name: run.name, rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
    }
    const bare = results[0]?.rps ?? 1;
    // Other work on the machine skews every figure: the load average says how much there was.
    console.log(`\n${connections} connections, ${seconds} s per run, ${BODY.length} B body; servers on core 0, autocannon + emulator on core 1;`);
    console.log(`bridge LOG_LEVEL=${process.env.BENCH_LOG_LEVEL ?? 'warn'}; load average after the runs: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('| server | req/s | vs bare | p50 ms | p99 ms | non-2xx | errors |\n|---|---|---|---|---|---|---|');
    for (const r of results) console.log(`| ${r.name} | ${r.rps} | ${(r.rps / bare).toFixed(2)}× | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} |`);
  } finally {
    for (const child of children) if (child.pid) killGroup(child.pid);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

function load(url: string, authorization: string, seconds: number, connections: number): AutocannonResult {
  const out = execFileSync('taskset', [
    '-c', '1', process.execPath, 'node_modules/autocannon/autocannon.js',
    '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-j',
    '-H', 'content-type=application/json', '-H', `authorization=${authorization}`,
    '-b', BODY, url,
  ], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out) as AutocannonResult;
}

function spawnPinned(core: string, command: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn('taskset', ['-c', core, command, ...args], { env: { ...process.env, ...env }, stdio: 'ignore', detached: true });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

function emulatorLauncher(): string {
  if (process.env.PUBSUB_EMULATOR_LAUNCHER) return process.env.PUBSUB_EMULATOR_LAUNCHER;
  let sdkRoot = '/usr/lib/google-cloud-sdk';
  try {
    sdkRoot = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8', timeout: 20_000 }).trim() || sdkRoot;
  } catch {
    // Fall back to the Debian package's location.
  }
  const launcher = `${sdkRoot}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;
  if (!existsSync(launcher)) throw new Error(`Pub/Sub emulator launcher not found at ${launcher}`);
  return launcher;
}
