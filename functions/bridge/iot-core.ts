/**
 * Cloud IoT Core's device API as devices in the field speak it: the `publishEvent` body
 * (base64 `binaryData`, optional `subFolder`), the attributes IoT Core put on the messages
 * it published, and Google's API error body, `{"error": {"code", "message", "status"}}`.
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/projects.locations.registries.devices/publishEvent
 * @see https://cloud.google.com/iot/docs/how-tos/mqtt-bridge#publishing_telemetry_events (message attributes)
 * @see https://cloud.google.com/apis/design/errors (error model and HTTP mapping)
 */
import { errorResponse, toIssues, ValidationError, type ErrorResponse } from '../../shared/errors.ts';
import { PublishEventRequest } from '../../schemas/iot-core.ts';
import type { DeviceAuth } from './credentials-cache.ts';
import type { IotCoreName } from './routes.ts';

export interface PublishedEvent {
  payload: Buffer;
  subFolder?: string;
}

/**
 * A publishEvent body carrying the largest event: its base64 (4/3 of the bytes), the JSON around
 * it and the longest subFolder (256 characters, each at most a 6-byte `\uXXXX` escape), with room
 * to spare. IoT Core's limit is on the event's bytes; a body limit of 256 KiB would refuse events
 * above about 192 KiB that IoT Core took.
 */
export const MAX_PUBLISH_EVENT_BODY_BYTES = 352 * 1024;

export function decodePublishEvent(body: unknown): PublishedEvent {
  const parsed = PublishEventRequest.safeParse(body);
  if (!parsed.success) throw new ValidationError('the publishEvent request is invalid', toIssues(parsed.error.issues));
  const { binaryData, subFolder } = parsed.data;
  // Buffer.from decodes standard and URL-safe base64 alike.
  return { payload: Buffer.from(binaryData, 'base64'), ...(subFolder !== undefined ? { subFolder } : {}) };
}

/**
 * IoT Core's attributes on a device's messages: `deviceId`, `deviceNumId`,
 * `deviceRegistryId`, `deviceRegistryLocation`, `projectId`, and for telemetry `subFolder`
 * (empty when the device named none). The location is known only on IoT Core's paths.
 */
export function iotCoreAttributes(device: DeviceAuth, name: Partial<IotCoreName> & { project: string }, subFolder?: string): Record<string, string> {
  return {
    deviceId: device.deviceId,
    deviceNumId: device.numId,
    deviceRegistryId: name.registry ?? device.registry,
    ...(name.location !== undefined ? { deviceRegistryLocation: name.location } : {}),
    projectId: name.project,
    ...(subFolder !== undefined ? { subFolder } : {}),
  };
}

/** Google's canonical status names for the HTTP statuses the bridge answers. */
const STATUS_BY_HTTP: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};
const CANONICAL = new Set([
  'INVALID_ARGUMENT',
  'OUT_OF_RANGE',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'NOT_FOUND',
  'ABORTED',
  'RESOURCE_EXHAUSTED',
  'UNAVAILABLE',
  'INTERNAL',
]);

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

/**
 * An error as Google's APIs answer it: same HTTP status as the native paths, the body in
 * Google's shape; validation issues become a `google.rpc.BadRequest` with one field
 * violation each, so every issue is still named.
 */
export function googleErrorResponse(error: unknown): { status: number; headers?: Record<string, string>; body: GoogleErrorBody; code: string } {
  const mapped: ErrorResponse = errorResponse(error);
  const named = mapped.body.error.toUpperCase();
  const status = CANONICAL.has(named) ? named : (STATUS_BY_HTTP[mapped.status] ?? 'UNKNOWN');
  const issues = mapped.body.issues ?? [];
  const details = issues.length
    ? [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: issues.map((i) => ({ field: i.path, description: i.message })) }]
    : undefined;
  return {
    status: mapped.status,
    ...(mapped.headers ? { headers: mapped.headers } : {}),
    body: { error: { code: mapped.status, message: mapped.body.message, status, ...(details ? { details } : {}) } },
    code: mapped.body.error,
  };
}
