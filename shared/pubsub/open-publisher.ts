/**
 * Which Pub/Sub a process publishes to, decided here and only here: the local stack's
 * in-process broker when the stack hands one over, else Google Pub/Sub (google-publisher.ts), the
 * official emulator when PUBSUB_EMULATOR_HOST is configured and real Pub/Sub otherwise.
 */
import type { Config } from '../config.ts';
import type { PublishTransport } from './google-publisher.ts';
import type { Publisher } from './publisher.ts';

type PublisherConfig = Pick<Config, 'projectId' | 'pubsubEmulatorHost' | 'pubsubPublisher' | 'proxyEnv'>;

export interface PublisherChoice {
  /** The local stack's in-process broker; the stack opens and closes it, so closing the publisher leaves it open. */
  localBroker?: Publisher;
}

export async function openPublisher(config: PublisherConfig, choice: PublisherChoice = {}): Promise<Publisher> {
  const { localBroker } = choice;
  if (localBroker) return { publish: (topic, data, attributes) => localBroker.publish(topic, data, attributes), close: async () => undefined };
  const { createPubsubPublisher } = await import('./google-publisher.ts');
  return createPubsubPublisher({
    projectId: config.projectId,
    transport: publishTransport(config),
    ...(config.pubsubEmulatorHost ? { emulatorHost: config.pubsubEmulatorHost } : {}),
  });
}

/**
 * PUBSUB_PUBLISHER, except behind a proxy for gRPC: the project's own call goes straight to
 * Pub/Sub, so where one of the variables grpc-js tunnels through is set (`grpc_proxy`,
 * `https_proxy`, `http_proxy`: lower case only, as grpc-js reads them) the generated client
 * carries real Pub/Sub's requests instead.
 */
export function publishTransport(config: Pick<PublisherConfig, 'pubsubEmulatorHost' | 'pubsubPublisher' | 'proxyEnv'>): PublishTransport {
  const { grpc_proxy, https_proxy, http_proxy } = config.proxyEnv;
  const behindProxy = [grpc_proxy, https_proxy, http_proxy].some((value) => value !== undefined);
  return behindProxy && !config.pubsubEmulatorHost ? 'client' : config.pubsubPublisher;
}
