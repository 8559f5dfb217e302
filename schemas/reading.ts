/**
 * A device reading, as devices send it and as the bridge publishes it.
 * @see ../docs/devices.md for the wire contract.
 */
import { z } from 'zod';
import { DeviceId } from './ids.ts';

/** Metric names: a letter, then up to 127 of letters, digits and `_ . : / -`. */
export const METRIC_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$/;
/** Device ids: one schema for every place they arrive (schemas/ids.ts). */
export { DEVICE_ID_PATTERN, DeviceId } from './ids.ts';

export const MAX_READINGS_PER_REQUEST = 500;
export const MAX_METRICS_PER_READING = 256;
export const MAX_TEXT_VALUE_LENGTH = 1024;
/** Readings older than this are refused: a device whose clock was never set reports 1970. */
export const EARLIEST_EVENT_MS = Date.UTC(2000, 0, 1);
/** How far ahead of the receiver's clock a reading may be stamped. */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;

/**
 * Free text a device or an operator sends: JSON escapes can spell the NUL character and
 * unpaired UTF-16 surrogates, which no store keeps faithfully (PostgreSQL refuses both).
 */
export const Text = z.string().refine((s) => !s.includes('\u0000') && s.isWellFormed(), {
  error: 'must not contain the NUL character or unpaired UTF-16 surrogates',
});

export const MetricName = z.string().regex(METRIC_NAME_PATTERN, { error: 'metric names must match ^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$' });

/** A metric value: a finite number, a boolean or a short string. */
export const MetricValue = z.union([z.number(), z.boolean(), Text.max(MAX_TEXT_VALUE_LENGTH)], {
  error: 'must be a finite number, a boolean or a string',
});

/** Whether a reading could have been taken at `ms`: not before 2000, not far past `nowMs`. */
export function isPlausibleEventTime(ms: number, nowMs: number = Date.now()): boolean {
  return ms >= EARLIEST_EVENT_MS && ms <= nowMs + MAX_FUTURE_SKEW_MS;
}
const EVENT_TIME_RANGE = { error: 'must be between 2000-01-01 and 24 h after now' };

/** RFC 3339 with an explicit offset (seconds required). */
export const IsoDateTime = z.iso.datetime({ offset: true });

/** RFC 3339 with an explicit offset, or epoch milliseconds. Output: epoch milliseconds. */
export const EventTime = z
  .union([IsoDateTime.transform((s) => Date.parse(s)), z.number().transform((ms) => Math.round(ms))], {
    error: 'must be an RFC 3339 timestamp with offset or epoch milliseconds',
  })
  .refine((ms) => isPlausibleEventTime(ms), EVENT_TIME_RANGE);

export const Location = z.strictObject({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  alt: z.number().optional(),
});

/**
 * Tags of a reading or a device: copied onto every measurement row of the reading (one per
 * metric), so their number and size are bounded, as Google Cloud bounds labels.
 */
export const MAX_TAGS = 64;
export const MAX_TAG_CHARACTERS = 4_096;

export const Tags = z
  .record(Text.min(1).max(128), Text.max(256))
  .refine((tags) => Object.keys(tags).length <= MAX_TAGS, { error: `at most ${MAX_TAGS} tags` })
  .refine((tags) => tagCharacters(tags) <= MAX_TAG_CHARACTERS, { error: `at most ${MAX_TAG_CHARACTERS} characters of tag keys and values in all` })
  .meta({ maxProperties: MAX_TAGS, description: `At most ${MAX_TAGS} tags, and ${MAX_TAG_CHARACTERS} characters of keys and values in all.` });

/** The characters of a tags object's keys and values. */
export function tagCharacters(tags: Record<string, string>): number {
  let characters = 0;
  for (const key in tags) characters += key.length + (tags[key] as string).length;
  return characters;
}

export const Metrics = z
  .record(MetricName, MetricValue)
  .refine((m) => Object.keys(m).length > 0, { error: 'a reading needs at least one metric' })
  .refine((m) => Object.keys(m).length <= MAX_METRICS_PER_READING, {
    error: `at most ${MAX_METRICS_PER_READING} metrics per reading`,
  });

/** One reading (schema v1). */
export const Reading = z.strictObject({
  deviceId: DeviceId.optional(),
  ts: EventTime.optional(),
  metrics: Metrics,
  /** Units per metric name (SenML `u`), carried to the warehouse's `unit` column. */
  units: z.record(MetricName, Text.max(32)).optional(),
  seq: z.int().min(0).optional(),
  location: Location.optional(),
  tags: Tags.optional(),
});
export type Reading = z.infer<typeof Reading>;

/** Several readings of one device. */
export const ReadingBatch = z.strictObject({
  deviceId: DeviceId,
  readings: z.array(Reading).min(1).max(MAX_READINGS_PER_REQUEST),
});
export type ReadingBatch = z.infer<typeof ReadingBatch>;

/** The schema version the bridge stamps on what it publishes (attribute `schemaVersion`). */
export const READING_SCHEMA_VERSION = '1';
