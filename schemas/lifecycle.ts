/**
 * The wire shapes of the lifecycle operations: the registry's `POST /v1/rejected:replay`
 * (and `npm run replay`) and `POST /v1/maintenance:run`. See docs/lifecycle.md.
 */
import { z } from 'zod';
import { DeviceId, Text } from './reading.ts';

/** Rows one replay call republishes at most; the answer says when more remain. */
export const MAX_REPLAY_LIMIT = 10_000;
export const DEFAULT_REPLAY_LIMIT = 1_000;

const Instant = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time with an offset, e.g. 2026-11-27T10:00:00Z' });

export const ReplayRequest = z
  .strictObject({
    /** `rejected.reason`, e.g. `unknown_device`, `dead_lettered`. */
    reason: Text.min(1).max(200).optional(),
    stage: z.enum(['ingest', 'warehouse', 'deadletter']).optional(),
    /** The device the message was published for (its `deviceId` attribute). */
    deviceId: DeviceId.optional(),
    /** Rows recorded at or after `since`, before `until`. */
    since: Instant.optional(),
    until: Instant.optional(),
    /** Count what would be replayed; publish nothing. */
    dryRun: z.boolean().default(false),
    /** Replay rows already replayed too (by default they are skipped). */
    includeReplayed: z.boolean().default(false),
    limit: z.number().int().min(1).max(MAX_REPLAY_LIMIT).default(DEFAULT_REPLAY_LIMIT),
  })
  .refine((r) => r.since === undefined || r.until === undefined || Date.parse(r.since) < Date.parse(r.until), {
    path: ['until'],
    error: 'must be after since',
  });
export type ReplayRequest = z.infer<typeof ReplayRequest>;

export const ReplayResult = z.object({
  dryRun: z.boolean(),
  /** Rows that matched (within the limit). */
  matched: z.number().int(),
  /** Messages republished (0 on a dry run). */
  replayed: z.number().int(),
  /** Rows without a payload, which cannot be replayed. */
  skippedWithoutPayload: z.number().int(),
  /** True when more rows match than `limit`: call again. */
  more: z.boolean(),
  messageIds: z.array(z.string()),
});
export type ReplayResult = z.infer<typeof ReplayResult>;
