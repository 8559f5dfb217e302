/**
 * The `rejected` table: messages that can never be stored, with the stage that refused
 * them, why, and every issue. Recording is idempotent per (stage, message id), so a
 * redelivered poison message is recorded once.
 */
import type { Issue } from './errors.ts';
import type { Sql } from './db/database.ts';

export interface Rejection {
  stage: 'ingest' | 'warehouse' | 'deadletter' | 'bridge';
  reason: string;
  detail: { message?: string; issues?: Issue[]; [key: string]: unknown };
  payload?: string;
  attributes?: Record<string, string>;
  messageId?: string;
  deliveryAttempt?: number;
  subscription?: string;
}

/** Payloads are kept as text, bounded so a huge poison message cannot bloat the table. */
const MAX_PAYLOAD_CHARS = 1_000_000;

export async function recordRejections(sql: Sql, rejections: Rejection[]): Promise<void> {
  if (rejections.length === 0) return;
  await sql.query(
    `INSERT INTO rejected (stage, reason, detail, payload, attributes, message_id, delivery_attempt, subscription)
     SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::jsonb[], $6::text[], $7::bigint[], $8::text[])
     ON CONFLICT (stage, message_id) DO NOTHING`,
    [
      rejections.map((r) => r.stage),
      rejections.map((r) => textForPostgres(r.reason)),
      rejections.map((r) => jsonForPostgres(r.detail)),
      rejections.map((r) => (r.payload === undefined ? null : textForPostgres(r.payload.slice(0, MAX_PAYLOAD_CHARS)))),
      rejections.map((r) => jsonForPostgres(r.attributes ?? {})),
      rejections.map((r) => (r.messageId === undefined ? null : textForPostgres(r.messageId))),
      rejections.map((r) => r.deliveryAttempt ?? null),
      rejections.map((r) => (r.subscription === undefined ? null : textForPostgres(r.subscription))),
    ],
  );
}

/** The payload of a message as text for `rejected.payload`: UTF-8 if it is, else base64. */
export function payloadText(data: Buffer): string {
  const text = data.toString('utf8');
  return Buffer.from(text, 'utf8').equals(data) ? text : `base64:${data.toString('base64')}`;
}

/**
 * Text that a PostgreSQL text column accepts: it refuses the NUL character, which is kept
 * visible as U+FFFD. (Lone surrogates need nothing here: the driver's UTF-8 encoding already
 * turns them into U+FFFD.) For strings that come from Pub/Sub rather than through a schema
 * that refuses them, such as message ids, subscriptions and payloads of poison messages.
 */
export function textForPostgres(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/**
 * JSON text that jsonb accepts: PostgreSQL refuses the NUL character and lone UTF-16
 * surrogates (which JSON.stringify writes as `\udXXX` escapes), in values and in keys.
 */
export function jsonForPostgres(value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  // JSON.stringify escapes lone surrogates (and only those) as \udXXX: without that sequence
  // the text needs no repair, and the per-value walk is skipped (the hot path of ingest).
  if (text.includes('\\ud')) text = JSON.stringify(wellFormed(value));
  return text.includes('\\u0000') ? text.replace(ESCAPED_NUL, '$1\\ufffd') : text;
}

/** The escape `\u0000` itself, not the text `\\u0000` (an escaped backslash, then `u0000`). */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/** A lone surrogate: a high one not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormedText = (text: string) => text.replace(LONE_SURROGATE, '\uFFFD');

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return wellFormedText(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormedText(k), wellFormed(v)]));
}
