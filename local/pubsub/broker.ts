/**
 * An in-process Pub/Sub for the local stack: topics, push subscriptions with retries and a
 * dead-letter policy, and a durable log, so that `npm start` needs no emulator and a crash
 * loses nothing that was acknowledged to a publisher.
 *
 * Semantics follow Pub/Sub's: at-least-once delivery; a push is acked by 102/200/201/202/204;
 * a nack is retried with exponential backoff; after `maxDeliveryAttempts` the message goes to
 * the dead-letter topic with the `CloudPubSubDeadLetterSource*` attributes and is acked.
 * Messages published but not yet acked survive `kill -9` and are delivered again on restart
 * (their attempt count restarts at 1).
 * @see https://cloud.google.com/pubsub/docs/push
 * @see https://cloud.google.com/pubsub/docs/handling-failures#dead_letter_topic
 */
import type { Logger } from '../../shared/log.ts';
import type { Publisher } from '../../shared/pubsub/publisher.ts';
import { LOCAL_DELIVERY } from '../../shared/pubsub/topology.ts';
import { Journal, type StoredMessage } from './journal.ts';
import { DeadlineError, withDeadline } from '../../shared/deadline.ts';

/** A publish's deadline, as shared/pubsub/google-publisher.ts's toward Google's Pub/Sub. */
const PUBLISH_DEADLINE_MS = 5_000;
import { backoffMs, buildPushBody, checkPushEndpoint, handOver, pushMessage, type LocalReceiver } from './deliver.ts';

export interface PushSubscription {
  name: string;
  topic: string;
  /** Unset: messages wait, as on a subscription without a push endpoint, until modifyPushConfig. */
  pushEndpoint?: string;
  /** The endpoint's handler when it is in this process: pushes are handed to it instead of POSTed (deliver.ts). */
  receiver?: LocalReceiver;
  deadLetter?: { topic: string; maxDeliveryAttempts: number };
}

export interface LocalPubsubOptions {
  /** Where the log lives, e.g. `$DATA_DIR/pubsub`. */
  dir: string;
  projectId: string;
  topics: string[];
  subscriptions: PushSubscription[];
  logger: Logger;
  /**
   * Pushes in flight at once across subscriptions; enough for ingest's group commit to batch.
   * 400 is ingest's containerConcurrency: against 200, the stack benchmark stored 10-20 % more
   * readings/s for the same CPU per reading, with less backlog left at the end.
   */
  maxInFlight?: number;
  /** Retry backoff and ack deadline; the local policy of shared/pubsub/topology.ts unless given. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The ack deadline: a push unanswered this long counts as a nack. */
  pushTimeoutMs?: number;
  compactAfterLines?: number;
  /**
   * How long a publish may wait for its record to reach the disk (5 s, as the bridge's publish
   * to Google's Pub/Sub): past it the publish is refused (the device hears 503, and `/healthz`
   * reports the timeout), and a record that lands later is acked at once, so never delivered.
   */
  publishDeadlineMs?: number;
}

export interface LocalPubsubStats {
  published: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  /** Deliveries handed to a receiver in this process rather than POSTed (each attempt counts). */
  handedOver: number;
  inFlight: number;
  /** Messages waiting for delivery or for a retry. */
  backlog: number;
  fsyncs: number;
  /** Times the log was rewritten with only the unacked messages. */
  compactions: number;
}

export interface LocalPubsub extends Publisher {
  stats(): LocalPubsubStats;
  /**
   * Points a subscription at its endpoint (as Pub/Sub's modifyPushConfig); waiting messages go
   * there. With a `receiver`, the endpoint's own handler in this process, pushes are handed to it
   * without HTTP; the endpoint stays what the subscription reports.
   */
  modifyPushConfig(subscription: string, pushEndpoint: string, receiver?: LocalReceiver): void;
  /** Stops delivering, lets in-flight pushes finish, writes the log and closes it. */
  close(): Promise<void>;
}

