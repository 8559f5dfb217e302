/**
 * The wrapped push body as Pub/Sub sends it, read without zod's generic walk: ingest sees
 * one per reading, and the walk cost more CPU than the HTTP exchange. It takes the common
 * shape (Pub/Sub's: each field in camelCase, in snake_case or both, of the right types, the
 * camelCase one winning as in `PubsubMessage`) and answers undefined for anything else,
 * which then goes through `PushEnvelope` (schemas/pubsub.ts): zod stays the one definition
 * of a valid envelope and the one that names what is wrong. For every input it accepts, it
 * returns what `PushEnvelope` returns (test/shared/pubsub/wrapped-push.test.ts checks both
 * on generated envelopes and on Pub/Sub's own shape).
 */
import { isBase64 } from '../../schemas/base64.ts';
import { PublishTime, type PubsubMessage } from '../../schemas/pubsub.ts';

export interface WrappedPush {
  message: PubsubMessage;
  subscription?: string;
  deliveryAttempt?: number;
}

type Fields = Record<string, unknown>;

/** PublishTime's own pattern (zod's ISO datetime is a pattern test, nothing more). */
const PUBLISH_TIME_PATTERN = PublishTime.def.pattern;

const isRecord = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The envelope, or undefined when the body is not in the common shape (let zod judge it). */
export function readWrappedPush(json: unknown): WrappedPush | undefined {
  if (!isRecord(json)) return undefined;
  const { subscription, deliveryAttempt } = json;
  if (subscription !== undefined && typeof subscription !== 'string') return undefined;
  if (deliveryAttempt !== undefined && !(Number.isSafeInteger(deliveryAttempt) && (deliveryAttempt as number) >= 0)) return undefined;
  const message = readMessage(json.message);
  if (message === undefined) return undefined;
  return { message, subscription, deliveryAttempt: deliveryAttempt as number | undefined };
}

function readMessage(m: unknown): PubsubMessage | undefined {
  if (!isRecord(m)) return undefined;
  const { data } = m;
  if (data !== undefined && !(typeof data === 'string' && isBase64(data))) return undefined;
  // Pub/Sub's push sends both spellings of each field; zod checks each one present, then
  // prefers the camelCase one.
  if (!(isAbsentOr(m.messageId, isId) && isAbsentOr(m.message_id, isId))) return undefined;
  if (!(isAbsentOr(m.publishTime, isPublishTime) && isAbsentOr(m.publish_time, isPublishTime))) return undefined;
  if (!(isAbsentOr(m.orderingKey, isString) && isAbsentOr(m.ordering_key, isString))) return undefined;
  const messageId = (m.messageId ?? m.message_id) as string | undefined;
  if (messageId === undefined) return undefined;
  const publishTime = m.publishTime ?? m.publish_time;
  const orderingKey = m.orderingKey ?? m.ordering_key;
  const attributes = readAttributes(m.attributes);
  if (attributes === undefined) return undefined;
  return {
    data: (data as string | undefined) ?? '',
    attributes,
    messageId: messageId.includes('\u0000') ? messageId.replaceAll('\u0000', '\uFFFD') : messageId,
    publishTime: publishTime as string | undefined,
    orderingKey: orderingKey as string | undefined,
  };
}

const isAbsentOr = (value: unknown, check: (v: unknown) => boolean) => value === undefined || check(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isId = (value: unknown) => isString(value) && value.length > 0;
const isPublishTime = (value: unknown) => isString(value) && PUBLISH_TIME_PATTERN?.test(value) === true;

/**
 * String-valued attributes, passed on as they are: only a plain object, which zod's copy
 * would equal (a `__proto__` key is left to zod, whose copy treats it its own way).
 */
function readAttributes(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {};
  if (!isRecord(value) || Object.getPrototypeOf(value) !== Object.prototype || Object.hasOwn(value, '__proto__')) return undefined;
  for (const key in value) if (typeof value[key] !== 'string') return undefined;
  return value as Record<string, string>;
}
