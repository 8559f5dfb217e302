/**
 * Identifiers, wherever they arrive (a URL path, a JSON body, a Pub/Sub attribute, the
 * stack's internal API), checked by one set of schemas before anything else sees them.
 * Each is bounded first, so that a 5,000-character id is refused as too long naming the
 * limit, then refused if it holds a control character (NUL included: PostgreSQL cannot even
 * compare it) or broken UTF-16, and only then matched against its pattern.
 * @see ../docs/reliability.md "Identifiers"
 */
import { z } from 'zod';

/** Device ids: at most this long (Cloud IoT Core's limit). */
export const MAX_DEVICE_ID_LENGTH = 255;
/** Project, location and registry ids in IoT Core paths (Google's limits are lower). */
export const MAX_PATH_ID_LENGTH = 128;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** A bounded string with no control characters and no unpaired surrogates. */
export const identifier = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `must be at most ${max} characters` })
    .refine((s) => !CONTROL_CHARACTER.test(s) && s.isWellFormed(), {
      error: 'must not contain control characters (NUL included) or unpaired UTF-16 surrogates',
      abort: true,
    });

/** Device ids follow Cloud IoT Core's rule, which devices in the field were built against. */
export const DEVICE_ID_PATTERN = /^[a-zA-Z][-a-zA-Z0-9._+~%]{2,254}$/;

export const DeviceId = identifier(MAX_DEVICE_ID_LENGTH).pipe(
  z
    .string()
    .regex(DEVICE_ID_PATTERN, { error: 'must match [a-zA-Z][-a-zA-Z0-9._+~%]{2,254}' })
    .refine((id) => !id.toLowerCase().startsWith('goog'), { error: 'must not start with "goog"' }),
);

/**
 * Whether `value` is a valid device id, without zod's walk (ingest asks once per message).
 * The pattern is ASCII, so it already excludes control characters and broken UTF-16; the
 * answer is DeviceId's, which names the problem when it is false (test/schemas/ids.test.ts).
 */
export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID_PATTERN.test(value) && !/^goog/i.test(value);
}

/** Registry names, like IoT Core's: a letter, then 2 to 63 of letters, digits and `-._+~%`. */
export const RegistryId = identifier(MAX_PATH_ID_LENGTH).pipe(
  z.string().regex(/^[a-zA-Z][-a-zA-Z0-9._+~%]{2,63}$/, { error: 'must match [a-zA-Z][-a-zA-Z0-9._+~%]{2,63}' }),
);

/** Project and location segments of an IoT Core path: compared with the configuration only. */
export const PathSegmentId = identifier(MAX_PATH_ID_LENGTH);

/** `/v1/devices/{deviceId}/...` (the bridge's native paths, the registry's, the read API's). */
export const DevicePathIds = z.object({ deviceId: DeviceId });

/** `/v1/projects/{project}/locations/{location}/registries/{registry}/devices/{deviceId}...` */
export const IotCorePathIds = z.object({ project: PathSegmentId, location: PathSegmentId, registry: RegistryId, deviceId: DeviceId });
