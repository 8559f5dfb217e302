/**
 * The bridge's two device paths: ours, and Cloud IoT Core's `publishEvent`.
 * @see ../../docs/devices.md
 */
import { HttpError } from '../../shared/errors.ts';
import { decodePathSegment, parseIds } from '../../shared/ids.ts';
import { DevicePathIds, IotCorePathIds } from '../../schemas/ids.ts';

export type BridgeRoute =
  | { kind: 'telemetry'; deviceId: string }
  | { kind: 'publishEvent'; deviceId: string; project: string; location: string; registry: string };

const TELEMETRY = /^\/v1\/devices\/([^/]+)\/telemetry\/?$/;
const PUBLISH_EVENT = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)\/devices\/([^/:]+):publishEvent$/;

/**
 * The route a request addresses: 404 for other paths, 405 for other methods, 400 for ids no
 * device can have (before authentication, before any store is asked).
 */
export function matchRoute(method: string, path: string): BridgeRoute {
  const route = parsePath(path);
  if (!route) throw new HttpError(404, 'not_found', `no such path: ${path.slice(0, 300)}`);
  if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here; use POST`, { headers: { Allow: 'POST' } });
  return route;
}

function parsePath(path: string): BridgeRoute | undefined {
  const telemetry = TELEMETRY.exec(path);
  if (telemetry) {
    const ids = parseIds(DevicePathIds, { deviceId: decodePathSegment(telemetry[1] as string, 'deviceId') });
    return { kind: 'telemetry', ...ids };
  }
  const iot = PUBLISH_EVENT.exec(path);
  if (iot) {
    const [project, location, registry, deviceId] = iot.slice(1) as [string, string, string, string];
    const ids = parseIds(IotCorePathIds, {
      project: decodePathSegment(project, 'project'),
      location: decodePathSegment(location, 'location'),
      registry: decodePathSegment(registry, 'registry'),
      deviceId: decodePathSegment(deviceId, 'deviceId'),
    });
    return { kind: 'publishEvent', ...ids };
  }
  return undefined;
}
