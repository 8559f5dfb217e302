/**
 * Unmarshalling one Pub/Sub message from any of the ways it can arrive over HTTP:
 * - a binary-mode CloudEvent `google.cloud.pubsub.topic.v1.messagePublished` (Eventarc),
 * - the same in structured mode (`application/cloudevents+json`),
 * - a wrapped push body `{message, subscription, deliveryAttempt?}`,
 * - an unwrapped push with write-metadata (payload as body, `x-goog-pubsub-*` headers,
 *   attributes as headers),
 * - an unwrapped push without it: the payload alone, whatever its bytes, which is what a body
 *   without any of the marks above is taken for.
 * @see https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
 * @see https://cloud.google.com/pubsub/docs/push#receive_push
 * @see https://cloud.google.com/pubsub/docs/payload-unwrapping
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { MESSAGE_PUBLISHED_TYPE, MessagePublishedData, PushEnvelope, type PubsubMessage } from '../../schemas/pubsub.ts';
import { HttpError, toIssues, ValidationError } from '../errors.ts';
import { InvalidJsonError, parseJson } from '../json.ts';
import { readWrappedPush } from './wrapped-push.ts';

export type DeliveryForm = 'cloudevent-binary' | 'cloudevent-structured' | 'push-wrapped' | 'push-unwrapped';

/** One received message, whatever form it came in. `data` is decoded. */
export interface ReceivedMessage {
  form: DeliveryForm;
  messageId?: string;
  publishTime?: string;
  attributes: Record<string, string>;
  data: Buffer;
  orderingKey?: string;
  subscription?: string;
  deliveryAttempt?: number;
}

const REQUIRED_CE_HEADERS = ['ce-id', 'ce-source', 'ce-type', 'ce-specversion'] as const;

/**
 * Attribute names the pipeline reads. Unwrapped pushes carry attributes as HTTP headers,
 * which arrive lower-cased; these are restored to their published spelling.
 */
const KNOWN_ATTRIBUTES = [
  'deviceId',
  'deviceNumId',
  'deviceRegistryId',
  'deviceRegistryLocation',
  'projectId',
  'subFolder',
  'registry',
  'schemaVersion',
  'receivedAt',
];
const ATTRIBUTE_SPELLING = new Map(KNOWN_ATTRIBUTES.map((a) => [a.toLowerCase(), a]));
/** Headers that are transport, not attributes, on an unwrapped push. */
const TRANSPORT_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'content-encoding',
  'user-agent',
  'accept',
  'accept-encoding',
  'authorization',
  'connection',
  'from',
  'forwarded',
  'via',
  'traceparent',
  'tracestate',
  'keep-alive',
  'transfer-encoding',
  'expect',
  'te',
]);
const isTransportHeader = (name: string) =>
  TRANSPORT_HEADERS.has(name) || name.startsWith('x-goog-') || name.startsWith('x-forwarded-') || name.startsWith('x-cloud-') || name.startsWith('ce-');

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The JSON event format's media type (structured mode), and the batched format's. */
const STRUCTURED_TYPE = 'application/cloudevents+json';
const BATCH_TYPE = 'application/cloudevents-batch+json';

/**
 * Parses a push request; throws ValidationError (400) naming every problem, or 415 for a
 * batch of CloudEvents, which neither Eventarc nor Pub/Sub sends.
 */
export function parsePushRequest(headers: IncomingHttpHeaders, body: Buffer): ReceivedMessage {
  // Media types are case-insensitive and may carry parameters (`; charset=UTF-8`).
  const mediaType = (header(headers, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (header(headers, 'ce-specversion') !== undefined) return parseCloudEvent(headers, body, 'cloudevent-binary');
  if (mediaType === STRUCTURED_TYPE) return parseCloudEvent(headers, body, 'cloudevent-structured');
  if (mediaType === BATCH_TYPE) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `batched CloudEvents (${BATCH_TYPE}) are not supported: send one event per request, in binary or structured mode`,
      {
        issues: [{ path: 'content-type', message: `${BATCH_TYPE} is not supported` }],
      },
    );
  }
  if (header(headers, 'x-goog-pubsub-message-id') !== undefined) return parseUnwrapped(headers, body);
  return parseWrapped(body);
}

function parseWrapped(body: Buffer): ReceivedMessage {
  let json: unknown;
  try {
    json = parseJson(body, 'the Pub/Sub push body');
  } catch (error) {
    if (error instanceof InvalidJsonError) return unwrappedWithoutMetadata(body);
    throw error;
  }
  const common = readWrappedPush(json);
  if (common) return fromMessage('push-wrapped', common.message, common.subscription, common.deliveryAttempt);
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !('message' in json)) return unwrappedWithoutMetadata(body);
  const parsed = PushEnvelope.safeParse(json);
  if (!parsed.success) throw new ValidationError('invalid Pub/Sub push envelope', toIssues(parsed.error.issues));
  return fromMessage('push-wrapped', parsed.data.message, parsed.data.subscription, parsed.data.deliveryAttempt);
}

