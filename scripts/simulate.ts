/**
 * `npm run simulate -- --devices N --rate R --duration S [--style reading|batch|senml|iotcore|mixed]
 * [--verify] [--bridge URL] [--registry URL] [--admin-token T] [--concurrency C]`:
 * simulated devices posting telemetry to a running stack (URLs and admin token default to
 * the ones `npm start` wrote to `$DATA_DIR/stack.json`).
 * @see ../shared/DESIGN.md "Running it"
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { STYLES, type Style } from './simulate/devices.ts';
import { runSimulation, verifyDelivery, type SimulationProgress } from './simulate/run.ts';
import { runQuery } from './query.ts';
import { readStackState } from './stack/state-file.ts';
import { exitAfterOutput } from '../shared/exit.ts';

const USAGE = 'usage: npm run simulate -- --devices N --rate R --duration S [--style reading|batch|senml|iotcore|mixed] [--verify] [--bridge URL] [--registry URL] [--admin-token T] [--concurrency C]';

function positive(name: string, value: string | undefined, fallback: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${String(value)}`);
  return n;
}

const formatProgress = (p: SimulationProgress) =>
  `${p.elapsedSeconds.toFixed(0).padStart(4)} s  sent ${p.sent}  accepted ${p.accepted}  refused ${p.refused}  ${p.requestsPerSecond.toFixed(0)} req/s  p50 ${p.p50Ms.toFixed(1)} ms  p99 ${p.p99Ms.toFixed(1)} ms`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string' }, rate: { type: 'string' }, duration: { type: 'string' }, style: { type: 'string' },
      verify: { type: 'boolean' }, bridge: { type: 'string' }, registry: { type: 'string' }, 'admin-token': { type: 'string' },
      concurrency: { type: 'string' }, 'verify-timeout': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const style = values.style ?? 'mixed';
  if (style !== 'mixed' && !(STYLES as readonly string[]).includes(style)) throw new Error(`--style must be one of ${[...STYLES, 'mixed'].join(', ')}, not ${style}`);
  const config = loadConfig();
  const stack = await readStackState(config.dataDir);
  const bridgeUrl = values.bridge ?? stack?.urls.bridge;
  const registryUrl = values.registry ?? stack?.urls.registry;
  const adminToken = values['admin-token'] ?? stack?.adminToken ?? config.adminToken;
  if (!bridgeUrl || !registryUrl || !adminToken) throw new Error(`no running stack found in ${config.dataDir}: start one with npm start, or pass --bridge, --registry and --admin-token`);

  const tty = process.stderr.isTTY;
  const result = await runSimulation({
    devices: Math.floor(positive('devices', values.devices, 10)),
    rate: positive('rate', values.rate, 50),
    durationSeconds: positive('duration', values.duration, 10),
    style: style as Style | 'mixed',
    bridgeUrl,
    registryUrl,
    adminToken,
    projectId: stack?.projectId ?? config.projectId,
    concurrency: Math.floor(positive('concurrency', values.concurrency, 64)),
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r${formatProgress(p)}   `);
      else if (Math.round(p.elapsedSeconds) % 5 === 0) process.stderr.write(formatProgress(p) + '\n');
    },
  });
  if (tty) process.stderr.write('\n');
  const readings = [...result.acceptedReadings.values()].reduce((a, b) => a + b, 0);
  process.stdout.write([
    `sent ${result.sent} requests in ${result.elapsedSeconds.toFixed(1)} s (${result.requestsPerSecond.toFixed(0)} req/s), ${result.skippedForGaps} skipped as device gaps`,
    `accepted ${result.accepted} requests (${readings} readings), refused ${result.refused}${result.refused ? ' ' + JSON.stringify(result.refusals) : ''}`,
    `latency p50 ${result.p50Ms.toFixed(1)} ms  p90 ${result.p90Ms.toFixed(1)} ms  p99 ${result.p99Ms.toFixed(1)} ms  max ${result.maxMs.toFixed(1)} ms`,
  ].join('\n') + '\n');
  if (!values.verify) return 0;

  const verified = await verifyDelivery(result.acceptedReadings, {
    registryUrl,
    adminToken,
    query: (sql) => runQuery(sql, config.dataDir),
    timeoutMs: positive('verify-timeout', values['verify-timeout'], 60) * 1000,
    onWaiting: (m) => process.stderr.write(`waiting: ${m.registry} readings not yet in PostgreSQL, ${m.warehouse} not yet in the warehouse\n`),
  });
  process.stdout.write(verified.ok
    ? `verified: all ${readings} accepted readings are in PostgreSQL and the warehouse\n`
    : `NOT verified: ${verified.missing.registry} readings missing in PostgreSQL, ${verified.missing.warehouse} in the warehouse\n`);
  return verified.ok ? 0 : 1;
}

main().then(
  (code) => exitAfterOutput(code),
  (error: unknown) => {
    process.stderr.write(`simulate failed: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    exitAfterOutput(2);
  },
);
