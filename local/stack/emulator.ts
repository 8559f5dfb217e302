/**
 * Wiring for the official Pub/Sub emulator (PUBSUB_EMULATOR_HOST): the topics and push
 * subscriptions of the local topology (shared/pubsub/topology.ts), the telemetry one with its
 * dead-letter and retry policy. Made idempotent so a restart reuses the subscriptions (and
 * their backlog), pointing them at the new endpoints.
 * @see https://cloud.google.com/pubsub/docs/emulator
 * @see https://cloud.google.com/pubsub/docs/handling-failures
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { Config } from '../../shared/config.ts';
import type { DeliveryPolicy, PubsubTopology, PushSubscriptionSpec } from '../../shared/pubsub/topology.ts';

const ALREADY_EXISTS = 6;
const isAlreadyExists = (error: unknown) => (error as { code?: number }).code === ALREADY_EXISTS;

export interface EmulatorWiring {
  close(): Promise<void>;
}

export type PushEndpoints = Record<PushSubscriptionSpec['pushTo'], string>;

export async function wireEmulator(
  config: Pick<Config, 'projectId' | 'pubsubEmulatorHost'>,
  topology: PubsubTopology,
  endpoints: PushEndpoints,
): Promise<EmulatorWiring> {
  const { PubSub } = await import('@google-cloud/pubsub');
  const pubsub: PubSub = new PubSub({ projectId: config.projectId, apiEndpoint: `http://${config.pubsubEmulatorHost ?? ''}`, emulatorMode: true });
  for (const topic of Object.values(topology.topics)) {
    await pubsub.createTopic(topic.name).catch((error: unknown) => {
      if (!isAlreadyExists(error)) throw error;
    });
  }
  for (const subscription of topology.subscriptions) {
    await ensurePushSubscription(pubsub, subscription, endpoints[subscription.pushTo], subscriptionPolicies(config.projectId, subscription, topology.delivery));
  }
  return { close: () => pubsub.close() };
}

/** Milliseconds as a protobuf Duration. */
const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

function subscriptionPolicies(projectId: string, subscription: PushSubscriptionSpec, delivery: DeliveryPolicy) {
  return {
    ackDeadlineSeconds: delivery.ackDeadlineSeconds,
    retryPolicy: { minimumBackoff: duration(delivery.minBackoffMs), maximumBackoff: duration(delivery.maxBackoffMs) },
    ...(subscription.deadLetterTopic
      ? {
          deadLetterPolicy: {
            deadLetterTopic: `projects/${projectId}/topics/${subscription.deadLetterTopic}`,
            maxDeliveryAttempts: delivery.maxDeliveryAttempts,
          },
        }
      : {}),
  };
}

async function ensurePushSubscription(
  pubsub: PubSub,
  subscription: PushSubscriptionSpec,
  pushEndpoint: string,
  policies: Record<string, unknown>,
): Promise<void> {
  try {
    await pubsub.topic(subscription.topic).createSubscription(subscription.name, { pushConfig: { pushEndpoint }, ...policies });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    await pubsub.subscription(subscription.name).modifyPushConfig({ pushEndpoint });
  }
}
