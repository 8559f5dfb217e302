/**
 * Which Pub/Sub a process publishes to, decided here and only here: the local stack's
 * in-process broker when the stack hands one over, else Google Pub/Sub (google-publisher.ts), the
 * official emulator when PUBSUB_EMULATOR_HOST is configured and real Pub/Sub otherwise.
 */
import type { Config } from '../config.ts';
import type { Publisher } from './publisher.ts';

export interface PublisherChoice {
  /** The local stack's in-process broker; the stack opens and closes it, so closing the publisher leaves it open. */
  localBroker?: Publisher;
}

export async function openPublisher(
  config: Pick<Config, 'projectId' | 'pubsubEmulatorHost' | 'pubsubPublisher'>,
  choice: PublisherChoice = {},
): Promise<Publisher> {
  const { localBroker } = choice;
  if (localBroker) return { publish: (topic, data, attributes) => localBroker.publish(topic, data, attributes), close: async () => undefined };
  const { createPubsubPublisher } = await import('./google-publisher.ts');
  return createPubsubPublisher({
    projectId: config.projectId,
    transport: config.pubsubPublisher,
    ...(config.pubsubEmulatorHost ? { emulatorHost: config.pubsubEmulatorHost } : {}),
  });
}
