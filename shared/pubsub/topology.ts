/**
 * The Pub/Sub topology, defined once: the topics, the push subscriptions, and how each
 * environment delivers (ack deadline, retry backoff, dead-letter policy). Read by the local
 * stack's in-process broker, the emulator wiring (local/stack), `npm run wiring` (production)
 * and, through test/shared/pubsub/topology.test.ts, the tables in docs/architecture.md and docs/reliability.md.
 * @see https://cloud.google.com/pubsub/docs/handling-failures
 */
import type { Config } from '../config.ts';

export interface DeliveryPolicy {
  /** A push unanswered this long counts as a nack; at most the receiver's request timeout. */
  ackDeadlineSeconds: number;
  /** Exponential backoff between attempts: from min, doubling, up to max. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Attempts before the telemetry subscription gives a message to the dead-letter topic. */
  maxDeliveryAttempts: number;
}

/**
 * Production (`npm run wiring`): ten attempts, 10 s doubling to 600 s, wait ~40 min
 * (10+20+40+80+160+320+600+600+600 s) before a message is dead-lettered, which outlives a
 * Cloud SQL failover or a maintenance window; what outlives even that lands in `rejected`
 * and is replayed. 10 s and 600 s are Pub/Sub's own default and ceiling.
 */
export const PRODUCTION_DELIVERY: DeliveryPolicy = { ackDeadlineSeconds: 60, minBackoffMs: 10_000, maxBackoffMs: 600_000, maxDeliveryAttempts: 10 };

/**
 * The local stack (in-process broker, or the official emulator): shorter first waits, since
 * a developer watches the retries, but still ~14 min in all (at least ~10.5 min with the
 * broker's jitter), so a store down for minutes dead-letters nothing. PUBSUB_MIN_BACKOFF_MS,
 * PUBSUB_MAX_BACKOFF_MS and PUBSUB_MAX_DELIVERY_ATTEMPTS override it (the tests shorten it).
 */
export const LOCAL_DELIVERY: DeliveryPolicy = { ackDeadlineSeconds: 60, minBackoffMs: 2_000, maxBackoffMs: 120_000, maxDeliveryAttempts: 13 };

/** How long production topics keep messages, acknowledged or not (for seek and replays). */
export const TOPIC_MESSAGE_RETENTION = '7d';

export type PubsubEnvironment = 'production' | 'local';

export interface TopicSpec {
  name: string;
  /** Production message retention; undefined: Pub/Sub's default (none beyond delivery). */
  messageRetention?: string;
}

export interface PushSubscriptionSpec {
  name: string;
  topic: string;
  /** The function the subscription pushes to. */
  pushTo: 'ingest' | 'deadletter';
  /** Where a message goes after `delivery.maxDeliveryAttempts`; none for the dead letters themselves. */
  deadLetterTopic?: string;
}

export interface PubsubTopology {
  environment: PubsubEnvironment;
  /** Readings from the bridge; the telemetry subscription's dead letters; device states (setState). */
  topics: { telemetry: TopicSpec; deadLetter: TopicSpec; state: TopicSpec };
  subscriptions: PushSubscriptionSpec[];
  /** One policy for every push subscription of the environment. */
  delivery: DeliveryPolicy;
}

export type TopologyConfig = Pick<Config, 'telemetryTopic' | 'deadLetterTopic' | 'stateTopic' | 'pubsubDelivery'>;

/** A subscription is named after its topic and the function it feeds. */
const subscriptionName = (topic: string, pushTo: PushSubscriptionSpec['pushTo']): string => `${topic}-${pushTo}`;

export function pubsubTopology(config: TopologyConfig, environment: PubsubEnvironment): PubsubTopology {
  const delivery = environment === 'production' ? PRODUCTION_DELIVERY : { ...LOCAL_DELIVERY, ...config.pubsubDelivery };
  return {
    environment,
    topics: {
      telemetry: { name: config.telemetryTopic, messageRetention: TOPIC_MESSAGE_RETENTION },
      deadLetter: { name: config.deadLetterTopic, messageRetention: TOPIC_MESSAGE_RETENTION },
      // Nothing here subscribes: applications do, as they did to IoT Core's state topic.
      state: { name: config.stateTopic },
    },
    subscriptions: [
      { name: subscriptionName(config.telemetryTopic, 'ingest'), topic: config.telemetryTopic, pushTo: 'ingest', deadLetterTopic: config.deadLetterTopic },
      // No further dead-lettering: deadletter stores whatever it receives.
      { name: subscriptionName(config.deadLetterTopic, 'deadletter'), topic: config.deadLetterTopic, pushTo: 'deadletter' },
    ],
    delivery,
  };
}
