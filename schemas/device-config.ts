/**
 * Device configuration and reported state, in Cloud IoT Core's shapes: the operator sets
 * numbered config versions (`modifyCloudToDeviceConfig`, optimistic concurrency with
 * `versionToUpdate`), devices read them (`getConfig` with `local_version`) and report their
 * state (`setState`). Payloads are opaque bytes, base64 on the wire; int64 versions travel
 * as decimal strings, as in proto3 JSON.
 * @see https://cloud.google.com/iot/docs/reference/cloudiot/rest/v1/projects.locations.registries.devices/modifyCloudToDeviceConfig
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/projects.locations.registries.devices/getConfig
 * @see ../docs/devices.md "Configuration and state"
 */
import { z } from 'zod';
import { Base64Text } from './base64.ts';
import { GatewayInfo } from './iot-core.ts';
import { eachFieldOnce } from './proto3-json.ts';
import { queryInteger } from './query-integer.ts';

/** IoT Core's limit for a config and for a state: 64 KiB of bytes. */
export const MAX_CONFIG_BYTES = 64 * 1024;
export const MAX_STATE_BYTES = 64 * 1024;
/** Versions and states kept per device (IoT Core kept 10 of each). */
export const KEPT_PER_DEVICE = 10;

/** Base64 payload of at most `maxBytes` decoded bytes, normalised to standard base64. */
export const Base64Payload = (maxBytes: number) =>
  Base64Text()
    .max(Math.ceil((maxBytes * 4) / 3) + 4, { error: `must decode to at most ${maxBytes} bytes` })
    .transform((s, ctx) => {
      const bytes = Buffer.from(s, 'base64');
      if (bytes.length > maxBytes) ctx.addIssue({ code: 'custom', message: `must decode to at most ${maxBytes} bytes` });
      return bytes.toString('base64');
    });

/** An int64 as proto3 JSON writes it (a decimal string) or as a number. */
const Version = z.union([
  z.int().min(0),
  z
    .string()
    .regex(/^\d{1,15}$/, { error: 'must be a decimal version number' })
    .transform(Number),
]);

/** `POST /v1/devices/{id}:modifyCloudToDeviceConfig` (camelCase or snake_case, each field once). */
export const ModifyConfigRequest = eachFieldOnce(
  z.strictObject({
    binaryData: Base64Payload(MAX_CONFIG_BYTES).optional(),
    binary_data: Base64Payload(MAX_CONFIG_BYTES).optional(),
    versionToUpdate: Version.optional(),
    version_to_update: Version.optional(),
  }),
)
  .refine((r) => (r.binaryData ?? r.binary_data) !== undefined, { error: 'binaryData is required', path: ['binaryData'] })
  .transform((r) => {
    const versionToUpdate = r.versionToUpdate ?? r.version_to_update;
    // 0, as in IoT Core, means "whatever the current version is".
    return { binaryData: (r.binaryData ?? r.binary_data) as string, ...(versionToUpdate ? { versionToUpdate } : {}) };
  });
export type ModifyConfigRequest = z.infer<typeof ModifyConfigRequest>;

/** The initial config of `POST /v1/devices`: `{"binaryData"}` (version 1). */
export const InitialConfig = z.strictObject({ binaryData: Base64Payload(MAX_CONFIG_BYTES) });

/** IoT Core's `DeviceConfig` as the admin API and the device API answer it. */
export const DeviceConfigResponse = z.object({
  version: z.string(),
  cloudUpdateTime: z.iso.datetime(),
  deviceAckTime: z.iso.datetime().optional(),
  binaryData: z.string().optional(),
});
export type DeviceConfigResponse = z.infer<typeof DeviceConfigResponse>;

/** IoT Core's `DeviceState`. */
export const DeviceStateEntry = z.object({ updateTime: z.iso.datetime(), binaryData: z.string() });
export type DeviceStateEntry = z.infer<typeof DeviceStateEntry>;

/** `GET .../configVersions`: the kept versions, newest first. */
export const ListConfigVersionsResponse = z.object({ deviceConfigs: z.array(DeviceConfigResponse).max(KEPT_PER_DEVICE) });
export type ListConfigVersionsResponse = z.infer<typeof ListConfigVersionsResponse>;
/** `GET .../states`: the kept states, newest first. */
export const ListStatesResponse = z.object({ deviceStates: z.array(DeviceStateEntry).max(KEPT_PER_DEVICE) });
export type ListStatesResponse = z.infer<typeof ListStatesResponse>;

const Count = (name: string) =>
  queryInteger(
    z
      .number()
      .min(0)
      .max(KEPT_PER_DEVICE, { error: `${name} is at most ${KEPT_PER_DEVICE}` }),
  ).optional();

/** `GET .../configVersions?numVersions=` (0 or absent: all kept versions); another parameter is a 400 naming it. */
export const ListConfigVersionsQuery = z.strictObject({ numVersions: Count('numVersions') });
/** `GET .../states?numStates=` (0 or absent: all kept states); another parameter is a 400 naming it. */
export const ListStatesQuery = z.strictObject({ numStates: Count('numStates') });

/** The device API's `setState` body: `{"state": {"binaryData"}}`, either naming (once), and a gateway's relay (GatewayInfo). */
export const SetStateRequest = eachFieldOnce(
  z.strictObject({
    state: eachFieldOnce(
      z.strictObject({ binaryData: Base64Payload(MAX_STATE_BYTES).optional(), binary_data: Base64Payload(MAX_STATE_BYTES).optional() }),
    ).refine((s) => (s.binaryData ?? s.binary_data) !== undefined, { error: 'binaryData is required', path: ['binaryData'] }),
    gatewayInfo: GatewayInfo.optional(),
    gateway_info: GatewayInfo.optional(),
  }),
).transform((r) => ({ binaryData: (r.state.binaryData ?? r.state.binary_data) as string }));
export type SetStateRequest = z.infer<typeof SetStateRequest>;

/** int64's largest value: IoT Core's `local_version` is an int64. */
const INT64_MAX = 2n ** 63n - 1n;

/** Whether decimal digits (leading zeros taken, as decimal) name an int64; more than its 19 digits never do. */
function fitsInt64(digits: string): boolean {
  const significant = digits.replace(/^0+(?=\d)/, '');
  return significant.length <= 19 && BigInt(significant) <= INT64_MAX;
}

/**
 * A `local_version` as IoT Core read it, an int64 in decimal digits: a version no config
 * can have yet (16 digits and more included) is answered OUT_OF_RANGE by the bridge, not
 * refused as a malformed number; past int64 it is malformed. A BigInt, so that the answer
 * names the number sent exactly (without its leading zeros), not a rounded double.
 */
const LocalVersion = z
  .string()
  .regex(/^\d+$/, { error: 'must be a non-negative integer' })
  // zod runs this even after the regex refused the text: only digits are read as a number.
  .refine((digits) => !/^\d+$/.test(digits) || fitsInt64(digits), { error: `must be at most ${INT64_MAX} (an int64)` })
  .transform((digits) => BigInt(digits));

/** `GET .../config?local_version=N` (or `localVersion`, not both): 0 or absent asks for the latest. */
export const GetConfigQuery = eachFieldOnce(z.object({ local_version: LocalVersion.optional(), localVersion: LocalVersion.optional() }));
