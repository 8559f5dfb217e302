/**
 * deadletter: receives messages that the telemetry subscription gave up on (after its
 * dead-letter policy's maximum delivery attempts) and keeps each in `rejected`, with the
 * attempts, the source subscription, the original attributes and the payload, so that an
 * operator can see and replay them. Same input forms as ingest; idempotent per message id.
 * @see ../../docs/architecture.md
 * @see https://cloud.google.com/pubsub/docs/handling-failures#dead_letter_topic
 */
import { classifyDbError } from '../../shared/db/database.ts';
import { createPushFunction } from '../../shared/runtime/push-function.ts';
import type { ReceivedMessage } from '../../shared/pubsub/push-envelope.ts';
import { payloadText, recordRejections, type Rejection } from '../../shared/rejected.ts';
import { defineFunction } from '../../shared/runtime/function.ts';
import type { Platform } from '../../shared/runtime/platform.ts';

/**
 * The row for one dead-lettered message: Pub/Sub's `CloudPubSubDeadLetterSource*` attributes
 * say where it came from (lower-cased when they arrive as headers of an unwrapped push).
 */
function toRejection(message: ReceivedMessage): Rejection {
  const { attributes } = message;
  const source = (name: string) => attributes[`CloudPubSubDeadLetterSource${name}`] ?? attributes[`cloudpubsubdeadlettersource${name.toLowerCase()}`];
  const count = Number(source('DeliveryCount'));
  return {
    stage: 'deadletter',
    reason: 'dead_lettered',
    detail: {
      message: 'delivery failed on every attempt the subscription allows',
      sourceSubscription: source('Subscription'),
      sourceProject: source('SubscriptionProject'),
      sourcePublishTime: source('TopicPublishTime'),
      deadLetterSubscription: message.subscription,
      form: message.form,
    },
    payload: payloadText(message.data),
    attributes,
    ...(message.messageId === undefined ? {} : { messageId: message.messageId }),
    ...(Number.isFinite(count) ? { deliveryAttempt: count } : message.deliveryAttempt === undefined ? {} : { deliveryAttempt: message.deliveryAttempt }),
    subscription: source('Subscription') ?? message.subscription,
  };
}

async function storeDeadLetter(platform: Platform, message: ReceivedMessage) {
  try {
    await recordRejections(await platform.database(), [toRejection(message)]);
  } catch (cause) {
    // Unrecorded means unacked: the dead-letter subscription delivers it again.
    throw classifyDbError(cause, 'recording a dead-lettered message');
  }
  return { recorded: true };
}

export default defineFunction({
  name: 'deadletter',
  create(platform) {
    return createPushFunction({
      stage: 'deadletter',
      platform,
      handle: (message) => storeDeadLetter(platform, message),
      // The body, its data decoded, the payload as text and as a query parameter.
      memoryPerMessageByte: 8,
    });
  },
});
