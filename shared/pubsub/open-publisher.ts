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
 * PUBSUB_PUBLISHER, except behind an HTTP proxy: the project's own gRPC call goes straight to
 * Pub/Sub, so where HTTPS_PROXY or HTTP_PROXY is set the generated client carries real Pub/Sub's
 * requests instead (grpc-js tunnels through the proxy those variables name).
 */
export function publishTransport(config: Pick<PublisherConfig, 'pubsubEmulatorHost' | 'pubsubPublisher' | 'proxyEnv'>): PublishTransport {
  const { HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy } = config.proxyEnv;
  const behindProxy = [HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy].some((value) => value !== undefined);
  return behindProxy && !config.pubsubEmulatorHost ? 'client' : config.pubsubPublisher;
}
