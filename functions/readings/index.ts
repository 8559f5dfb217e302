/**
 * readings: the applications' read API over PostgreSQL (a device's raw readings, aggregated
 * series, the fleet's latest state) and the dashboard page that uses it.
 *
 * Authentication: `Authorization: Bearer` with READ_TOKEN or ADMIN_TOKEN, compared in constant
 * time; in production the service also sits behind Cloud Run/Knative IAM (docs/readings-api.md).
 * The dashboard's page, script and stylesheet are public (they hold no data); every API call
 * carries the token.
 * @see ../../docs/readings-api.md
 */
import { randomBytes } from 'node:crypto';
import { bearerMatcher } from '../../shared/auth/bearer.ts';
import { errorResponse, HttpError } from '../../shared/errors.ts';
import { parseQueryParams } from '../../shared/query-params.ts';
import { defineFunction, type FunctionInstance } from '../../shared/runtime/function.ts';
import { createListener, type RequestHead, type WireRequest, type WireResponse } from '../../shared/runtime/http.ts';
import { lazy, type Platform } from '../../shared/runtime/platform.ts';
import { DevicePathIds } from '../../schemas/ids.ts';
import { decodePathSegment, parseIds } from '../../shared/ids.ts';
import { FleetQuery, ReadingsQuery, SeriesQuery } from '../../schemas/readings-api.ts';
import { getSeries, listFleet, listReadings, type ReadDeps } from './api.ts';
import { createDashboard } from './dashboard/serve.ts';
import { createPageTokenCodec } from './page-token.ts';
import { readOnly } from './store.ts';

const DEVICE_PATH = /^\/v1\/devices\/([^/]+)\/(readings|series)$/;
/** On every API answer, errors included: nothing a token opened is kept by a cache, and nothing is sniffed as markup. */
const API_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** An error's answer as every function's, with the API's headers. */
function errorWithApiHeaders(error: unknown): WireResponse {
  const mapped = errorResponse(error);
  return { ...mapped, headers: { ...mapped.headers, ...API_HEADERS }, log: { error: mapped.body.error } };
}

/** The path's device id, percent-decoded; an id no device can have is 400 before any store is asked. */
const deviceIdOf = (encoded: string): string => parseIds(DevicePathIds, { deviceId: decodePathSegment(encoded, 'deviceId') }).deviceId;

/** READ_TOKEN and ADMIN_TOKEN, whichever are set; one made up for this process when neither is. */
function acceptedSecrets(platform: Platform): string[] {
  const { readToken, adminToken } = platform.config;
  const secrets = [readToken, adminToken].filter((s): s is string => s !== undefined);
  if (secrets.length > 0) return secrets;
  const generated = randomBytes(24).toString('base64url');
  platform.logger.warn(`neither READ_TOKEN nor ADMIN_TOKEN is set; generated a read token for this process: ${generated}`);
  return [generated];
}

function create(platform: Platform): FunctionInstance {
  const { config, logger } = platform;
  const secrets = acceptedSecrets(platform);
  const authorized = bearerMatcher(secrets);
  // Built on the first page request, not at start-up; `npm run build` replaces this module
  // with the prebuilt files (scripts/build.ts).
  const dashboard = lazy(async () => createDashboard(await (await import('./dashboard/build.ts')).buildDashboard()));
  const deps: ReadDeps = {
    read: async (fn) => readOnly(await platform.database(), config.readingsStatementTimeoutMs, fn),
    pageTokens: createPageTokenCodec(secrets),
  };

  const handle = async (req: WireRequest): Promise<WireResponse> => {
    if (!req.path.startsWith('/v1/')) {
      const page = (await dashboard.get()).answer(req.path, req.headers);
      if (page) return page;
      throw new HttpError(404, 'not_found', `no route for GET ${req.path.slice(0, 300)}`);
    }
    if (!authorized(req.headers.authorization)) {
      throw new HttpError(401, 'unauthenticated', 'missing or invalid read token', { headers: { 'www-authenticate': 'Bearer' } });
    }
    if (req.path === '/v1/fleet') return { status: 200, headers: API_HEADERS, body: await listFleet(deps, parseQueryParams(FleetQuery, req.query)) };
    const match = DEVICE_PATH.exec(req.path);
    if (!match) throw new HttpError(404, 'not_found', `no route for GET ${req.path.slice(0, 300)}`);
    const deviceId = deviceIdOf(match[1] as string);
    const body =
      match[2] === 'readings'
        ? await listReadings(deps, deviceId, parseQueryParams(ReadingsQuery, req.query))
        : await getSeries(deps, deviceId, parseQueryParams(SeriesQuery, req.query));
    return { status: 200, headers: API_HEADERS, body };
  };

  // The method is judged before the body is read: a POST is 405, whatever body it carries.
  const admit = ({ method }: RequestHead) => {
    if (method !== 'GET' && method !== 'HEAD') {
      throw new HttpError(405, 'method_not_allowed', `${method} is not supported; the read API answers GET`, { headers: { allow: 'GET, HEAD' } });
    }
  };
  return { listener: createListener(handle, { logger, projectId: config.projectId, body: { limitBytes: 0 }, admit, mapError: errorWithApiHeaders }) };
}

export default defineFunction({ name: 'readings', create });
