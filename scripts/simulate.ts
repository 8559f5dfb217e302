/**
 * `npm run simulate -- --devices N --rate R --duration S [--style reading|batch|senml|iotcore|mixed]
 * [--verify] [--bridge URL] [--registry URL] [--admin-token T] [--concurrency C]`:
 * simulated devices posting telemetry to a running stack (URLs and admin token default to
 * the ones `npm start` wrote to `$DATA_DIR/stack.json`).
 * @see ../docs/architecture.md
 */
import { loadConfig } from '../shared/config.ts';
import { STYLES, type Style } from './simulate/devices.ts';
import { runSimulation, verifyDelivery, type SimulationProgress } from './simulate/run.ts';
import { runQuery } from './query.ts';
import { readStackState } from '../local/stack/state-file.ts';
import { exitAfterOutput } from './exit.ts';
import { runCli, usageFailure } from './cli.ts';

const SPEC = {
  command: 'npm run simulate',
  synopsis: '[options]',
  description: [
    'Simulated devices posting telemetry to a running pipeline: registers them with the registry,',
    'then posts at the given rate. The URLs and the admin token default to the stack that',
    '`npm start` runs on this DATA_DIR (read from $DATA_DIR/stack.json).',
  ].join('\n'),
  options: {
    devices: { type: 'string', value: 'N', help: 'devices to simulate', defaultText: '10' },
    rate: { type: 'string', value: 'R', help: 'requests per second, all devices together', defaultText: '50' },
    duration: { type: 'string', value: 'S', help: 'seconds to run', defaultText: '10' },
    style: { type: 'string', value: 'STYLE', help: `what devices send: ${[...STYLES, 'mixed'].join(', ')}`, defaultText: 'mixed' },
    concurrency: { type: 'string', value: 'C', help: 'requests in flight at most', defaultText: '64' },
    verify: {
      type: 'boolean',
      help: 'then wait until every accepted reading is in PostgreSQL and the warehouse; exit 1 unless every request was accepted and every accepted reading is stored',
    },
    'verify-timeout': { type: 'string', value: 'S', help: 'how long --verify waits', defaultText: '60' },
    bridge: { type: 'string', value: 'URL', help: 'the bridge', defaultText: "the running stack's" },
    registry: { type: 'string', value: 'URL', help: 'the registry', defaultText: "the running stack's" },
    'admin-token': { type: 'string', value: 'T', help: "the registry's admin token", defaultText: "the running stack's, else ADMIN_TOKEN" },
  },
} as const;

function positive(name: string, value: string | undefined, fallback: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n <= 0) usageFailure(SPEC, `--${name} must be a positive number, not ${String(value)}`);
  return n;
}

const formatProgress = (p: SimulationProgress) =>
  `${p.elapsedSeconds.toFixed(0).padStart(4)} s  sent ${p.sent}  accepted ${p.accepted}  refused ${p.refused}  ${p.requestsPerSecond.toFixed(0)} req/s  p50 ${p.p50Ms.toFixed(1)} ms  p99 ${p.p99Ms.toFixed(1)} ms`;

/** `9 × network ECONNREFUSED, 1 × 401 unauthenticated`, most frequent first. */
const formatRefusals = (refusals: Record<string, number>) =>
  Object.entries(refusals)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${n} × ${key}`)
    .join(', ');

async function main(): Promise<number> {
  const { values } = runCli(SPEC);
  const style = values.style ?? 'mixed';
  if (style !== 'mixed' && !(STYLES as readonly string[]).includes(style))
    usageFailure(SPEC, `--style must be one of ${[...STYLES, 'mixed'].join(', ')}, not ${style}`);
  const devices = Math.floor(positive('devices', values.devices, 10));
  const rate = positive('rate', values.rate, 50);
  const durationSeconds = positive('duration', values.duration, 10);
  const concurrency = Math.floor(positive('concurrency', values.concurrency, 64));
  const verifyTimeoutMs = positive('verify-timeout', values['verify-timeout'], 60) * 1000;
  const config = loadConfig();
  const stack = await readStackState(config.dataDir);
  const bridgeUrl = values.bridge ?? stack?.urls.bridge;
  const registryUrl = values.registry ?? stack?.urls.registry;
  const adminToken = values['admin-token'] ?? stack?.adminToken ?? config.adminToken;
  if (!bridgeUrl || !registryUrl || !adminToken)
    usageFailure(SPEC, `no running stack found in ${config.dataDir}: start one with npm start, or pass --bridge, --registry and --admin-token`);

  const tty = process.stderr.isTTY;
  const result = await runSimulation({
    devices,
    rate,
    durationSeconds,
    style: style as Style | 'mixed',
    bridgeUrl,
    registryUrl,
    adminToken,
    projectId: stack?.projectId ?? config.projectId,
    concurrency,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r${formatProgress(p)}   `);
      else if (Math.round(p.elapsedSeconds) % 5 === 0) process.stderr.write(formatProgress(p) + '\n');
    },
  });
  if (tty) process.stderr.write('\n');
  const readings = [...result.acceptedReadings.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    [
      `sent ${result.sent} requests in ${result.elapsedSeconds.toFixed(1)} s (${result.requestsPerSecond.toFixed(0)} req/s), ${result.skippedForGaps} skipped as device gaps`,
      `accepted ${result.accepted} requests (${readings} readings), refused ${result.refused}${result.refused ? `: ${formatRefusals(result.refusals)}` : ''}`,
      `latency p50 ${result.p50Ms.toFixed(1)} ms  p90 ${result.p90Ms.toFixed(1)} ms  p99 ${result.p99Ms.toFixed(1)} ms  max ${result.maxMs.toFixed(1)} ms`,
    ].join('\n') + '\n',
  );
  if (!values.verify) return 0;

  // Nothing accepted proves nothing; a refused request is a reading the pipeline did not take.
  if (result.accepted === 0 || result.refused > 0) {
    process.stdout.write(
      `NOT verified: ${result.refused} of ${result.sent} requests refused${result.refused ? ` (${formatRefusals(result.refusals)})` : ''}${result.accepted === 0 ? '; nothing was accepted' : ''}\n`,
    );
    return 1;
  }
  const verified = await verifyDelivery(result.acceptedReadings, {
    registryUrl,
    adminToken,
    query: (sql) => runQuery(sql, config.dataDir),
    timeoutMs: verifyTimeoutMs,
    onWaiting: (m) => process.stderr.write(`waiting: ${m.registry} readings not yet in PostgreSQL, ${m.warehouse} not yet in the warehouse\n`),
  });
  process.stdout.write(
    verified.ok
      ? `verified: all ${readings} accepted readings are in PostgreSQL and the warehouse\n`
      : `NOT verified: ${verified.missing.registry} readings missing in PostgreSQL, ${verified.missing.warehouse} in the warehouse\n`,
  );
  return verified.ok ? 0 : 1;
}

main().then(
  (code) => exitAfterOutput(code),
  (error: unknown) => {
    process.stderr.write(`npm run simulate: ${error instanceof Error ? error.message : String(error)}\n`);
    exitAfterOutput(1);
  },
);
