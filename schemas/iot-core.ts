/**
 * Cloud IoT Core's device HTTP API, as devices in the field still speak it (retired 2023).
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/projects.locations.registries.devices/publishEvent
 */
import { z } from 'zod';
import { Base64Text } from './base64.ts';
import { eachFieldOnce } from './proto3-json.ts';
import { Text } from './reading.ts';

/**
 * IoT Core's limit on a telemetry event's bytes (its "Telemetry event payload", 256 KB).
 * @see https://cloud.google.com/iot/quotas
 */
export const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;

const tooLarge = `must decode to at most ${MAX_EVENT_PAYLOAD_BYTES} bytes`;

/**
 * Standard or URL-safe base64, padded or not (proto3 JSON accepts both), of an event within
 * IoT Core's limit. The decoded length follows from the text's, so nothing is decoded twice.
 */
const Base64 = Base64Text()
  .min(1, { error: 'must not be empty' })
  .max(Math.ceil((MAX_EVENT_PAYLOAD_BYTES * 4) / 3) + 2, { error: tooLarge })
  .refine((s) => Math.floor((s.replace(/=+$/, '').length * 3) / 4) <= MAX_EVENT_PAYLOAD_BYTES, { error: tooLarge });

/** IoT Core subfolders: the part of the MQTT topic after `events/`. */
const SubFolder = Text.max(256).regex(/^[^\s#+]*$/, { error: 'must not contain whitespace, "#" or "+"' });

const NO_GATEWAYS = "is a gateway's request for a device it names; the bridge has no gateways: the device sends its own";

/**
 * IoT Core's GatewayInfo on publishEvent and setState. `gatewayId`: the device's own request
 * (its path, its JWT), relayed by a gateway: the event or state is the device's, and is taken.
 * `delegatedDeviceId`: a gateway speaking, on its own path and JWT, for a device bound to it.
 * The bridge has no gateways; taking it would file that device's data as the gateway's own.
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/GatewayInfo
 */
export const GatewayInfo = eachFieldOnce(
  z.strictObject({
    gatewayId: Text.optional(),
    gateway_id: Text.optional(),
    delegatedDeviceId: z.never({ error: NO_GATEWAYS }).optional(),
    delegated_device_id: z.never({ error: NO_GATEWAYS }).optional(),
  }),
);

/** The `publishEvent` request body, in proto3 JSON's camelCase or its original snake_case (each field once). */
export const PublishEventRequest = eachFieldOnce(
  z.strictObject({
    binaryData: Base64.optional(),
    binary_data: Base64.optional(),
    subFolder: SubFolder.optional(),
    sub_folder: SubFolder.optional(),
    gatewayInfo: GatewayInfo.optional(),
    gateway_info: GatewayInfo.optional(),
  }),
)
  .refine((r) => (r.binaryData ?? r.binary_data) !== undefined, { error: 'binaryData is required', path: ['binaryData'] })
  .transform((r) => ({ binaryData: (r.binaryData ?? r.binary_data) as string, subFolder: r.subFolder ?? r.sub_folder }));
export type PublishEventRequest = z.infer<typeof PublishEventRequest>;
