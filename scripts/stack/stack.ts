/**
 * The whole pipeline in one process: bridge, ingest, registry and deadletter on their ports,
 * sharing ONE platform (one PGlite or pg pool, one DuckDB file), wired by the in-process
 * Pub/Sub, or by the official emulator when PUBSUB_EMULATOR_HOST is set.
 * @see ../../../shared/DESIGN.md "Running it"
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFunction, type FunctionName } from '../../functions/index.ts';
import type { Config } from '../../shared/config.ts';
import { openLocalPubsub, type LocalPubsub } from '../../shared/local-pubsub/broker.ts';
import type { Logger } from '../../shared/log.ts';
import type { Publisher } from '../../shared/pubsub/publisher.ts';
import { createPlatform, type Platform } from '../../shared/runtime/platform.ts';
import { serveFunction, type RunningFunction } from '../../shared/runtime/serve.ts';
import { subscriptionNames, wireEmulator, type EmulatorWiring } from './emulator.ts';
import { startInternalApi } from './internal-api.ts';
import { removeStackState, writeStackState, type StackState } from './state-file.ts';

export interface StackPorts {
  bridge: number;
  ingest: number;
  registry: number;
  deadletter: number;
  /** The loopback-only internal API; 0 picks a free port. */
  internal: number;
}

export interface StackOptions {
  config: Config;
  logger: Logger;
  ports: StackPorts;
  host?: string;
}

export interface Stack {
  state: StackState;
  platform: Platform;
  /** True when ADMIN_TOKEN was not configured and the stack made one up. */
  generatedAdminToken: boolean;
  /** Stop accepting, drain, close every client. */
  stop(): Promise<void>;
}

const ORDER: FunctionName[] = ['ingest', 'deadletter', 'registry', 'bridge'];

/** The ports of DESIGN.md, each overridable by its environment variable. */
export function portsFromEnv(env: Record<string, string | undefined> = process.env): StackPorts {
  const port = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}=${value} is not a port number`);
    return n;
  };
  return {
    bridge: port('BRIDGE_PORT', 8080),
    ingest: port('INGEST_PORT', 8081),
    registry: port('REGISTRY_PORT', 8082),
    deadletter: port('DEADLETTER_PORT', 8083),
    internal: port('STACK_INTERNAL_PORT', 0),
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const generatedAdminToken = options.config.adminToken === undefined;
  const config: Config = { ...options.config, adminToken: options.config.adminToken ?? randomBytes(24).toString('base64url') };
  const adminToken = config.adminToken as string;
  const { logger } = options;
  await mkdir(config.dataDir, { recursive: true });

  // Bridge may take requests before the Pub/Sub is wired: its first publish waits for it.
  let resolvePublisher!: (p: Publisher) => void;
  let rejectPublisher!: (e: unknown) => void;
  const publisherReady = new Promise<Publisher>((resolve, reject) => {
    resolvePublisher = resolve;
    rejectPublisher = reject;
  });
  publisherReady.catch(() => undefined);
  const useEmulator = config.pubsubEmulatorHost !== undefined;
  const platform = createPlatform({ config, logger, providers: useEmulator ? {} : { publisher: () => publisherReady } });

  const running = new Map<FunctionName, RunningFunction>();
  let localPubsub: LocalPubsub | undefined;
  let emulator: EmulatorWiring | undefined;
  try {
    // Open the stores first so that a bad DATABASE_URL fails start-up, not the first request.
    const [, warehouse] = await Promise.all([platform.database(), platform.warehouse()]);
    for (const name of ORDER) {
      const port = options.ports[name];
      const served = await serveFunction(await loadFunction(name), platform, { port, host: options.host ?? '0.0.0.0' }).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        throw new Error(`port ${port} for ${name} is in use: stop what listens there or set ${name.toUpperCase()}_PORT`, { cause: error });
      });
      running.set(name, served);
    }
    const urlOf = (name: FunctionName) => (running.get(name) as RunningFunction).url;
    if (useEmulator) {
      emulator = await wireEmulator(config, { ingest: `${urlOf('ingest')}/`, deadletter: `${urlOf('deadletter')}/` });
    } else {
      const names = subscriptionNames(config);
      localPubsub = await openLocalPubsub({
        dir: join(config.dataDir, 'pubsub'),
        projectId: config.projectId,
        topics: [config.telemetryTopic, config.deadLetterTopic, config.stateTopic],
        subscriptions: [
          { name: names.ingest, topic: config.telemetryTopic, pushEndpoint: `${urlOf('ingest')}/`, deadLetter: { topic: config.deadLetterTopic, maxDeliveryAttempts: 5 } },
          { name: names.deadletter, topic: config.deadLetterTopic, pushEndpoint: `${urlOf('deadletter')}/` },
        ],
        logger,
        // Five attempts must outlast a short database outage (test/chaos: 10 s), else accepted
        // readings are dead-lettered instead of stored; Pub/Sub itself starts at 10 s.
        minBackoffMs: 2_000,
      });
      resolvePublisher(localPubsub);
    }
    const pubsub = localPubsub;
    const internal = await startInternalApi({ platform, adminToken, port: options.ports.internal, stats: () => pubsub?.stats() ?? {} });
    const state: StackState = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      projectId: config.projectId,
      adminToken,
      internalUrl: internal.url,
      urls: { bridge: urlOf('bridge'), ingest: urlOf('ingest'), registry: urlOf('registry'), deadletter: urlOf('deadletter') },
      pubsub: useEmulator ? 'emulator' : 'local',
      warehouse: warehouse.kind,
    };
    await writeStackState(config.dataDir, state);

    let stopping: Promise<void> | undefined;
    const stop = async () => {
      await removeStackState(config.dataDir, process.pid).catch(() => undefined);
      await internal.stop();
      // Devices first; then let pushes in flight finish (acks are written), then the receivers.
      await running.get('bridge')?.stop();
      await localPubsub?.close();
      await emulator?.close();
      await Promise.allSettled(['ingest', 'deadletter', 'registry'].map((n) => running.get(n as FunctionName)?.stop()));
      await platform.close();
    };
    return { state, platform, generatedAdminToken, stop: () => (stopping ??= stop()) };
  } catch (error) {
    rejectPublisher(error);
    await Promise.allSettled([...running.values()].map((r) => r.stop()));
    await localPubsub?.close();
    await emulator?.close();
    await platform.close();
    throw error;
  }
}
