/**
 * The bridge's two device paths: ours, and Cloud IoT Core's `publishEvent`.
 * @see ../../docs/devices.md
 */
import { HttpError } from '../../shared/errors.ts';

export type BridgeRoute =
  | { kind: 'telemetry'; deviceId: string }
  | { kind: 'publishEvent'; deviceId: string; project: string; location: string; registry: string };

const TELEMETRY = /^\/v1\/devices\/([^/]+)\/telemetry\/?$/;
const PUBLISH_EVENT = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)\/devices\/([^/:]+):publishEvent$/;

/** The route a request addresses: 404 for other paths, 405 for other methods. */
export function matchRoute(method: string, path: string): BridgeRoute {
  const route = parsePath(path);
  if (!route) throw new HttpError(404, 'not_found', `no such path: ${path}`);
  if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here; use POST`, { headers: { Allow: 'POST' } });
  return route;
}

function parsePath(path: string): BridgeRoute | undefined {
  try {
    const telemetry = TELEMETRY.exec(path);
    if (telemetry) return { kind: 'telemetry', deviceId: decodeURIComponent(telemetry[1] as string) };
    const iot = PUBLISH_EVENT.exec(path);
    if (iot) {
      const [project, location, registry, deviceId] = iot.slice(1).map((s) => decodeURIComponent(s)) as [string, string, string, string];
      return { kind: 'publishEvent', project, location, registry, deviceId };
    }
  } catch {
    // A malformed percent-escape addresses nothing.
  }
  return undefined;
}
