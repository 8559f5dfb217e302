/**
 * `npm run maintain [-- --help]`: partitions ahead, retention of readings (whole partitions),
 * of rejected messages (bounded batches), of device configs and states (last 10), and of the
 * warehouse. Idempotent; safe to run twice at once. Prints what it did as JSON.
 * @see ../docs/lifecycle.md
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { maintenanceOptions, runMaintenance } from '../shared/lifecycle/maintain.ts';
import { callRunningStack, printFromLocalPlatform, runCommand } from './lifecycle-client.ts';

const USAGE = `usage: npm run maintain

Keeps the operational store bounded (docs/lifecycle.md):
  - creates the readings partitions of the coming days, and of days that waited in the default partition;
  - drops readings partitions older than READINGS_RETENTION_DAYS (default 30);
  - deletes rejected messages older than REJECTED_RETENTION_DAYS (default 30), in batches;
  - keeps the last 10 device_configs / device_states per device;
  - sets the warehouse retention to BIGQUERY_PARTITION_EXPIRATION_DAYS when set.
Runs against DATABASE_URL (or INSTANCE_CONNECTION_NAME), else the local PGlite; while
npm start runs, through the stack's registry. Safe to run repeatedly and concurrently.
`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig();
  const viaStack = await callRunningStack(config, '/v1/maintenance:run', {});
  if (viaStack !== undefined) {
    process.stdout.write(JSON.stringify(viaStack, null, 2) + '\n');
    return 0;
  }
  return printFromLocalPlatform(config, async (platform) => runMaintenance(await platform.database(), maintenanceOptions(platform)));
}

runCommand('maintain', main);
