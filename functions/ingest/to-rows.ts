/**
 * From validated readings to stored rows: one `readings` row per reading, one warehouse
 * `measurements` row per metric value, enriched with the device's registry, site and tags.
 */
import type { Reading } from '../../schemas/reading.ts';
import type { MeasurementRow } from '../../schemas/tables.ts';
import type { DeviceInfo } from './device-directory.ts';
import { readingIdOf } from './reading-id.ts';
import type { NewReading } from './readings-store.ts';

export interface RowContext {
  device: DeviceInfo;
  /** Used for readings without `ts`: the message's publish time, stable across redeliveries. */
  defaultEventMs: number;
  receivedAt: Date | null;
  ingestedAt: Date;
  messageId: string | null;
}

export interface MessageRows {
  readings: NewReading[];
  measurements: MeasurementRow[];
}

export function toRows(readings: Reading[], ctx: RowContext): MessageRows {
  const out: MessageRows = { readings: [], measurements: [] };
  const seen = new Set<string>();
  const deviceTags = nonEmpty(ctx.device.tags);
  for (const reading of readings) {
    const eventMs = reading.ts ?? ctx.defaultEventMs;
    const readingId = readingIdOf(ctx.device.deviceId, eventMs, reading);
    // The same identity twice in one message: the first wins, in both stores (docs/reliability.md).
    if (seen.has(readingId)) continue;
    seen.add(readingId);
    const eventTs = new Date(eventMs);
    out.readings.push({
      reading_id: readingId,
      device_id: ctx.device.deviceId,
      event_ts: eventTs,
      received_at: ctx.receivedAt,
      metrics: reading.metrics,
      seq: reading.seq ?? null,
      location: reading.location ?? null,
      message_id: ctx.messageId,
    });
    // One tags object per reading (the device's own when the reading adds none), shared by its rows.
    const tags = reading.tags ? nonEmpty({ ...ctx.device.tags, ...reading.tags }) : deviceTags;
    for (const [metric, value] of Object.entries(reading.metrics)) {
      out.measurements.push({
        reading_id: readingId,
        device_id: ctx.device.deviceId,
        event_ts: eventTs,
        metric,
        value: typeof value === 'number' ? value : null,
        value_text: typeof value === 'string' ? value : null,
        value_bool: typeof value === 'boolean' ? value : null,
        unit: reading.units?.[metric] ?? null,
        registry: ctx.device.registry,
        site: ctx.device.site,
        tags,
        lat: reading.location?.lat ?? null,
        lon: reading.location?.lon ?? null,
        seq: reading.seq ?? null,
        received_at: ctx.receivedAt,
        ingested_at: ctx.ingestedAt,
        message_id: ctx.messageId,
      });
    }
  }
  return out;
}

function nonEmpty(tags: Record<string, string> | null | undefined): Record<string, string> | null {
  return tags && Object.keys(tags).length ? tags : null;
}
