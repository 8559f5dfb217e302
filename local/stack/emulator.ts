/**
 * Wiring for the official Pub/Sub emulator (PUBSUB_EMULATOR_HOST): the two topics, the push
 * subscription of the telemetry topic to ingest with a dead-letter policy (5 attempts) and
 * a retry policy, and the push subscription of the dead-letter topic to deadletter. Made
 * idempotent so a restart reuses the subscriptions (and their backlog), pointing them at the
 * new endpoints.
 * @see https://cloud.google.com/pubsub/docs/emulator
 * @see https://cloud.google.com/pubsub/docs/handling-failures
 */
import type { PubSub, Subscription } from '@google-cloud/pubsub';
import type { Config } from '../../shared/config.ts';

/** The subscription names the stack uses for a topic pair. */
export const subscriptionNames = (config: Pick<Config, 'telemetryTopic' | 'deadLetterTopic'>) => ({
  ingest: `${config.telemetryTopic}-ingest`,
  deadletter: `${config.deadLetterTopic}-deadletter`,
});

const ALREADY_EXISTS = 6;
const isAlreadyExists = (error: unknown) => (error as { code?: number }).code === ALREADY_EXISTS;

export interface EmulatorWiring {
  ingestSubscription: string;
  deadletterSubscription: string;
  close(): Promise<void>;
}

export async function wireEmulator(config: Config, endpoints: { ingest: string; deadletter: string }): Promise<EmulatorWiring> {
  const { PubSub } = await import('@google-cloud/pubsub');
  const pubsub: PubSub = new PubSub({ projectId: config.projectId, apiEndpoint: `http://${config.pubsubEmulatorHost ?? ''}`, emulatorMode: true });
  for (const topic of [config.telemetryTopic, config.deadLetterTopic, config.stateTopic]) {
    await pubsub.createTopic(topic).catch((error: unknown) => {
      if (!isAlreadyExists(error)) throw error;
    });
  }
  const names = subscriptionNames(config);
  await ensurePushSubscription(pubsub, config.telemetryTopic, names.ingest, endpoints.ingest, {
    deadLetterPolicy: { deadLetterTopic: `projects/${config.projectId}/topics/${config.deadLetterTopic}`, maxDeliveryAttempts: config.pubsubDelivery.maxDeliveryAttempts },
    retryPolicy: { minimumBackoff: duration(config.pubsubDelivery.minBackoffMs), maximumBackoff: duration(config.pubsubDelivery.maxBackoffMs) },
  });
  await ensurePushSubscription(pubsub, config.deadLetterTopic, names.deadletter, endpoints.deadletter, {
    retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 60 } },
  });
  return { ingestSubscription: names.ingest, deadletterSubscription: names.deadletter, close: () => pubsub.close() };
}

/** Milliseconds as a protobuf Duration. */
const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

async function ensurePushSubscription(pubsub: PubSub, topic: string, name: string, pushEndpoint: string, policies: Record<string, unknown>): Promise<Subscription> {
  try {
    const [subscription] = await pubsub.topic(topic).createSubscription(name, { pushConfig: { pushEndpoint }, ackDeadlineSeconds: 60, ...policies });
    return subscription;
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    const subscription = pubsub.subscription(name);
    await subscription.modifyPushConfig({ pushEndpoint });
    return subscription;
  }
}
