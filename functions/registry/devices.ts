/**
 * The registry's operations on devices, free of HTTP: each takes parsed input and the
 * database, and returns the response body or throws an HttpError the router maps.
 * @see ../../docs/architecture.md
 */
import type { Database, Sql } from '../../shared/db/database.ts';
import { HttpError, ValidationError, type Issue } from '../../shared/errors.ts';
import { DeviceId } from '../../schemas/reading.ts';
import type {
  CreateDevice,
  CredentialSpec,
  DeviceListResponse,
  DeviceResponse,
  DeviceStateResponse,
  KeepCredential,
  ListDevicesQuery,
  PatchDevice,
} from '../../schemas/device.ts';
import type { DeviceCredentialRow, DeviceRow } from '../../schemas/tables.ts';
import { insertInitialConfigs } from '../../shared/stores/device-config.ts';
import { mintCredentials, toCredentialResponse, type NewCredentialRow } from './credentials.ts';
import * as store from './store.ts';

const UNIQUE_VIOLATION = '23505';

export const isUniqueViolation = (error: unknown): boolean => error instanceof Error && (error as { code?: unknown }).code === UNIQUE_VIOLATION;

function deviceNotFound(deviceId: string): HttpError {
  return new HttpError(404, 'not_found', `device ${deviceId} not found`);
}

function toDeviceResponse(device: DeviceRow, credentials: readonly DeviceCredentialRow[], tokens?: ReadonlyMap<string, string>): DeviceResponse {
  return {
    deviceId: device.device_id,
    numId: device.num_id,
    registry: device.registry,
    site: device.site,
    tags: device.tags as Record<string, string>,
    blocked: device.blocked,
    createdAt: device.created_at.toISOString(),
    updatedAt: device.updated_at.toISOString(),
    credentials: credentials.map((c) => toCredentialResponse(c, tokens)),
  };
}

async function withCredentials(sql: Sql, devices: readonly DeviceRow[]): Promise<DeviceResponse[]> {
  const credentials = await store.findCredentials(
    sql,
    devices.map((d) => d.device_id),
  );
  return devices.map((d) => toDeviceResponse(d, credentials.get(d.device_id) ?? []));
}

/**
 * Creates devices and their credentials in one transaction: all of them or none. Token
 * secrets appear in the result and nowhere else. A device id that exists already is a 409.
 */
