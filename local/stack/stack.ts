/**
 * The whole pipeline in one process: bridge, ingest, registry and deadletter on their ports,
 * sharing ONE platform (one PGlite or pg pool, one DuckDB file), wired by the in-process
 * Pub/Sub, or by the official emulator when PUBSUB_EMULATOR_HOST is set.
 * @see ../../docs/architecture.md
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FUNCTION_NAMES, loadFunction, type FunctionName } from '../../functions/index.ts';
import type { Config, StackPorts } from '../../shared/config.ts';
import { openLocalPubsub, type LocalPubsub } from '../pubsub/broker.ts';
import type { Logger } from '../../shared/log.ts';
import { pubsubTopology, type PubsubTopology } from '../../shared/pubsub/topology.ts';
import { createPlatform, type Platform } from '../../shared/runtime/platform.ts';
import { keepOrGenerateSecret } from './secrets.ts';
import { serveFunction, type RunningFunction } from '../../shared/runtime/serve.ts';
import { wireEmulator, type EmulatorWiring, type PushEndpoints } from './emulator.ts';
import { startInternalApi } from './internal-api.ts';
import { readStackState, removeStackState, writeStackState, type StackState } from './state-file.ts';

export type { StackPorts };

export interface StackOptions {
  config: Config;
  logger: Logger;
  ports: StackPorts;
  /** Overrides HOST (config.host); the stack keeps to loopback unless one of them says otherwise. */
  host?: string;
}

/**
 * The in-process Pub/Sub of the local topology. Its attempts must outlast a store that is down
 * for minutes, else accepted readings are dead-lettered instead of stored (docs/reliability.md
 * "Retry windows").
 */
function openLocalBroker(config: Config, topology: PubsubTopology, logger: Logger): Promise<LocalPubsub> {
  const { delivery } = topology;
  return openLocalPubsub({
    dir: join(config.dataDir, 'pubsub'),
    projectId: config.projectId,
    topics: Object.values(topology.topics).map((t) => t.name),
    subscriptions: topology.subscriptions.map((s) => ({
      name: s.name,
      topic: s.topic,
      ...(s.deadLetterTopic ? { deadLetter: { topic: s.deadLetterTopic, maxDeliveryAttempts: delivery.maxDeliveryAttempts } } : {}),
    })),
    logger,
    minBackoffMs: delivery.minBackoffMs,
    maxBackoffMs: delivery.maxBackoffMs,
    pushTimeoutMs: delivery.ackDeadlineSeconds * 1000,
  });
}

/** The local stack's push endpoints have no authentication: loopback unless HOST says otherwise. */
const DEFAULT_STACK_HOST = '127.0.0.1';

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

export async function startStack(options: StackOptions): Promise<Stack> {
  const { logger } = options;
  await mkdir(options.config.dataDir, { recursive: true });
  // Checked before any store is opened: two stacks on one DATA_DIR would share PGlite's files.
  const other = await readStackState(options.config.dataDir);
  if (other)
    throw new Error(`another stack (PID ${other.pid}) already runs with DATA_DIR=${options.config.dataDir}: stop it, or start this one with its own DATA_DIR`);
  // Not configured: the one kept under DATA_DIR, generated on the first start.
  const kept = options.config.adminToken === undefined ? await keepOrGenerateSecret(options.config.dataDir, 'admin-token') : undefined;
  const keptRead = options.config.readToken === undefined ? await keepOrGenerateSecret(options.config.dataDir, 'read-token') : undefined;
  const config: Config = { ...options.config, adminToken: options.config.adminToken ?? kept?.value, readToken: options.config.readToken ?? keptRead?.value };
  const adminToken = config.adminToken as string;
  const host = options.host ?? config.host ?? DEFAULT_STACK_HOST;

  const topology = pubsubTopology(config, 'local');
  const useEmulator = config.pubsubEmulatorHost !== undefined;
  // The broker takes publishes at once; it pushes once the functions' URLs are known (below).
  const localPubsub = useEmulator ? undefined : await openLocalBroker(config, topology, logger);
  const platform = createPlatform({ config, logger, ...(localPubsub ? { localBroker: localPubsub } : {}) });

  const running = new Map<FunctionName, RunningFunction>();
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
    const endpoints: PushEndpoints = { ingest: `${urlOf('ingest')}/`, deadletter: `${urlOf('deadletter')}/` };
    if (localPubsub) {
      // The receivers are in this process: pushes are handed to their handlers, not POSTed over loopback.
      for (const subscription of topology.subscriptions) {
        localPubsub.modifyPushConfig(subscription.name, endpoints[subscription.pushTo], running.get(subscription.pushTo)?.inProcess);
      }
    } else {
      emulator = await wireEmulator(config, topology, endpoints);
    }
    const internal = await startInternalApi({ platform, adminToken, port: options.ports.internal, stats: () => localPubsub?.stats() ?? {} });
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
    return {
      state,
      platform,
      generatedAdminToken: kept?.generated ?? false,
      ...(kept ? { adminTokenPath: kept.path } : {}),
      generatedReadToken: keptRead?.generated ?? false,
      ...(keptRead ? { readTokenPath: keptRead.path } : {}),
      host,
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    // As `stop`: deliveries end before the functions they go to.
    await localPubsub?.close();
    await emulator?.close();
    await Promise.allSettled([...running.values()].map((r) => r.stop()));
    await platform.close();
    throw error;
  }
}