interface Delivery {
  message: StoredMessage;
  subscription: PushSubscription;
  attempt: number;
}

/** Opens the log, then starts delivering whatever was published and never acked. */
export async function openLocalPubsub(options: LocalPubsubOptions): Promise<LocalPubsub> {
  const journal = new Journal({ dir: options.dir, compactAfterLines: options.compactAfterLines });
  const topics = new Set(options.topics);
  // Copies: modifyPushConfig changes the broker's subscriptions, not the caller's objects.
  const subscriptions = options.subscriptions.map((s) => ({ ...s }));
  const subscriptionsOf = new Map<string, PushSubscription[]>();
  for (const s of subscriptions) {
    if (!topics.has(s.topic)) throw new Error(`subscription ${s.name}: topic ${s.topic} does not exist`);
    if (s.pushEndpoint !== undefined && !s.receiver) checkPushEndpoint(s.pushEndpoint);
    subscriptionsOf.set(s.topic, [...(subscriptionsOf.get(s.topic) ?? []), s]);
  }
  const byName = new Map(subscriptions.map((s) => [s.name, s]));
  const maxInFlight = options.maxInFlight ?? 400;
  const minBackoff = options.minBackoffMs ?? LOCAL_DELIVERY.minBackoffMs;
  const maxBackoff = options.maxBackoffMs ?? LOCAL_DELIVERY.maxBackoffMs;
  const pushTimeout = options.pushTimeoutMs ?? LOCAL_DELIVERY.ackDeadlineSeconds * 1000;
  const publishDeadlineMs = options.publishDeadlineMs ?? PUBLISH_DEADLINE_MS;
  const log = options.logger.child({ component: 'local-pubsub' });
  const counters = { published: 0, acked: 0, nacked: 0, deadLettered: 0, handedOver: 0 };

  let ready: Delivery[] = [];
  let head = 0;
  let inFlight = 0;
  let waitingRetry = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  /** Deliveries to subscriptions that have no push endpoint yet. */
  const unpushed = new Map<string, Delivery[]>();
  const inFlightDone = new Set<Promise<void>>();

  const enqueue = (delivery: Delivery) => {
    const { name, pushEndpoint } = delivery.subscription;
    if (pushEndpoint === undefined) {
      unpushed.set(name, [...(unpushed.get(name) ?? []), delivery]);
      return;
    }
    ready.push(delivery);
    pump();
  };

  function pump(): void {
    while (!closed && inFlight < maxInFlight && head < ready.length) {
      const delivery = ready[head] as Delivery;
      head += 1;
      inFlight += 1;
      const done = deliver(delivery).finally(() => {
        inFlight -= 1;
        inFlightDone.delete(done);
        pump();
      });
      inFlightDone.add(done);
    }
    if (head > 1024 && head * 2 > ready.length) {
      ready = ready.slice(head);
      head = 0;
    }
  }

  async function deliver(delivery: Delivery): Promise<void> {
    const { message, subscription, attempt } = delivery;
    const body = buildPushBody(message, `projects/${options.projectId}/subscriptions/${subscription.name}`, attempt);
    if (subscription.receiver) counters.handedOver += 1;
    const outcome = subscription.receiver
      ? await handOver(subscription.receiver, subscription.pushEndpoint as string, body, pushTimeout)
      : await pushMessage(subscription.pushEndpoint as string, body, pushTimeout);
    if (outcome.acked) {
      counters.acked += 1;
      journal.ack(message.id, subscription.name);
      return;
    }
    counters.nacked += 1;
    const policy = subscription.deadLetter;
    if (policy && attempt >= policy.maxDeliveryAttempts) {
      if (await deadLetter(delivery, policy.topic)) return;
    }
    log.debug('push nacked', { subscription: subscription.name, messageId: message.id, attempt, result: outcome.result });
    retryLater({ ...delivery, attempt: attempt + 1 });
  }

  /** Forwards the message to the dead-letter topic, then acks it; false if that publish failed. */
  async function deadLetter(delivery: Delivery, topic: string): Promise<boolean> {
    const { message, subscription, attempt } = delivery;
    try {
      await publish(topic, Buffer.from(message.data, 'base64'), {
        ...message.attributes,
        CloudPubSubDeadLetterSourceDeliveryCount: String(attempt),
        CloudPubSubDeadLetterSourceSubscription: subscription.name,
        CloudPubSubDeadLetterSourceSubscriptionProject: options.projectId,
        CloudPubSubDeadLetterSourceTopicPublishTime: message.publishTime,
      });
    } catch (error) {
      log.error('dead-lettering failed; will retry', { messageId: message.id, error });
      return false;
    }
    counters.deadLettered += 1;
    journal.ack(message.id, subscription.name);
    log.warn('message dead-lettered', { subscription: subscription.name, messageId: message.id, attempts: attempt, deadLetterTopic: topic });
    return true;
  }

  function retryLater(delivery: Delivery): void {
    if (closed) return;
    waitingRetry += 1;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        waitingRetry -= 1;
        enqueue(delivery);
      },
      backoffMs(delivery.attempt - 1, minBackoff, maxBackoff),
    );
    timers.add(timer);
  }

  async function publish(topic: string, data: Buffer, attributes: Record<string, string>): Promise<string> {
    if (closed) throw new Error('the local Pub/Sub is closed');
    if (!topics.has(topic)) throw new Error(`NOT_FOUND: topic ${topic} does not exist`);
    const subscriptions = subscriptionsOf.get(topic) ?? [];
    const message: StoredMessage = {
      id: journal.nextId(),
      topic,
      data: data.toString('base64'),
      attributes,
      publishTime: new Date().toISOString(),
      pending: subscriptions.map((s) => s.name),
    };
    // A topic without subscriptions keeps nothing, as in Pub/Sub.
    if (subscriptions.length > 0) await appendWithin(message);
    counters.published += 1;
    for (const subscription of subscriptions) enqueue({ message, subscription, attempt: 1 });
    return message.id;
  }

  /**
   * The message's record on disk within the publish deadline. A disk that stalls (frozen,
   * failing) otherwise held every publish, and every device, for as long as it stalled.
   */
  function appendWithin(message: StoredMessage): Promise<void> {
    const appended = journal.append(message);
    return withDeadline(appended, publishDeadlineMs, 'the local Pub/Sub log', 'publish').catch((error: unknown) => {
      // Refused: the publisher was told nothing was accepted, so a record that lands later is
      // acked at once and never delivered.
      if (error instanceof DeadlineError)
        appended.then(
          () => {
            for (const subscription of [...message.pending]) journal.ack(message.id, subscription);
          },
          () => undefined,
        );
      throw error;
    });
  }

  const recovered = await journal.open();
  for (const message of recovered) {
    for (const name of message.pending) {
      const subscription = byName.get(name);
      if (subscription) enqueue({ message, subscription, attempt: 1 });
    }
  }
  if (recovered.length > 0) log.info('redelivering messages not acked before the last stop', { messages: recovered.length });

  return {
    publish,
    modifyPushConfig(name, pushEndpoint, receiver) {
      const subscription = byName.get(name);
      if (!subscription) throw new Error(`NOT_FOUND: subscription ${name} does not exist`);
      if (!receiver) checkPushEndpoint(pushEndpoint);
      subscription.pushEndpoint = pushEndpoint;
      if (receiver) subscription.receiver = receiver;
      else delete subscription.receiver;
      const waiting = unpushed.get(name) ?? [];
      unpushed.delete(name);
      for (const delivery of waiting) enqueue(delivery);
    },
    stats: () => ({
      ...counters,
      inFlight,
      backlog: ready.length - head + waitingRetry + [...unpushed.values()].reduce((n, w) => n + w.length, 0),
      fsyncs: journal.stats.fsyncs,
      compactions: journal.stats.compactions,
    }),
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...inFlightDone]);
      await journal.close();
    },
  };
}