export async function createDevices(db: Database, requests: readonly CreateDevice[]): Promise<DeviceResponse[]> {
  const tokens = new Map<string, string>();
  const credentialRows: NewCredentialRow[] = [];
  for (const request of requests) {
    for (const row of mintCredentials(request.deviceId, request.credentials, tokens).rows) credentialRows.push(row);
  }
  const deviceRows = requests.map((r) => ({
    device_id: r.deviceId,
    registry: r.registry ?? 'default',
    site: r.site ?? null,
    tags: r.tags ?? {},
    blocked: r.blocked ?? false,
  }));
  try {
    return await db.transaction(async (tx) => {
      const devices = await store.insertDevices(tx, deviceRows);
      // A new device starts empty, whatever a deleted one of the same id left behind.
      await store.clearDeviceData(
        tx,
        deviceRows.map((d) => d.device_id),
      );
      const credentials = await store.insertCredentials(tx, credentialRows);
      await insertInitialConfigs(
        tx,
        requests.map((r) => ({ deviceId: r.deviceId, binaryData: r.config?.binaryData ?? '' })),
      );
      const byDevice = store.groupByDevice(credentials);
      const byId = new Map(devices.map((d) => [d.device_id, d]));
      // RETURNING promises no order: answer in the order the devices were asked for.
      return requests.map((r) => toDeviceResponse(byId.get(r.deviceId) as DeviceRow, byDevice.get(r.deviceId) ?? [], tokens));
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new HttpError(409, 'already_exists', 'a device with this id already exists');
    throw error;
  }
}

export async function getDevice(db: Database, deviceId: string): Promise<DeviceResponse> {
  const device = await store.findDevice(db, deviceId);
  if (!device) throw deviceNotFound(deviceId);
  const [response] = await withCredentials(db, [device]);
  return response as DeviceResponse;
}

/** The page token is opaque to callers: base64url of the last device id of the page. */
function encodePageToken(lastDeviceId: string): string {
  return Buffer.from(JSON.stringify({ after: lastDeviceId }), 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    // Only ids a device can have: a forged token must not reach SQL with a NUL byte.
    if (DeviceId.safeParse(decoded.after).success) return decoded.after as string;
  } catch {
    // Falls through to the validation error.
  }
  throw new ValidationError('invalid page token', [{ path: 'pageToken', message: 'is not a page token this registry issued' }]);
}

/** Keyset paging in device-id order: stable while devices are added or deleted. */
export async function listDevices(db: Database, query: ListDevicesQuery): Promise<DeviceListResponse> {
  const after = query.pageToken ? decodePageToken(query.pageToken) : undefined;
  const rows = await store.listDevices(db, after, query.pageSize + 1);
  const page = rows.slice(0, query.pageSize);
  const devices = await withCredentials(db, page);
  const last = page.at(-1);
  return rows.length > query.pageSize && last ? { devices, nextPageToken: encodePageToken(last.device_id) } : { devices };
}

const isKeep = (c: KeepCredential | CredentialSpec): c is KeepCredential => 'credentialId' in c;

/** Checks that every kept credential belongs to the device, once. */
function checkKeptCredentials(patch: readonly (KeepCredential | CredentialSpec)[], existing: readonly DeviceCredentialRow[]): Issue[] {
  const owned = new Set(existing.map((c) => c.credential_id));
  const seen = new Set<string>();
  const issues: Issue[] = [];
  patch.forEach((c, index) => {
    if (!isKeep(c)) return;
    const path = `credentials.${index}.credentialId`;
    if (!owned.has(c.credentialId)) issues.push({ path, message: 'is not a credential of this device' });
    else if (seen.has(c.credentialId)) issues.push({ path, message: 'is listed twice' });
    seen.add(c.credentialId);
  });
  return issues;
}

/**
 * Changes site, tags, blocked and, when `credentials` is given, replaces the credential set:
 * `{credentialId}` entries are kept, new specs are added, the rest are removed (rotation).
 */
export async function patchDevice(db: Database, deviceId: string, patch: PatchDevice): Promise<DeviceResponse> {
  return db.transaction(async (tx) => {
    const device = await store.findDevice(tx, deviceId, { lock: true });
    if (!device) throw deviceNotFound(deviceId);
    let tokens: Map<string, string> | undefined;
    if (patch.credentials) {
      const existing = (await store.findCredentials(tx, [deviceId])).get(deviceId) ?? [];
      const issues = checkKeptCredentials(patch.credentials, existing);
      if (issues.length > 0) throw new ValidationError('invalid credentials', issues);
      await store.deleteCredentialsExcept(
        tx,
        deviceId,
        patch.credentials.filter(isKeep).map((c) => c.credentialId),
      );
      const minted = mintCredentials(
        deviceId,
        patch.credentials.filter((c): c is CredentialSpec => !isKeep(c)),
      );
      await store.insertCredentials(tx, minted.rows);
      tokens = minted.tokens;
    }
    const updated = (await store.updateDevice(tx, deviceId, patch)) as DeviceRow;
    const credentials = (await store.findCredentials(tx, [deviceId])).get(deviceId) ?? [];
    return toDeviceResponse(updated, credentials, tokens);
  });
}

export async function deleteDevice(db: Database, deviceId: string): Promise<void> {
  if (!(await db.transaction((tx) => store.deleteDevice(tx, deviceId)))) throw deviceNotFound(deviceId);
}

/** Latest metrics, last event time, last seen and the readings total, from device_state. */
export async function getDeviceState(db: Database, deviceId: string): Promise<DeviceStateResponse> {
  const state = await store.findDeviceState(db, deviceId);
  if (!state) throw deviceNotFound(deviceId);
  return {
    deviceId: state.device_id,
    lastEventTs: state.last_event_ts?.toISOString() ?? null,
    lastMetrics: state.last_metrics,
    lastSeenAt: state.last_seen_at?.toISOString() ?? null,
    readingsTotal: Number(state.readings_total ?? 0),
  };
}
