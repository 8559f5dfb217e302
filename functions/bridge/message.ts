/**
 * What the bridge publishes to the telemetry topic for its own telemetry path: one message
 * per request, attributes naming the device, registry, schema version and receive time.
 * The data is `{"deviceId", "readings": [...]}` with every reading's `ts` as RFC 3339 (the
 * receive time when the device sent none), or, for a SenML pack, the pack in its resolved
 * form (RFC 8428 section 4.6: full names, absolute times), so ingest stores exactly the
 * names and times the bridge resolved. IoT Core's publishEvent is published as IoT Core
 * did it (the device's bytes): see iot-core.ts.
 * @see ../../docs/devices.md
 */
import { toResolvedPack } from '../../schemas/senml.ts';
import { isoTime } from '../../shared/iso-time.ts';
import { READING_SCHEMA_VERSION, type Reading } from '../../schemas/reading.ts';
import type { NormalisedTelemetry } from '../../shared/telemetry.ts';
import type { DeviceAuth } from './credentials-cache.ts';

export interface TelemetryMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

export function buildTelemetryMessage(device: DeviceAuth, telemetry: NormalisedTelemetry, receivedAt: number): TelemetryMessage {
  const receivedIso = isoTime(receivedAt);
  const attributes: Record<string, string> = {
    deviceId: device.deviceId,
    // Which device of this id sent it: ingest refuses it if the device was deleted (and perhaps re-created) since.
    deviceNumId: device.numId,
    registry: device.registry,
    schemaVersion: READING_SCHEMA_VERSION,
    receivedAt: receivedIso,
  };
  if (telemetry.senml) {
    return { data: Buffer.from(JSON.stringify(toResolvedPack(telemetry.senml))), attributes: { ...attributes, contentType: 'application/senml+json' } };
  }
  const published = telemetry.readings.map((r) => publishedReading(r, receivedIso));
  return { data: Buffer.from(JSON.stringify({ deviceId: device.deviceId, readings: published })), attributes };
}

/**
 * The reading without `deviceId` (the message names it once), `ts` first and as RFC 3339, the
 * rest in the schema's order. Spelled out rather than copied with a rest pattern: this runs for
 * every reading of every request.
 */
/** Does not compile once Reading gains a field that publishedReading does not copy. */
const _everyFieldPublished: Record<Exclude<keyof Reading, 'deviceId' | 'ts' | 'metrics' | 'units' | 'seq' | 'location' | 'tags'>, never> = {};

function publishedReading(r: Reading, receivedIso: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ts: r.ts === undefined ? receivedIso : isoTime(r.ts), metrics: r.metrics };
  if (r.units !== undefined) out.units = r.units;
  if (r.seq !== undefined) out.seq = r.seq;
  if (r.location !== undefined) out.location = r.location;
  if (r.tags !== undefined) out.tags = r.tags;
  return out;
}
