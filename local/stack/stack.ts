/**
 * The whole pipeline in one process: bridge, ingest, registry and deadletter on their ports,
 * sharing ONE platform (one PGlite or pg pool, one DuckDB file), wired by the in-process
 * Pub/Sub, or by the official emulator when PUBSUB_EMULATOR_HOST is set.
 * @see ../../docs/architecture.md
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FUNCTION_NAMES, loadFunction, type FunctionName } from '../../functions/index.ts';
import type { Config } from '../../shared/config.ts';
import { openLocalPubsub, type LocalPubsub } from '../pubsub/broker.ts';
import type { Logger } from '../../shared/log.ts';
import type { Publisher } from '../../shared/pubsub/publisher.ts';
import { createPlatform, type Platform } from '../../shared/runtime/platform.ts';
import { keepOrGenerateSecret } from '../../shared/secrets.ts';
import { serveFunction, type RunningFunction } from '../../shared/runtime/serve.ts';
import { subscriptionNames, wireEmulator, type EmulatorWiring } from './emulator.ts';
import { startInternalApi } from './internal-api.ts';
import { readStackState, removeStackState, writeStackState, type StackState } from './state-file.ts';

export interface StackPorts {
  bridge: number;
  ingest: number;
  registry: number;
  deadletter: number;
  readings: number;
  /** The loopback-only internal API; 0 picks a free port. */
  internal: number;
}

export interface StackOptions {
  config: Config;
  logger: Logger;
  ports: StackPorts;
  /** Overrides HOST (config.host); the stack keeps to loopback unless one of them says otherwise. */
  host?: string;
}

/** The local stack's push endpoints have no authentication: loopback unless HOST says otherwise. */
export const DEFAULT_STACK_HOST = '127.0.0.1';

/** True when servers on `host` can be reached from other machines. */
export function isExposed(host: string): boolean {
  return !(host === 'localhost' || host === '::1' || host.startsWith('127.'));
}

export interface Stack {
  state: StackState;
  platform: Platform;
  /** True when ADMIN_TOKEN was not configured and this start generated it (the first start on DATA_DIR). */
  generatedAdminToken: boolean;
  /** Where the admin token is kept when it was not configured. */
  adminTokenPath?: string;
  /** The interface the functions listen on. */
  host: string;
  /** True when READ_TOKEN was not configured and the stack generated one on this start (kept under DATA_DIR). */
  generatedReadToken: boolean;
  /** Where the read token is kept when it was not configured. */
  readTokenPath?: string;
  /** Stop accepting, drain, close every client. */
  stop(): Promise<void>;
}

/** Every function but the bridge, which starts last (once what it feeds listens) and stops first. */
const RECEIVERS = FUNCTION_NAMES.filter((name) => name !== 'bridge');

/** The default ports (docs/architecture.md), each overridable by its environment variable. */
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
    readings: port('READINGS_PORT', 8084),
    internal: port('STACK_INTERNAL_PORT', 0),
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { logger } = options;
  await mkdir(options.config.dataDir, { recursive: true });
  // Checked before any store is opened: two stacks on one DATA_DIR would share PGlite's files.
  const other = await readStackState(options.config.dataDir);
  if (other) throw new Error(`another stack (PID ${other.pid}) already runs with DATA_DIR=${options.config.dataDir}: stop it, or start this one with its own DATA_DIR`);
  // Not configured: the one kept under DATA_DIR, generated on the first start.
  const kept = options.config.adminToken === undefined ? await keepOrGenerateSecret(options.config.dataDir, 'admin-token') : undefined;
  const keptRead = options.config.readToken === undefined ? await keepOrGenerateSecret(options.config.dataDir, 'read-token') : undefined;
  const config: Config = { ...options.config, adminToken: options.config.adminToken ?? kept?.value, readToken: options.config.readToken ?? keptRead?.value };
  const adminToken = config.adminToken as string;
  const host = options.host ?? config.host ?? DEFAULT_STACK_HOST;

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
    for (const name of [...RECEIVERS, 'bridge'] as const) {
      const port = options.ports[name];
      const served = await serveFunction(await loadFunction(name), platform, { port, host }).catch((error: unknown) => {
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
          { name: names.ingest, topic: config.telemetryTopic, pushEndpoint: `${urlOf('ingest')}/`, deadLetter: { topic: config.deadLetterTopic, maxDeliveryAttempts: config.pubsubDelivery.maxDeliveryAttempts } },
          { name: names.deadletter, topic: config.deadLetterTopic, pushEndpoint: `${urlOf('deadletter')}/` },
        ],
        logger,
        // The attempts must outlast a store that is down for minutes, else accepted readings
        // are dead-lettered instead of stored (docs/reliability.md "Retry windows").
        minBackoffMs: config.pubsubDelivery.minBackoffMs,
        maxBackoffMs: config.pubsubDelivery.maxBackoffMs,
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
      readToken: config.readToken,
      internalUrl: internal.url,
      urls: Object.fromEntries(FUNCTION_NAMES.map((name) => [name, urlOf(name)])) as Record<FunctionName, string>,
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
      await Promise.allSettled(RECEIVERS.map((name) => running.get(name)?.stop()));
      await platform.close();
    };
    return { state, platform, generatedAdminToken: kept?.generated ?? false, ...(kept ? { adminTokenPath: kept.path } : {}), generatedReadToken: keptRead?.generated ?? false, ...(keptRead ? { readTokenPath: keptRead.path } : {}), host, stop: () => (stopping ??= stop()) };
  } catch (error) {
    rejectPublisher(error);
    await Promise.allSettled([...running.values()].map((r) => r.stop()));
    await localPubsub?.close();
    await emulator?.close();
    await platform.close();
    throw error;
  }
}
