/**
 * The registry's device routes: parse the request at the boundary, call the operation, answer.
 * @see ../../docs/architecture.md
 */
import type { Database } from '../../shared/db/database.ts';
import { BatchCreate, CreateDevice, ListDevicesQuery, PatchDevice } from '../../schemas/device.ts';
import { ListConfigVersionsQuery, ListStatesQuery, ModifyConfigRequest } from '../../schemas/device-config.ts';
import * as configs from './configs.ts';
import { batchCreateDevices } from './batch.ts';
import * as devices from './devices.ts';
import { parseJsonBody } from '../../shared/runtime/json-body.ts';
import { deviceIdOf, parseQuery, type Route } from './router.ts';

export function deviceRoutes(database: () => Promise<Database>): Route[] {
  return [
    {
      method: 'POST',
      path: /^\/v1\/devices:batchCreate$/,
      handle: async (req) => {
        const body = parseJsonBody(BatchCreate, req);
        return { status: 201, body: { devices: await batchCreateDevices(await database(), body.devices) } };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/devices\/?$/i,
      handle: async (req) => {
        const request = parseJsonBody(CreateDevice, req);
        const [device] = await devices.createDevices(await database(), [request]);
        return { status: 201, body: device };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/devices\/?$/i,
      handle: async (req) => ({ status: 200, body: await devices.listDevices(await database(), parseQuery(ListDevicesQuery, req)) }),
    },
    {
      method: 'GET',
      path: /^\/v1\/devices\/([^/]+)\/?$/i,
      handle: async (_req, [id]) => ({ status: 200, body: await devices.getDevice(await database(), deviceIdOf(id)) }),
    },
    {
      method: 'PATCH',
      path: /^\/v1\/devices\/([^/]+)\/?$/i,
      handle: async (req, [id]) => {
        const patch = parseJsonBody(PatchDevice, req);
        return { status: 200, body: await devices.patchDevice(await database(), deviceIdOf(id), patch) };
      },
    },
    {
      method: 'DELETE',
      path: /^\/v1\/devices\/([^/]+)\/?$/i,
      handle: async (_req, [id]) => {
        await devices.deleteDevice(await database(), deviceIdOf(id));
        return { status: 204 };
      },
    },
    // IoT Core's admin API for configuration and state.
    {
      method: 'POST',
      path: /^\/v1\/devices\/([^/]+):modifyCloudToDeviceConfig$/,
      handle: async (req, [id]) => {
        const request = parseJsonBody(ModifyConfigRequest, req);
        return { status: 200, body: await configs.modifyDeviceConfig(await database(), deviceIdOf(id), request) };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/devices\/([^/]+)\/configVersions\/?$/i,
      handle: async (req, [id]) => {
        const { numVersions } = parseQuery(ListConfigVersionsQuery, req);
        return { status: 200, body: await configs.listDeviceConfigVersions(await database(), deviceIdOf(id), numVersions) };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/devices\/([^/]+)\/states\/?$/i,
      handle: async (req, [id]) => {
        const { numStates } = parseQuery(ListStatesQuery, req);
        return { status: 200, body: await configs.listDeviceStates(await database(), deviceIdOf(id), numStates) };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/devices\/([^/]+)\/state\/?$/i,
      handle: async (_req, [id]) => ({ status: 200, body: await devices.getDeviceState(await database(), deviceIdOf(id)) }),
    },
  ];
}
