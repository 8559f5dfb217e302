/**
 * What the bridge publishes to the telemetry topic: one message per request, data
 * `{"deviceId", "readings": [...]}` with every reading's `ts` as RFC 3339 (the receive time
 * when the device sent none), attributes naming the device, registry, schema version and
 * receive time, plus IoT Core's six attributes for requests that came its way.
 * @see https://cloud.google.com/iot/docs/how-tos/mqtt-bridge#publishing_telemetry_events (IoT Core attributes)
 */
import { READING_SCHEMA_VERSION, type Reading } from '../../schemas/reading.ts';
import type { DeviceAuth } from './credentials-cache.ts';
import type { BridgeRoute } from './routes.ts';

export interface TelemetryMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

export function buildTelemetryMessage(device: DeviceAuth, readings: readonly Reading[], receivedAt: number, route: BridgeRoute, subFolder?: string): TelemetryMessage {
  const receivedIso = new Date(receivedAt).toISOString();
  const published = readings.map(({ deviceId: _deviceId, ts, ...rest }) => ({
    ts: ts === undefined ? receivedIso : new Date(ts).toISOString(),
    ...rest,
  }));
  const attributes: Record<string, string> = {
    deviceId: device.deviceId,
    // Which device of this id sent it: ingest refuses it if the device was deleted (and perhaps re-created) since.
    deviceNumId: device.numId,
    registry: device.registry,
    schemaVersion: READING_SCHEMA_VERSION,
    receivedAt: receivedIso,
  };
  if (route.kind === 'publishEvent') {
    attributes.deviceRegistryId = route.registry;
    attributes.deviceRegistryLocation = route.location;
    attributes.projectId = route.project;
    // Always present, empty when the device named none, so subscribers can filter on it.
    attributes.subFolder = subFolder ?? '';
  }
  return { data: Buffer.from(JSON.stringify({ deviceId: device.deviceId, readings: published })), attributes };
}
