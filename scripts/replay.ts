/**
 * `npm run replay -- [--reason R] [--stage S] [--device ID] [--since T] [--until T]
 *   [--include-replayed] [--limit N] [--dry-run]`: the registry's `POST /v1/rejected:replay`
 * from the command line. Prints the result as JSON.
 * @see ../docs/lifecycle.md
 */
import { parseArgs } from 'node:util';
import { ReplayRequest, type ReplayResult } from '../schemas/lifecycle.ts';
import { loadConfig } from '../shared/config.ts';
import { toIssues } from '../shared/errors.ts';
import { replayRejected } from '../shared/lifecycle/replay.ts';
import { callRunningStack, printFromLocalPlatform, runCommand } from './lifecycle-client.ts';

const USAGE = `usage: npm run replay -- [filters] [--dry-run]

Republishes rejected messages (payload and original attributes) to the telemetry topic once
their cause is fixed, and records when. Rows already replayed are skipped.
  --reason R           e.g. unknown_device, dead_lettered, invalid_data
  --stage S            ingest | warehouse | deadletter
  --device ID          messages published for this device
  --since T, --until T RFC 3339 times: rows recorded in [since, until)
  --include-replayed   replay rows replayed before too
  --limit N            at most N rows per run (default 1000, at most 10000)
  --dry-run            count what would be replayed; publish nothing
Publishes through Pub/Sub (GOOGLE_CLOUD_PROJECT), the emulator (PUBSUB_EMULATOR_HOST), or the
running npm start stack's in-process Pub/Sub.
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reason: { type: 'string' },
      stage: { type: 'string' },
      device: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      'include-replayed': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const raw = {
    reason: values.reason,
    stage: values.stage,
    deviceId: values.device,
    since: values.since,
    until: values.until,
    dryRun: values['dry-run'],
    includeReplayed: values['include-replayed'],
    ...(values.limit === undefined ? {} : { limit: Number(values.limit) }),
  };
  const parsed = ReplayRequest.safeParse(raw);
  if (!parsed.success) {
    for (const issue of toIssues(parsed.error.issues)) process.stderr.write(`${issue.path}: ${issue.message}\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  const config = loadConfig();
  const viaStack = (await callRunningStack(config, '/v1/rejected:replay', raw)) as ReplayResult | undefined;
  if (viaStack !== undefined) {
    process.stdout.write(JSON.stringify(viaStack, null, 2) + '\n');
    return 0;
  }
  const localOnly = config.projectId === 'local-project' && config.pubsubEmulatorHost === undefined;
  if (localOnly && !parsed.data.dryRun) {
    process.stderr.write('nothing to publish to: start the stack (npm start), set PUBSUB_EMULATOR_HOST, or GOOGLE_CLOUD_PROJECT for Pub/Sub\n');
    return 2;
  }
  return printFromLocalPlatform(config, async (platform) =>
    replayRejected(parsed.data, {
      db: await platform.database(),
      publisher: () => platform.publisher(),
      topic: config.telemetryTopic,
      logger: platform.logger,
    }),
  );
}

runCommand('replay', main);
