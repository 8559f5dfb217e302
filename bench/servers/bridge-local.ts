/**
 * The bridge as `npm start` runs it: publishing to the in-process Pub/Sub of the local stack
 * (a durable, group-committed log), whose subscription pushes to `PUSH_ENDPOINT` (an acking
 * receiver on the other core). Without PUSH_ENDPOINT the topic has no subscription, so a
 * publish costs only the bridge's own work (the diagnostic).
 * Run by bench/bridge.ts: `node bench/servers/bridge-local.ts` with PORT, DATABASE_URL, DATA_DIR.
 * @see ../../local/pubsub/broker.ts
 */
import { join } from 'node:path';
import bridge from '../../functions/bridge/index.ts';
import { loadConfig } from '../../shared/config.ts';
import { openLocalPubsub } from '../../local/pubsub/broker.ts';
import { createLogger } from '../../shared/log.ts';
import { createPlatform } from '../../shared/runtime/platform.ts';
import { exitOnSignals, serveFunction } from '../../shared/runtime/serve.ts';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel });
const pushEndpoint = process.env.PUSH_ENDPOINT;
const pubsub = await openLocalPubsub({
  dir: join(config.dataDir, 'pubsub'),
  projectId: config.projectId,
  topics: [config.telemetryTopic],
  subscriptions: pushEndpoint ? [{ name: 'ingest', topic: config.telemetryTopic, pushEndpoint }] : [],
  logger,
});
const platform = createPlatform({ config, logger, providers: { publisher: () => Promise.resolve(pubsub) } });
exitOnSignals([await serveFunction(bridge, platform, { port: Number(process.env.PORT), host: '127.0.0.1' })], platform);
