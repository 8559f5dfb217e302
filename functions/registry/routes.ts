/**
 * The registry's routes: parse the request at the boundary, call the operation, answer.
 * Express 5 forwards a rejected handler promise to the error middleware.
 * @see ../../docs/architecture.md
 */
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../shared/db/database.ts';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import { protoKeyIssues } from '../../shared/json.ts';
import { parseQueryParams, queryOf } from '../../shared/query-params.ts';
import { parseIds } from '../../shared/ids.ts';
import { DevicePathIds } from '../../schemas/ids.ts';
import { BatchCreate, CreateDevice, ListDevicesQuery, PatchDevice } from '../../schemas/device.ts';
import { ListConfigVersionsQuery, ListStatesQuery, ModifyConfigRequest } from '../../schemas/device-config.ts';
import * as configs from './configs.ts';
import { batchCreateDevices } from './batch.ts';
import * as devices from './devices.ts';

/** Parses a JSON body with `schema`, or throws with every issue. */
function parseBody<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  // express.json leaves the body undefined when the request did not say it is JSON.
  if (req.body === undefined) throw new HttpError(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  const parsed = schema.safeParse(req.body);
  const forbidden = protoKeyIssues(req.body);
  if (!parsed.success || forbidden.length > 0) {
    throw new ValidationError('invalid request body', [...(parsed.success ? [] : toIssues(parsed.error.issues)), ...forbidden]);
  }
  return parsed.data;
}

/** The query string as the readings API reads one (shared/query-params.ts): from the raw target, not express's parse, which nests `a[b]=` and makes arrays of repeats. */
const parseQuery = <S extends z.ZodType>(schema: S, req: Request): z.infer<S> => parseQueryParams(schema, queryOf(req.originalUrl));

const NO_QUERY = z.strictObject({});

/**
 * For the routes that take no query parameter: each one sent is a 400 naming it, never
 * ignored. A client ported from IoT Core's admin API would send `updateMask` to a PATCH that
 * replaces every field it names, or `validateOnly` to a create that then creates.
 */
export const noQueryParameters: RequestHandler = (req, _res, next) => {
  parseQuery(NO_QUERY, req);
  next();
};

/**
 * The device-id path parameter, already percent-decoded by the router (`%25`, `+`, `~`
 * survive); an id no device can have (a NUL byte, which PostgreSQL cannot even compare, a
 * 5,000-character id) is 400 before any store is asked.
 */
const deviceIdOf = (req: Request): string => parseIds(DevicePathIds, { deviceId: String(req.params.deviceId ?? req.params[0]) }).deviceId;

export function createDeviceRouter(database: () => Promise<Database>): Router {
  const router = express.Router();

  // A regular expression, because in a path string `:batchCreate` would be a parameter.
  router.post(/^\/v1\/devices:batchCreate$/, noQueryParameters, async (req, res) => {
    const body = parseBody(BatchCreate, req);
    res.status(201).json({ devices: await batchCreateDevices(await database(), body.devices) });
  });

  router.post('/v1/devices', noQueryParameters, async (req, res) => {
    const request = parseBody(CreateDevice, req);
    const [device] = await devices.createDevices(await database(), [request]);
    res.status(201).json(device);
  });

  router.get('/v1/devices', async (req, res) => {
    res.json(await devices.listDevices(await database(), parseQuery(ListDevicesQuery, req)));
  });

  router.get('/v1/devices/:deviceId', noQueryParameters, async (req, res) => {
    res.json(await devices.getDevice(await database(), deviceIdOf(req)));
  });

  router.patch('/v1/devices/:deviceId', noQueryParameters, async (req, res) => {
    const patch = parseBody(PatchDevice, req);
    res.json(await devices.patchDevice(await database(), deviceIdOf(req), patch));
  });

  router.delete('/v1/devices/:deviceId', noQueryParameters, async (req, res) => {
    await devices.deleteDevice(await database(), deviceIdOf(req));
    res.status(204).end();
  });

  // IoT Core's admin API for configuration and state (a regular expression for the `:verb`).
  router.post(/^\/v1\/devices\/([^/]+):modifyCloudToDeviceConfig$/, noQueryParameters, async (req, res) => {
    const request = parseBody(ModifyConfigRequest, req);
    res.json(await configs.modifyDeviceConfig(await database(), deviceIdOf(req), request));
  });

  router.get('/v1/devices/:deviceId/configVersions', async (req, res) => {
    const { numVersions } = parseQuery(ListConfigVersionsQuery, req);
    res.json(await configs.listDeviceConfigVersions(await database(), deviceIdOf(req), numVersions));
  });

  router.get('/v1/devices/:deviceId/states', async (req, res) => {
    const { numStates } = parseQuery(ListStatesQuery, req);
    res.json(await configs.listDeviceStates(await database(), deviceIdOf(req), numStates));
  });

  router.get('/v1/devices/:deviceId/state', noQueryParameters, async (req, res) => {
    res.json(await devices.getDeviceState(await database(), deviceIdOf(req)));
  });

  return router;
}
