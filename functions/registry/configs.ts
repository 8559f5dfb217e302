/**
 * The registry's configuration and state operations, as IoT Core's admin API had them:
 * `modifyCloudToDeviceConfig` (a stale `versionToUpdate` is a 409 naming the current
 * version), `configVersions.list` and `states.list`, newest first.
 * @see https://cloud.google.com/iot/docs/reference/cloudiot/rest/v1/projects.locations.registries.devices/modifyCloudToDeviceConfig
 * @see ../../docs/devices.md "Configuration and state"
 */
import type { Database } from '../../shared/db/database.ts';
import { HttpError } from '../../shared/errors.ts';
import * as store from '../../shared/stores/device-config.ts';
import type { DeviceConfigResponse, ListConfigVersionsResponse, ListStatesResponse, ModifyConfigRequest } from '../../schemas/device-config.ts';
import { findDevice } from './store.ts';

const notFound = (deviceId: string) => new HttpError(404, 'not_found', `device ${deviceId} not found`);

export async function modifyDeviceConfig(db: Database, deviceId: string, request: ModifyConfigRequest): Promise<DeviceConfigResponse> {
  const row = await store.modifyConfig(db, deviceId, request.binaryData, request.versionToUpdate);
  if (!row) throw notFound(deviceId);
  return store.toDeviceConfigResponse(row);
}

export async function listDeviceConfigVersions(db: Database, deviceId: string, numVersions?: number): Promise<ListConfigVersionsResponse> {
  if (!(await findDevice(db, deviceId))) throw notFound(deviceId);
  const rows = await store.listConfigVersions(db, deviceId, numVersions);
  return { deviceConfigs: rows.map((r) => store.toDeviceConfigResponse(r)) };
}

export async function listDeviceStates(db: Database, deviceId: string, numStates?: number): Promise<ListStatesResponse> {
  if (!(await findDevice(db, deviceId))) throw notFound(deviceId);
  return { deviceStates: await store.listReportedStates(db, deviceId, numStates) };
}
