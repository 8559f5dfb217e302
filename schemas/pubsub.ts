/**
 * Pub/Sub messages as push subscriptions and Eventarc deliver them. Both camelCase and
 * snake_case field names occur in the wild (REST JSON vs. protobuf JSON of older clients).
 * @see https://cloud.google.com/pubsub/docs/push#receive_push
 * @see https://github.com/googleapis/google-cloudevents (google.events.cloud.pubsub.v1.MessagePublishedData)
 */
import { z } from 'zod';
import { Base64Text } from './base64.ts';

/** A publish time as Pub/Sub writes it: RFC 3339 with an offset or `Z`. */
export const PublishTime = z.iso.datetime({ offset: true });

/** A Pub/Sub message in either naming; normalised to camelCase with `data` still base64. */
export const PubsubMessage = z
  .looseObject({
    data: Base64Text('data must be base64').optional(),
    attributes: z.record(z.string(), z.string()).nullish(),
    messageId: z.string().min(1).optional(),
    message_id: z.string().min(1).optional(),
    publishTime: PublishTime.optional(),
    publish_time: PublishTime.optional(),
    orderingKey: z.string().optional(),
    ordering_key: z.string().optional(),
  })
  .refine((m) => (m.messageId ?? m.message_id) !== undefined, {
    error: 'messageId (or message_id) is required',
    path: ['messageId'],
  })
  .transform((m) => ({
    data: m.data ?? '',
    attributes: m.attributes ?? {},
    // An opaque id, kept as given except for NUL, which no PostgreSQL text column can hold.
    messageId: (m.messageId ?? (m.message_id as string)).replaceAll('\u0000', '\uFFFD'),
    publishTime: m.publishTime ?? m.publish_time,
    orderingKey: m.orderingKey ?? m.ordering_key,
  }));
export type PubsubMessage = z.output<typeof PubsubMessage>;

/**
 * The delivery attempt: 1 on the first delivery; 0 (MessagePublishedData's proto3 default) when
 * the subscription has no dead-letter policy, which the receivers read as no count.
 * @see https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/cloud/pubsub/v1/data.proto
 */
export const DeliveryAttempt = z.int().min(0);

/** The wrapped push request body. */
export const PushEnvelope = z.looseObject({
  message: PubsubMessage,
  subscription: z.string().optional(),
  deliveryAttempt: DeliveryAttempt.optional(),
});
export type PushEnvelope = z.output<typeof PushEnvelope>;

/** CloudEvent type for Pub/Sub deliveries through Eventarc. */
export const MESSAGE_PUBLISHED_TYPE = 'google.cloud.pubsub.topic.v1.messagePublished';

/** The data of a `messagePublished` CloudEvent. */
export const MessagePublishedData = z.looseObject({
  message: PubsubMessage,
  subscription: z.string().optional(),
  deliveryAttempt: DeliveryAttempt.optional(),
});
export type MessagePublishedData = z.output<typeof MessagePublishedData>;
