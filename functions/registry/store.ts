/**
 * The registry's SQL over `devices`, `device_credentials` and `device_state`. Inserts are
 * multi-row (`unnest` of one array per column), so that a batch of 10,000 devices is two
 * statements, not 10,000 round trips.
 * @see ../../schemas/migrations/001_initial.sql
 */
import type { Sql } from '../../shared/db/database.ts';
import type { DeviceCredentialRow, DeviceRow, DeviceStateRow } from '../../schemas/tables.ts';
import type { PatchDevice } from '../../schemas/device.ts';
import type { NewCredentialRow } from './credentials.ts';

/** A device row about to be inserted; the rest of its columns have defaults. */
export type NewDeviceRow = Pick<DeviceRow, 'device_id' | 'registry' | 'site' | 'tags' | 'blocked'>;

const DEVICE_COLUMNS = 'device_id, num_id, registry, site, tags, blocked, created_at, updated_at';
const CREDENTIAL_COLUMNS = 'credential_id, device_id, type, secret_hash, public_key_pem, expires_at, created_at';

/** int8 columns come back as strings from some drivers; the values here fit a number. */
function normaliseDevice(row: DeviceRow): DeviceRow {
  return { ...row, num_id: Number(row.num_id) };
}

export async function insertDevices(sql: Sql, devices: readonly NewDeviceRow[]): Promise<DeviceRow[]> {
  const result = await sql.query<DeviceRow>(
    `INSERT INTO devices (device_id, registry, site, tags, blocked)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::boolean[])
     RETURNING ${DEVICE_COLUMNS}`,
    [
      devices.map((d) => d.device_id),
      devices.map((d) => d.registry),
      devices.map((d) => d.site),
      devices.map((d) => JSON.stringify(d.tags)),
      devices.map((d) => d.blocked),
    ],
  );
  return result.rows.map(normaliseDevice);
}

export async function insertCredentials(sql: Sql, credentials: readonly NewCredentialRow[]): Promise<DeviceCredentialRow[]> {
  if (credentials.length === 0) return [];
  const result = await sql.query<DeviceCredentialRow>(
    `INSERT INTO device_credentials (credential_id, device_id, type, secret_hash, public_key_pem, expires_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     RETURNING ${CREDENTIAL_COLUMNS}`,
    [
      credentials.map((c) => c.credential_id),
      credentials.map((c) => c.device_id),
      credentials.map((c) => c.type),
      credentials.map((c) => c.secret_hash),
      credentials.map((c) => c.public_key_pem),
      credentials.map((c) => (c.expires_at ? c.expires_at.toISOString() : null)),
    ],
  );
  return result.rows;
}

/** Which of these ids already exist. */
export async function findExistingDeviceIds(sql: Sql, deviceIds: readonly string[]): Promise<Set<string>> {
  const result = await sql.query<{ device_id: string }>('SELECT device_id FROM devices WHERE device_id = ANY($1::text[])', [deviceIds]);
  return new Set(result.rows.map((r) => r.device_id));
}

/** One device; `lock` holds it until the transaction ends (PATCH). */
export async function findDevice(sql: Sql, deviceId: string, options: { lock?: boolean } = {}): Promise<DeviceRow | undefined> {
  const result = await sql.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id = $1${options.lock ? ' FOR UPDATE' : ''}`, [deviceId]);
  const row = result.rows[0];
  return row ? normaliseDevice(row) : undefined;
}

/** A page in device-id order, starting after `afterId`. */
export async function listDevices(sql: Sql, afterId: string | undefined, limit: number): Promise<DeviceRow[]> {
  const result = await sql.query<DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE $1::text IS NULL OR device_id > $1::text
     ORDER BY device_id LIMIT $2`,
    [afterId ?? null, limit],
  );
  return result.rows.map(normaliseDevice);
}

