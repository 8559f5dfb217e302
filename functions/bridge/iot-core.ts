/**
 * The body of Cloud IoT Core's `publishEvent`: base64 `binaryData` (the device's own
 * payload, here JSON telemetry) and an optional `subFolder`.
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/projects.locations.registries.devices/publishEvent
 */
import { toIssues, ValidationError } from '../../shared/errors.ts';
import { PublishEventRequest } from '../../schemas/iot-core.ts';

export interface PublishedEvent {
  payload: Buffer;
  subFolder?: string;
}

export function decodePublishEvent(body: unknown): PublishedEvent {
  const parsed = PublishEventRequest.safeParse(body);
  if (!parsed.success) throw new ValidationError('the publishEvent request is invalid', toIssues(parsed.error.issues));
  const { binaryData, subFolder } = parsed.data;
  // Buffer.from decodes standard and URL-safe base64 alike.
  return { payload: Buffer.from(binaryData, 'base64'), ...(subFolder !== undefined ? { subFolder } : {}) };
}
