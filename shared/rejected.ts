/**
 * The `rejected` table: messages that can never be stored, with the stage that refused
 * them, why, and every issue. Recording is idempotent per (stage, message id), so a
 * redelivered poison message is recorded once.
 */
import type { Issue } from './errors.ts';
import type { Sql } from './db/database.ts';
import { jsonForPostgres, textForPostgres } from './db/postgres-text.ts';

export interface Rejection {
  stage: 'ingest' | 'warehouse' | 'deadletter';
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
