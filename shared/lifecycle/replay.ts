/**
 * Replay: republishes `rejected` messages to the telemetry topic once their cause is fixed (a
 * device registered late, a store that was down longer than the retry window), with their
 * payload and original attributes, through the publisher the configuration chose (Pub/Sub,
 * the emulator, or the local stack's in-process Pub/Sub). Each replayed row records
 * `replayed_at`; rows already replayed are skipped unless asked.
 *
 * A replay that lands twice, or alongside a redelivery of the original, is stored once: a
 * reading's identity comes from (device, event time, seq), and readings without a time of
 * their own keep the original publish time through the `originalPublishTime` attribute.
 * @see ../../docs/lifecycle.md
 */
import type { ReplayRequest, ReplayResult } from '../../schemas/lifecycle.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { Publisher } from '../pubsub/publisher.ts';

/** The attribute ingest takes as the publish time of a replayed message. */
export const ORIGINAL_PUBLISH_TIME = 'originalPublishTime';
/** Messages published at once; each waits for Pub/Sub's ack before its row is marked. */
const PUBLISH_CHUNK = 100;

interface RejectedRow {
  id: number;
  payload: string | null;
  attributes: Record<string, string>;
  publish_time: string | null;
}

export interface ReplayDeps {
  db: Database;
  /** Created only when something is to be published (a dry run needs no Pub/Sub). */
  publisher: () => Promise<Publisher>;
  topic: string;
  logger: Logger;
}

export async function replayRejected(request: ReplayRequest, deps: ReplayDeps): Promise<ReplayResult> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  if (request.reason !== undefined) where.push(`reason = ${param(request.reason)}`);
  if (request.stage !== undefined) where.push(`stage = ${param(request.stage)}`);
  if (request.deviceId !== undefined) where.push(`attributes->>'deviceId' = ${param(request.deviceId)}`);
  if (request.since !== undefined) where.push(`at >= ${param(request.since)}`);
  if (request.until !== undefined) where.push(`at < ${param(request.until)}`);
  if (!request.includeReplayed) where.push('replayed_at IS NULL');
  const rows = await deps.db.query<RejectedRow>(
    `SELECT id, payload, attributes, coalesce(detail->>'publishTime', detail->>'sourcePublishTime') AS publish_time
     FROM rejected ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY at, id LIMIT ${param(request.limit + 1)}`,
    params,
  );
  const more = rows.rows.length > request.limit;
  const matched = rows.rows.slice(0, request.limit);
  const replayable = matched.filter((r) => r.payload !== null);
  const result: ReplayResult = {
    dryRun: request.dryRun,
    matched: matched.length,
    replayed: 0,
    skippedWithoutPayload: matched.length - replayable.length,
    more,
    messageIds: [],
  };
  if (request.dryRun || replayable.length === 0) return result;

  const publisher = await deps.publisher();
  for (let i = 0; i < replayable.length; i += PUBLISH_CHUNK) {
    const chunk = replayable.slice(i, i + PUBLISH_CHUNK);
    const ids = await Promise.all(chunk.map((row) => publisher.publish(deps.topic, payloadBytes(row.payload as string), replayAttributes(row))));
    await deps.db.query('UPDATE rejected SET replayed_at = now() WHERE id = ANY($1::bigint[])', [chunk.map((r) => r.id)]);
    result.replayed += chunk.length;
    result.messageIds.push(...ids);
  }
  deps.logger.info('replayed rejected messages', { replayed: result.replayed, more, filter: { ...request, limit: undefined } });
  return result;
}

/** `rejected.payload` back to bytes: UTF-8 text, or `base64:` for bytes that were not UTF-8. */
function payloadBytes(payload: string): Buffer {
  return payload.startsWith('base64:') ? Buffer.from(payload.slice(7), 'base64') : Buffer.from(payload, 'utf8');
}

/**
 * The message's original attributes, without what Pub/Sub added when it dead-lettered it,
 * and with the original publish time (readings without a time of their own take it).
 */
function replayAttributes(row: Pick<RejectedRow, 'attributes' | 'publish_time'>): Record<string, string> {
  const attributes = Object.fromEntries(Object.entries(row.attributes).filter(([key]) => !/^cloudpubsubdeadlettersource/i.test(key)));
  if (row.publish_time !== null && attributes[ORIGINAL_PUBLISH_TIME] === undefined) attributes[ORIGINAL_PUBLISH_TIME] = row.publish_time;
  return attributes;
}