/** The credentials of these devices, oldest first, grouped by device id. */
export async function findCredentials(sql: Sql, deviceIds: readonly string[]): Promise<Map<string, DeviceCredentialRow[]>> {
  if (deviceIds.length === 0) return new Map();
  const result = await sql.query<DeviceCredentialRow>(
    `SELECT ${CREDENTIAL_COLUMNS} FROM device_credentials WHERE device_id = ANY($1::text[]) ORDER BY created_at, credential_id`,
    [deviceIds],
  );
  return groupByDevice(result.rows);
}

/** Credentials grouped by their device, in the order given. */
export function groupByDevice(credentials: readonly DeviceCredentialRow[]): Map<string, DeviceCredentialRow[]> {
  const byDevice = new Map<string, DeviceCredentialRow[]>();
  for (const c of credentials) {
    const list = byDevice.get(c.device_id);
    if (list) list.push(c);
    else byDevice.set(c.device_id, [c]);
  }
  return byDevice;
}

/** The device fields a PATCH may change; absent ones stay. */
export type DeviceChanges = Omit<PatchDevice, 'credentials'>;

/** Applies the fields present and bumps `updated_at`. */
export async function updateDevice(sql: Sql, deviceId: string, changes: DeviceChanges): Promise<DeviceRow | undefined> {
  const result = await sql.query<DeviceRow>(
    `UPDATE devices SET
       site = CASE WHEN $2 THEN $3::text ELSE site END,
       tags = COALESCE($4::jsonb, tags),
       blocked = COALESCE($5::boolean, blocked),
       updated_at = now()
     WHERE device_id = $1 RETURNING ${DEVICE_COLUMNS}`,
    [deviceId, changes.site !== undefined, changes.site ?? null, changes.tags ? JSON.stringify(changes.tags) : null, changes.blocked ?? null],
  );
  const row = result.rows[0];
  return row ? normaliseDevice(row) : undefined;
}

/** Removes the device's credentials except those listed. */
export async function deleteCredentialsExcept(sql: Sql, deviceId: string, keepIds: readonly string[]): Promise<void> {
  await sql.query('DELETE FROM device_credentials WHERE device_id = $1 AND NOT (credential_id = ANY($2::text[]))', [deviceId, keepIds]);
}

/**
 * Deletes a device and everything PostgreSQL holds of it: credentials, config and state
 * history go with it (ON DELETE CASCADE); its `device_state` and `readings` are keyed by the
 * id alone, so they are deleted here. Run it in a transaction.
 */
export async function deleteDevice(sql: Sql, deviceId: string): Promise<boolean> {
  const result = await sql.query('DELETE FROM devices WHERE device_id = $1', [deviceId]);
  if (result.rowCount === 0) return false;
  await clearDeviceData(sql, [deviceId]);
  return true;
}

/**
 * Removes state and readings left under these ids: at delete, and again when a device is
 * created, since a message of the deleted device still in flight may have landed in between.
 */
export async function clearDeviceData(sql: Sql, deviceIds: readonly string[]): Promise<void> {
  await sql.query('DELETE FROM device_state WHERE device_id = ANY($1::text[])', [deviceIds]);
  await sql.query('DELETE FROM readings WHERE device_id = ANY($1::text[])', [deviceIds]);
}

export type DeviceStateRecord = Pick<DeviceStateRow, 'device_id'> & {
  [K in Exclude<keyof DeviceStateRow, 'device_id'>]: DeviceStateRow[K] | null;
};

/** The device's state row, all nulls when no reading was stored yet; undefined when unknown. */
export async function findDeviceState(sql: Sql, deviceId: string): Promise<DeviceStateRecord | undefined> {
  const result = await sql.query<DeviceStateRecord>(
    `SELECT d.device_id, s.last_event_ts, s.last_metrics, s.last_seen_at, s.readings_total
     FROM devices d LEFT JOIN device_state s ON s.device_id = d.device_id WHERE d.device_id = $1`,
    [deviceId],
  );
  return result.rows[0];
}
