/**
 * `npm start`: the whole pipeline on this machine (DESIGN.md "Running it"). Embedded stores
 * unless configured otherwise; prints the URLs, the admin token and a curl to try; stops
 * cleanly on SIGINT/SIGTERM.
 */
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { isExposed, portsFromEnv, startStack, type Stack } from './stack/stack.ts';

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
    return [`  admin token  ${adminToken}`, `               generated on this first start and kept in ${stack.adminTokenPath} (mode 0600); set ADMIN_TOKEN to choose one`];
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

/** What a new user needs to see: where everything is and one command that exercises it. */
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
    'Create a device and post a reading:',
    ...tokenFrom,
    `  DEVICE_TOKEN=$(curl -s -X POST ${urls.registry}/v1/devices -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d '{"deviceId":"thermo-1","site":"lab","credentials":[{"type":"token"}]}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).credentials[0].token')`,
    `  curl -s -X POST ${urls.bridge}/v1/devices/thermo-1/telemetry -H "Authorization: Bearer $DEVICE_TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d '{"metrics":{"temperature":21.5,"humidity":40}}'`,
    `  curl -s ${urls.registry}/v1/devices/thermo-1/state -H "Authorization: Bearer $ADMIN_TOKEN"`,
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

async function main(): Promise<void> {
  const config = loadConfig();
  const pretty = process.stdout.isTTY;
  const logger = createLogger({ level: config.logLevel, pretty });
  const stack = await startStack({ config, logger, ports: portsFromEnv() });
  // The banner goes to the terminal; when stdout is a log pipe it stays pure JSON lines.
  (pretty ? process.stdout : process.stderr).write(formatBanner(stack) + '\n');
  logger.info('stack ready', { urls: stack.state.urls, internalUrl: stack.state.internalUrl, pubsub: stack.state.pubsub, warehouse: stack.state.warehouse });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    stack.stop().then(
      () => {
        logger.info('stopped', { signal });
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  // The message names what to change; the stack trace only with LOG_LEVEL=debug.
  const debug = process.env.LOG_LEVEL === 'debug';
  process.stderr.write(`npm start failed: ${error instanceof Error ? ((debug ? error.stack : undefined) ?? error.message) : String(error)}\n`);
  process.exit(1);
});
