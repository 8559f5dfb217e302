/**
 * The bridge's device paths: ours (telemetry, config, state) and Cloud IoT Core's device API
 * (`:publishEvent`, `:setState`, `/config`).
 * @see ../../docs/devices.md
 */
import { HttpError } from '../../shared/errors.ts';
import { decodePathSegment, parseIds } from '../../shared/ids.ts';
import { DevicePathIds, IotCorePathIds, isDeviceId } from '../../schemas/ids.ts';

/** Where an IoT Core path puts the device. */
export interface IotCoreName {
  project: string;
  location: string;
  registry: string;
}

export type BridgeRoute =
  | { kind: 'telemetry' | 'config' | 'state'; iot: false; deviceId: string }
  | ({ kind: 'publishEvent' | 'setState' | 'config'; iot: true; deviceId: string } & IotCoreName);

const NATIVE = /^\/v1\/devices\/([^/]+)\/(telemetry|config|state)\/?$/;
const IOT_CORE = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)\/devices\/([^/:]+)(:publishEvent|:setState|\/config)$/;

const METHODS: Record<BridgeRoute['kind'], 'GET' | 'POST'> = { telemetry: 'POST', state: 'POST', publishEvent: 'POST', setState: 'POST', config: 'GET' };

/**
 * The route a request addresses: 404 for other paths, 405 for other methods, 400 for ids no
 * device can have (before authentication, before any store is asked).
 */
export function matchRoute(method: string, path: string): BridgeRoute {
  const route = parsePath(path);
  if (!route) throw new HttpError(404, 'not_found', `no such path: ${path.slice(0, 300)}`);
  const allowed = METHODS[route.kind];
  if (method !== allowed) throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here; use ${allowed}`, { headers: { Allow: allowed } });
  return route;
}

/** The device a path names, for a log line; undefined when the path names none that can exist. */
export function deviceIdIn(path: string): string | undefined {
  try {
    return parsePath(path)?.deviceId;
  } catch {
    return undefined;
  }
}

/** Whether a path is one of IoT Core's (its errors then take Google's shape), even if malformed. */
export const isIotCorePath = (path: string): boolean => path.startsWith('/v1/projects/');

function parsePath(path: string): BridgeRoute | undefined {
  const native = NATIVE.exec(path);
  if (native) {
    const deviceId = decodePathSegment(native[1] as string, 'deviceId');
    // isDeviceId answers as DevicePathIds does; zod runs only to name the problem.
    return {
      kind: native[2] as 'telemetry' | 'config' | 'state',
      iot: false,
      deviceId: isDeviceId(deviceId) ? deviceId : parseIds(DevicePathIds, { deviceId }).deviceId,
    };
  }
  const iot = IOT_CORE.exec(path);
  if (iot) {
    const [project, location, registry, deviceId] = iot.slice(1, 5) as [string, string, string, string];
    const ids = parseIds(IotCorePathIds, {
      project: decodePathSegment(project, 'project'),
      location: decodePathSegment(location, 'location'),
      registry: decodePathSegment(registry, 'registry'),
      deviceId: decodePathSegment(deviceId, 'deviceId'),
    });
    const kind = iot[5] === ':publishEvent' ? 'publishEvent' : iot[5] === ':setState' ? 'setState' : 'config';
    return { kind, iot: true, ...ids };
  }
  return undefined;
}
