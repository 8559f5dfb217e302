/**
 * The devices' side of configuration and state. `GET .../config?local_version=N` answers
 * IoT Core's DeviceConfig with its `local_version` semantics: 0 (or none) asks for the
 * latest, with its data; N below the latest gets the latest, with its data; N equal to the
 * latest gets the version alone (no data: the device is up to date); N above it is
 * OUT_OF_RANGE (400). Asking with N acknowledges version N, as IoT Core recorded it
 * (`deviceAckTime`, first acknowledgement wins). States (`setState`, `POST .../state`) are
 * kept, the last 10 per device, and published to STATE_TOPIC with IoT Core's attributes.
 * @see https://cloud.google.com/iot/docs/reference/cloudiotdevice/rest/v1/projects.locations.registries.devices/getConfig
 * @see ../../docs/devices.md "Configuration and state"
 */
import { GetConfigQuery, MAX_STATE_BYTES, SetStateRequest } from '../../schemas/device-config.ts';
import type { Database } from '../../shared/db/database.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import { parseQueryParams } from '../../shared/query-params.ts';
import type { WireRequest, WireResponse } from '../../shared/runtime/http.ts';
import { insertReportedState, toDeviceConfigResponse } from '../../shared/stores/device-config.ts';
import type { DeviceConfigCache } from './config-cache.ts';
import { unauthenticated } from './auth.ts';
import type { DeviceAuth } from './credentials-cache.ts';
import { parseBoundedJson } from './payload.ts';

export async function answerConfig(configs: DeviceConfigCache, device: DeviceAuth, query: URLSearchParams, iot: boolean): Promise<WireResponse> {
  // Only the parameters IoT Core defined are read: a device may send others, repeated or not,
  // which are ignored. A repeated local_version is refused: which copy counts would decide
  // what is acknowledged.
  const known = new URLSearchParams([...query].filter(([name]) => Object.hasOwn(GetConfigQuery.shape, name)));
  const parsed = parseQueryParams(GetConfigQuery, known);
  const asked = parsed.local_version ?? parsed.localVersion ?? 0n;
  let latest = await configs.latest(device);
  if (asked > BigInt(latest.version)) {
    throw new HttpError(400, 'out_of_range', `local_version ${asked} is above the latest configuration version, ${latest.version}`);
  }
  // At most the latest version from here on, so a safe integer.
  const localVersion = Number(asked);
  if (localVersion > 0) {
    await configs.acknowledge(device, localVersion);
    latest = await configs.latest(device);
  }
  const body = toDeviceConfigResponse(latest, { withData: localVersion < latest.version });
  return { status: 200, body, log: { deviceId: device.deviceId, outcome: 'config', version: latest.version, iot } };
}

export interface StateDeps {
  database: () => Promise<Database>;
  publish: (topic: string, data: Buffer, attributes: Record<string, string>) => Promise<string>;
  topic: string;
}

/**
 * The state a request reports: IoT Core's body is `{"state": {"binaryData"}}`; on the native
 * path the JSON body itself is the state.
 */
export function parseReportedState(req: WireRequest, iot: boolean): Buffer {
  if (iot) {
    const parsed = SetStateRequest.safeParse(parseBoundedJson(req.body));
    if (!parsed.success) throw new ValidationError('the setState request is invalid', toIssues(parsed.error.issues));
    return Buffer.from(parsed.data.binaryData, 'base64');
  }
  parseBoundedJson(req.body, 'the state');
  if (req.body.length > MAX_STATE_BYTES) throw new HttpError(413, 'payload_too_large', `a state is at most ${MAX_STATE_BYTES} bytes`);
  return req.body;
}

/**
 * Keeps a reported state (the last 10 per device) and publishes it to STATE_TOPIC.
 * @returns the state notification's message id.
 */
export async function recordState(deps: StateDeps, device: DeviceAuth, attributes: Record<string, string>, bytes: Buffer, receivedAt: number): Promise<string> {
  let stored: boolean;
  try {
    stored = await insertReportedState(await deps.database(), device, bytes.toString('base64'), new Date(receivedAt));
  } catch (error) {
    throw classifyDbError(error, 'storing the device state');
  }
  // A credential cached for a device deleted since: refused, as it is once the cache expires.
  if (!stored) throw unauthenticated();
  return deps.publish(deps.topic, bytes, attributes);
}