/**
 * Payload unwrapping without write metadata: the body is the data, and nothing else is sent
 * (no id, attributes or publish time). Refusing it would only make Pub/Sub redeliver it until
 * it is dead-lettered; the handler judges the data as it judges any message's.
 * @see https://cloud.google.com/pubsub/docs/payload-unwrapping
 */
function unwrappedWithoutMetadata(body: Buffer): ReceivedMessage {
  return { form: 'push-unwrapped', attributes: {}, data: body };
}

function parseUnwrapped(headers: IncomingHttpHeaders, body: Buffer): ReceivedMessage {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isTransportHeader(name)) continue;
    attributes[ATTRIBUTE_SPELLING.get(name) ?? name] = Array.isArray(value) ? value.join(',') : value;
  }
  const attempt = Number(header(headers, 'x-goog-pubsub-delivery-attempt'));
  return {
    form: 'push-unwrapped',
    messageId: header(headers, 'x-goog-pubsub-message-id'),
    publishTime: header(headers, 'x-goog-pubsub-publish-time'),
    subscription: header(headers, 'x-goog-pubsub-subscription-name'),
    orderingKey: header(headers, 'x-goog-pubsub-ordering-key'),
    ...(Number.isInteger(attempt) && attempt > 0 ? { deliveryAttempt: attempt } : {}),
    attributes,
    data: body,
  };
}

function parseCloudEvent(headers: IncomingHttpHeaders, body: Buffer, form: DeliveryForm): ReceivedMessage {
  if (form === 'cloudevent-binary') {
    const missing = REQUIRED_CE_HEADERS.filter((h) => !header(headers, h));
    if (missing.length) {
      throw new ValidationError(
        'CloudEvent is missing required attributes',
        missing.map((h) => ({ path: h, message: 'required' })),
      );
    }
  }
  let event: CloudEventV1<unknown>;
  // The SDK knows a structured event's content type only in four exact spellings: it is handed
  // the bare media type (JSON is UTF-8 whatever the charset parameter says).
  const sdkHeaders = form === 'cloudevent-structured' ? { ...headers, 'content-type': STRUCTURED_TYPE } : headers;
  try {
    const parsed = HTTP.toEvent({ headers: sdkHeaders as Record<string, string>, body: body.toString('utf8') });
    if (Array.isArray(parsed)) throw new Error('batched CloudEvents are not supported');
    event = parsed;
  } catch (error) {
    const sdkIssues = (error as { errors?: unknown[] }).errors;
    throw new ValidationError(`invalid CloudEvent: ${(error as Error).message}`, [
      { path: '', message: (error as Error).message },
      ...(Array.isArray(sdkIssues) ? sdkIssues.map((e) => ({ path: '', message: JSON.stringify(e) })) : []),
    ]);
  }
  if (event.type !== MESSAGE_PUBLISHED_TYPE) {
    throw new ValidationError('unsupported CloudEvent type', [{ path: 'type', message: `expected ${MESSAGE_PUBLISHED_TYPE}, got ${event.type}` }]);
  }
  const data = eventData(event.data);
  const parsed = MessagePublishedData.safeParse(data);
  if (!parsed.success) throw new ValidationError('invalid messagePublished data', toIssues(parsed.error.issues, ['data']));
  return fromMessage(form, parsed.data.message, parsed.data.subscription, parsed.data.deliveryAttempt);
}

/**
 * The event's data as JSON. Binary mode hands it over as text unless its content type is one
 * the SDK parses; structured mode's `data_base64` comes as a typed array of the decoded bytes
 * (the SDK's is a Uint32Array holding one byte per element).
 */
function eventData(data: unknown): unknown {
  if (typeof data === 'string') return parseJson(data, 'the CloudEvent data', 'data');
  if (ArrayBuffer.isView(data)) return parseJson(Buffer.from(Array.from(data as unknown as ArrayLike<number>)), 'the CloudEvent data_base64', 'data_base64');
  return data;
}

function fromMessage(form: DeliveryForm, m: PubsubMessage, subscription?: string, deliveryAttempt?: number): ReceivedMessage {
  return {
    form,
    messageId: m.messageId,
    publishTime: m.publishTime,
    attributes: m.attributes,
    data: Buffer.from(m.data, 'base64'),
    ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
    ...(subscription ? { subscription } : {}),
    // 0 means the subscription counts no attempts (no dead-letter policy).
    ...(deliveryAttempt ? { deliveryAttempt } : {}),
  };
}
