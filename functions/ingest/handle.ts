/**
 * The ingest domain: one Pub/Sub message in, its readings stored in both stores out.
 * Knows nothing of HTTP; failures are PermanentError (record and ack) or TransientError
 * (redeliver).
 */
import { ORIGINAL_PUBLISH_TIME } from '../../shared/lifecycle/replay.ts';
import { DeviceId, isPlausibleEventTime } from '../../schemas/reading.ts';
import { isDeviceId } from '../../schemas/ids.ts';
import type { DeviceDirectory } from './device-directory.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { PermanentError, toIssues } from '../../shared/errors.ts';
import { InvalidJsonError, parseJson } from '../../shared/json.ts';
import type { ReceivedMessage } from '../../shared/pubsub/push-envelope.ts';
import { parseTelemetry } from '../../shared/telemetry.ts';
import { toRows } from './to-rows.ts';
import type { TelemetryWriter } from './writer.ts';

export interface IngestDeps {
  directory: DeviceDirectory;
  writer: TelemetryWriter;
}

export interface IngestOutcome {
  [key: string]: unknown;
  deviceId: string;
  readings: number;
}

export async function ingestMessage(message: ReceivedMessage, deps: IngestDeps, receivedAt: number): Promise<IngestOutcome> {
  // The publish time is the event time of readings without one, so only a plausible one is
  // used: an unwrapped push's header is free text, and a forged envelope can say year 1.
  // A replay of a rejected message carries the original's (shared/lifecycle/replay.ts).
  const publishMs = plausibleTime(message.attributes[ORIGINAL_PUBLISH_TIME] ?? message.publishTime, receivedAt) ?? receivedAt;
  // IoT Core's publishEvent carries the device's bytes unjudged (CBOR, protobuf, text...):
  // what does not decode as telemetry is kept as `not_telemetry`, replayable once a decoder
  // exists, rather than called invalid.
  const reason = message.attributes.projectId !== undefined && message.attributes.deviceNumId !== undefined ? 'not_telemetry' : 'invalid_data';
  const payload = parseData(message.data, reason);
  const parsed = parseTelemetry(payload, { nowMs: publishMs });
  if (!parsed.ok) throw new PermanentError(reason, 'message data is not valid telemetry', { issues: parsed.issues });

  // The deviceId attribute, set by the bridge after authenticating the device, is authoritative.
  const deviceId = message.attributes.deviceId ?? parsed.value.deviceId;
  if (deviceId === undefined) {
    throw new PermanentError('missing_device_id', 'no deviceId attribute and none in the data', {
      issues: [{ path: 'attributes.deviceId', message: 'required' }],
    });
  }
  const validId = isDeviceId(deviceId) ? undefined : DeviceId.safeParse(deviceId);
  if (validId && !validId.success) {
    throw new PermanentError('invalid_device_id', `"${deviceId.slice(0, 100)}" is not a valid device id`, {
      issues: toIssues(validId.error.issues, ['attributes', 'deviceId']),
    });
  }
  const device = await findSender(deps.directory, deviceId, message.attributes.deviceNumId);

  const rows = toRows(parsed.value.readings, {
    device,
    defaultEventMs: publishMs,
    receivedAt: new Date(plausibleTime(message.attributes.receivedAt, receivedAt) ?? publishMs),
    ingestedAt: new Date(),
    messageId: message.messageId ?? null,
  });
  await deps.writer.write(rows);
  return { deviceId, readings: rows.readings.length };
}

/**
 * The registered device that sent the message. The bridge stamps `deviceNumId`: a message
 * from a device deleted since (and perhaps re-created under the same id, with a new number)
 * belongs to no registered device, so nothing of it reaches the new one's readings or state.
 */
async function findSender(directory: DeviceDirectory, deviceId: string, numId: string | undefined) {
  const lookUp = () =>
    directory.get(deviceId).catch((e: unknown) => {
      throw classifyDbError(e, 'looking up the device');
    });
  let device = await lookUp();
  if (device && numId !== undefined && String(device.numId) !== numId) {
    // The cache may predate a delete and re-create: ask once more before refusing.
    directory.forget(deviceId);
    device = await lookUp();
  }
  if (!device)
    throw new PermanentError('unknown_device', `device "${deviceId}" is not registered`, {
      issues: [{ path: 'attributes.deviceId', message: 'unknown device' }],
    });
  if (numId !== undefined && String(device.numId) !== numId) {
    throw new PermanentError('device_replaced', `device "${deviceId}" was deleted after sending this message`, {
      issues: [{ path: 'attributes.deviceNumId', message: `the device now registered under this id is ${device.numId}, not ${numId}` }],
    });
  }
  return device;
}

/** A time from the envelope if a reading could carry it (EventTime's range), else undefined. */
function plausibleTime(text: string | undefined, nowMs: number): number | undefined {
  const ms = text === undefined ? NaN : Date.parse(text);
  return isPlausibleEventTime(ms, nowMs) ? ms : undefined;
}

function parseData(data: Buffer, reason: string): unknown {
  if (data.length === 0) throw new PermanentError(reason, 'message has no data', { issues: [{ path: 'message.data', message: 'empty' }] });
  try {
    return parseJson(data, 'message data', 'message.data');
  } catch (error) {
    // Retrying cannot make it JSON: recorded and acknowledged, not answered 400.
    if (error instanceof InvalidJsonError) throw new PermanentError(reason, error.message, { issues: error.issues, cause: error });
    throw error;
  }
}
