/**
 * `npm start`: the whole pipeline on this machine (docs/architecture.md). Embedded stores
 * unless configured otherwise; prints the URLs, the admin token and a curl to try; stops
 * cleanly on SIGINT/SIGTERM.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { inspect } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { runCli } from './cli.ts';
import { summarizeRequests } from '../local/stack/request-summary.ts';
import { isExposed, startStack, type Stack } from '../local/stack/stack.ts';

function describeStores(stack: Stack): string[] {
  const { config } = stack.platform;
  return [
    `  database   ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${config.dataDir}/pglite`}`,
    `  warehouse  ${config.useBigQuery ? `BigQuery ${config.projectId}.${config.bigQueryDataset}` : `DuckDB ${config.dataDir}/warehouse.duckdb`}`,
    `  pubsub     ${stack.state.pubsub === 'emulator' ? `emulator at ${config.pubsubEmulatorHost ?? ''}` : `in-process, log in ${config.dataDir}/pubsub`}`,
  ];
}

/** The admin token's line: shown only on the start that generated it, never when configured. */
function describeAdminToken(stack: Stack): string[] {
  const { adminToken } = stack.state;
  if (stack.adminTokenPath === undefined) return ['  admin token  from ADMIN_TOKEN (not shown)'];
  if (stack.generatedAdminToken) {
    return [
      `  admin token  ${adminToken}`,
      `               generated on this first start and kept in ${stack.adminTokenPath} (mode 0600); set ADMIN_TOKEN to choose one`,
    ];
  }
  return [`  admin token  kept in ${stack.adminTokenPath} (mode 0600): export ADMIN_TOKEN=$(cat ${stack.adminTokenPath})`];
}

/** Where the functions listen, and a plain warning when that is beyond this machine. */
function describeExposure(stack: Stack): string[] {
  if (!isExposed(stack.host)) return [`  listening on ${stack.host} only (set HOST to offer the stack to other machines)`];
  return [
    `  WARNING: listening on HOST=${stack.host}, reachable from other machines: ingest and deadletter accept`,
    '  unauthenticated pushes there, so anyone who can reach them can forge readings for any device.',
    '  Unset HOST to keep the stack on 127.0.0.1.',
  ];
}

/**
 * What a new user needs to see: where everything is and commands that exercise it. The
 * commands work in any POSIX shell, as often as they are pasted (each paste makes a new
 * device), and wait for ingest to store the reading before showing the device's state. They
 * read the admin token from the environment, never from the banner.
 */
export function formatBanner(stack: Stack): string {
  const { urls } = stack.state;
  const tokenFrom = stack.adminTokenPath === undefined ? [] : [`  export ADMIN_TOKEN=$(cat ${stack.adminTokenPath})`];
  return [
    '',
    'Telemetry pipeline is running.',
    `  bridge     ${urls.bridge}`,
    `  ingest     ${urls.ingest}`,
    `  registry   ${urls.registry}`,
    `  deadletter ${urls.deadletter}`,
    ...(urls.readings ? [`  readings   ${urls.readings}`] : []),
    ...describeStores(stack),
    ...describeAdminToken(stack),
    ...describeExposure(stack),
    '',
    'Create a device, post a reading, and see it stored (ingest writes it a moment after the post):',
    ...tokenFrom,
    `  DEVICE=thermo-$(LC_ALL=C tr -dc a-z0-9 </dev/urandom | head -c 6)`,
    `  DEVICE_TOKEN=$(curl -s -X POST ${urls.registry}/v1/devices -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d '{"deviceId":"'$DEVICE'","site":"lab","credentials":[{"type":"token"}]}' | sed -n 's/.*"token":"\\([^"]*\\)".*/\\1/p')`,
    `  curl -s -X POST ${urls.bridge}/v1/devices/$DEVICE/telemetry -H "Authorization: Bearer $DEVICE_TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d '{"metrics":{"temperature":21.5,"humidity":40}}'; echo`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do curl -s ${urls.registry}/v1/devices/$DEVICE/state -H "Authorization: Bearer $ADMIN_TOKEN" | grep '"readingsTotal":[1-9]' && break; sleep 0.5; done`,
    `  npm run query -- "SELECT device_id, metric, value, event_ts FROM measurements ORDER BY event_ts DESC LIMIT 10"`,
    ...formatDashboardLines(stack),
    '',
  ].join('\n');
}

/**
 * The dashboard link carries the read token in its fragment, which the browser never sends.
 * A READ_TOKEN that was configured is not echoed: the page asks for it once instead.
 */
export function formatDashboardLines(stack: Stack): string[] {
  const { urls, readToken } = stack.state;
  if (!urls.readings || !readToken) return [];
  if (stack.readTokenPath === undefined) {
    return ['', 'Dashboard (fleet and live charts; enter READ_TOKEN on the page once):', `  ${urls.readings}/`];
  }
  return [
    '',
    'Dashboard (fleet and live charts; the link carries the read token):',
    `  ${urls.readings}/#token=${encodeURIComponent(readToken)}`,
    `  read token kept in ${stack.readTokenPath} (mode 0600)${stack.generatedReadToken ? ', generated on this start' : ''}; set READ_TOKEN to choose one`,
    `  curl -s '${urls.readings}/v1/fleet' -H "Authorization: Bearer $(cat ${stack.readTokenPath})"`,
  ];
}

export const START_COMMAND = {
  command: 'npm start',
  synopsis: '',
  description: [
    'The whole pipeline on this machine: bridge, ingest, registry, deadletter and readings, wired by an',
    'in-process Pub/Sub, on PGlite and DuckDB under DATA_DIR unless configured otherwise.',
    'Logs one summary line every 10 s in which requests arrived; LOG_LEVEL=debug logs each request.',
    'Ctrl-C (SIGINT) or SIGTERM drains and exits 0.',
  ].join('\n'),
  options: {},
  notes: [
    'environment (all optional):',
    '  BRIDGE_PORT 8080, INGEST_PORT 8081, REGISTRY_PORT 8082, DEADLETTER_PORT 8083, READINGS_PORT 8084',
    '  HOST            interface to listen on (default: 127.0.0.1)',
    '  DATA_DIR        embedded stores, Pub/Sub log, stack.json (default: .data/)',
    "  ADMIN_TOKEN     the registry's bearer token (default: generated once, kept under DATA_DIR)",
    "  READ_TOKEN      the readings API's bearer token (default: generated once, kept under DATA_DIR)",
    '  DATABASE_URL    PostgreSQL instead of PGlite',
    '  GOOGLE_CLOUD_PROJECT + BIGQUERY_DATASET   BigQuery instead of DuckDB',
    '  PUBSUB_EMULATOR_HOST   the official Pub/Sub emulator instead of the in-process one',
    '  LOG_LEVEL       debug, info, warn, error (default: info)',
  ],
} as const;

/** LOG_LEVEL=debug: a failed start shows its stack trace (known once the configuration is read). */
let debug = false;
/** Named when a start fails for want of disk. */
let dataDir: string | undefined;

async function main(): Promise<void> {
  runCli(START_COMMAND);
  const config = loadConfig();
  debug = config.logLevel === 'debug';
  dataDir = config.dataDir;
  const pretty = process.stdout.isTTY;
  const summary = summarizeRequests(createLogger({ level: config.logLevel, pretty }));
  const { logger } = summary;
  const stack = await startStack({ config, logger, ports: config.stackPorts });
  // The banner goes to the terminal; when stdout is a log pipe it stays pure JSON lines.
  (pretty ? process.stdout : process.stderr).write(formatBanner(stack) + '\n');
  logger.info('stack ready', { urls: stack.state.urls, internalUrl: stack.state.internalUrl, pubsub: stack.state.pubsub, warehouse: stack.state.warehouse });

  let stoppingSince: number | undefined;
  const stop = (signal: string) => {
    if (stoppingSince !== undefined) {
      // One Ctrl-C reaches us twice: from the terminal and forwarded by npm. A later one means
      // "now": leave without waiting for the drain.
      if (Date.now() - stoppingSince < 2_000) return;
      logger.warn('stopping without draining', { signal });
      process.exit(130);
    }
    stoppingSince = Date.now();
    logger.info('shutting down', { signal });
    stack.stop().then(
      () => {
        summary.stop();
        logger.info('stopped', { signal });
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * What to do about a disk that filled up, which the system's message alone does not say (and
 * PGlite's does not say at all: it fails with an object that is not an Error, or "failed to
 * initialize"): said when the error names the full disk, or when DATA_DIR's disk has next to no room.
 */
function diskFullAdvice(error: unknown): string {
  if (dataDir === undefined) return '';
  const named = (error as NodeJS.ErrnoException | null)?.code === 'ENOSPC' || /No space left on device/i.test(String(error));
  if (!named && !nearlyFull(dataDir)) return '';
  return (
    `\n  the disk under DATA_DIR (${dataDir}) is full: free space there, or set DATA_DIR to a directory on a larger disk.` +
    '\n  Nothing accepted is lost: what waits in the Pub/Sub log is delivered once the stack starts with room.'
  );
}

/** Whether the disk under `dir` (or its nearest existing parent) has less than 1 MiB free. */
function nearlyFull(dir: string): boolean {
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      const disk = statfsSync(at);
      return disk.bavail * disk.bsize < 1024 * 1024;
    } catch {
      if (dirname(at) === at) return false;
    }
  }
}

main().catch((error: unknown) => {
  // The message names what to change; the stack trace only with LOG_LEVEL=debug.
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? ((debug ? error.stack : undefined) ?? error.message) : inspect(error, { depth: 2, breakLength: Infinity })}${diskFullAdvice(error)}\n`,
  );
  process.exit(1);
});
