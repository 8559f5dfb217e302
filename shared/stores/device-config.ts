/**
 * IoT Core's device configuration and reported state in PostgreSQL (`device_configs`,
 * `device_states`): used by the registry (operators set configs, read versions and states)
 * and the bridge (devices read configs, acknowledge them, report states). Writers keep the
 * last KEPT_PER_DEVICE rows of each per device, deleting older ones in the same transaction.
 * @see ../../schemas/migrations/002_device_config_state.sql
 */
import { KEPT_PER_DEVICE, type DeviceConfigResponse, type DeviceStateEntry } from '../../schemas/device-config.ts';
import type { DeviceConfigRow } from '../../schemas/tables.ts';
import type { Database, Sql } from '../db/database.ts';
import { HttpError } from '../errors.ts';

const CONFIG_COLUMNS = 'device_id, version, binary_data, cloud_update_time, device_ack_time';

/** int8 comes back as a string from `pg`; versions fit a number. */
const normalise = (row: DeviceConfigRow): DeviceConfigRow => ({
  ...row,
  version: Number(row.version),
  cloud_update_time: new Date(row.cloud_update_time),
  device_ack_time: row.device_ack_time === null ? null : new Date(row.device_ack_time),
});

/** IoT Core's DeviceConfig: version as a string, deviceAckTime only once acknowledged. */
export function toDeviceConfigResponse(row: DeviceConfigRow, options: { withData?: boolean } = {}): DeviceConfigResponse {
  return {
    version: String(row.version),
    cloudUpdateTime: row.cloud_update_time.toISOString(),
    ...(row.device_ack_time ? { deviceAckTime: row.device_ack_time.toISOString() } : {}),
    ...(options.withData === false ? {} : { binaryData: row.binary_data }),
  };
}

/** Version 1 of each new device (IoT Core gave every device one, empty unless given). */
export async function insertInitialConfigs(sql: Sql, configs: readonly { deviceId: string; binaryData: string }[]): Promise<void> {
  if (configs.length === 0) return;
  await sql.query(
    `INSERT INTO device_configs (device_id, version, binary_data)
     SELECT device_id, 1, binary_data FROM unnest($1::text[], $2::text[]) AS t(device_id, binary_data)`,
    [configs.map((c) => c.deviceId), configs.map((c) => c.binaryData)],
  );
}

/** The newest config of each of these devices that has one. */
export async function findLatestConfigs(sql: Sql, deviceIds: readonly string[]): Promise<Map<string, DeviceConfigRow>> {
  const { rows } = await sql.query<DeviceConfigRow>(
    `SELECT DISTINCT ON (device_id) ${CONFIG_COLUMNS} FROM device_configs
      WHERE device_id = ANY($1::text[]) ORDER BY device_id, version DESC`,
    [deviceIds],
  );
  return new Map(rows.map((r) => [r.device_id, normalise(r)]));
}

/**
 * The device's number and newest config (an implicit, empty version 1 when it has none), or
 * undefined when no such device exists: what the bridge's config cache holds.
 */
export async function findDeviceConfig(sql: Sql, deviceId: string): Promise<{ numId: string; config: DeviceConfigRow } | undefined> {
  const { rows } = await sql.query<{ num_id: string | number } & Omit<DeviceConfigRow, 'version'> & { version: number | string | null }>(
    `SELECT d.num_id, d.device_id, c.version, c.binary_data, c.cloud_update_time, c.device_ack_time
       FROM devices d LEFT JOIN LATERAL (
         SELECT version, binary_data, cloud_update_time, device_ack_time FROM device_configs
          WHERE device_id = d.device_id ORDER BY version DESC LIMIT 1) c ON true
      WHERE d.device_id = $1`,
    [deviceId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const { num_id: numId, ...config } = row;
  return {
    numId: String(numId),
    config:
      config.version === null
        ? { device_id: deviceId, version: 1, binary_data: '', cloud_update_time: new Date(0), device_ack_time: null }
        : normalise(config as DeviceConfigRow),
  };
}

/** Devices whose newest config changed at or after `since` (the bridge's change feed). */
export async function findConfigChangesSince(sql: Sql, since: Date): Promise<{ deviceId: string; version: number; at: Date }[]> {
  const { rows } = await sql.query<{ device_id: string; version: string | number; cloud_update_time: Date }>(
    `SELECT device_id, max(version) AS version, max(cloud_update_time) AS cloud_update_time
       FROM device_configs WHERE cloud_update_time >= $1 GROUP BY device_id LIMIT 100000`,
    [since.toISOString()],
  );
  return rows.map((r) => ({ deviceId: r.device_id, version: Number(r.version), at: new Date(r.cloud_update_time) }));
}

/** The database's clock, so that the change feed never depends on this machine's. */
export async function databaseNow(sql: Sql): Promise<Date> {
  const { rows } = await sql.query<{ now: Date }>('SELECT now() AS now');
  return new Date((rows[0] as { now: Date }).now);
}

/**
 * A new config version. With `versionToUpdate`, only if that is the current version (else
 * 409 naming the current one). A device without any config row has version 1, empty.
 * @returns undefined when the device does not exist.
 */
export async function modifyConfig(db: Database, deviceId: string, binaryData: string, versionToUpdate?: number): Promise<DeviceConfigRow | undefined> {
  return db.transaction(async (tx) => {
    // The device row's lock serialises concurrent modifications of one device.
    const device = await tx.query('SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE', [deviceId]);
    if (device.rows.length === 0) return undefined;
    const latest = (await findLatestConfigs(tx, [deviceId])).get(deviceId);
    const current = latest?.version ?? 1;
    if (versionToUpdate !== undefined && versionToUpdate !== current) {
      throw new HttpError(
        409,
        'aborted',
        `versionToUpdate ${versionToUpdate} is not the current version of device ${deviceId}: the current version is ${current}`,
      );
    }
    const { rows } = await tx.query<DeviceConfigRow>(
      `INSERT INTO device_configs (device_id, version, binary_data, cloud_update_time)
       VALUES ($1, $2, $3, clock_timestamp()) RETURNING ${CONFIG_COLUMNS}`,
      [deviceId, current + 1, binaryData],
    );
    await tx.query('DELETE FROM device_configs WHERE device_id = $1 AND version <= $2', [deviceId, current + 1 - KEPT_PER_DEVICE]);
    return normalise(rows[0] as DeviceConfigRow);
  });
}

/** The kept versions, newest first; `limit` 0 or undefined: all of them. */
export async function listConfigVersions(sql: Sql, deviceId: string, limit?: number): Promise<DeviceConfigRow[]> {
  const { rows } = await sql.query<DeviceConfigRow>(`SELECT ${CONFIG_COLUMNS} FROM device_configs WHERE device_id = $1 ORDER BY version DESC LIMIT $2`, [
    deviceId,
    limit || KEPT_PER_DEVICE,
  ]);
  return rows.map(normalise);
}

/**
 * Records that the device has version `version` (first acknowledgement wins), as IoT Core
 * did when a device told it its local version. Only the device numbered `numId` can: a
 * credential still cached for a device since deleted (and perhaps created again under the
 * same id) changes nothing of the new one's. An acknowledged version is not written again, so
 * a device polling with an older local version costs no write per poll.
 * @returns the acknowledgement time stored, or undefined when there is no such version (or device).
 */
export async function acknowledgeConfig(sql: Sql, device: { deviceId: string; numId: string }, version: number): Promise<Date | undefined> {
  const { rows } = await sql.query<{ device_ack_time: Date }>(
    `WITH config AS (
       SELECT c.device_ack_time FROM device_configs c JOIN devices d USING (device_id)
        WHERE c.device_id = $1 AND c.version = $2 AND d.num_id = $3
     ), acked AS (
       UPDATE device_configs SET device_ack_time = clock_timestamp()
        WHERE device_id = $1 AND version = $2 AND device_ack_time IS NULL AND EXISTS (SELECT 1 FROM config)
        RETURNING device_ack_time
     )
     SELECT device_ack_time FROM acked
     UNION ALL SELECT device_ack_time FROM config WHERE device_ack_time IS NOT NULL`,
    [device.deviceId, version, device.numId],
  );
  return rows[0] ? new Date(rows[0].device_ack_time) : undefined;
}

/**
 * Stores a reported state and drops all but the newest KEPT_PER_DEVICE of the device. Only the
 * device numbered `numId` can: see acknowledgeConfig.
 * @returns false when no such device exists (any more).
 */
export async function insertReportedState(db: Database, device: { deviceId: string; numId: string }, binaryData: string, at: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query(
      'INSERT INTO device_states (device_id, update_time, binary_data) SELECT device_id, $2, $3 FROM devices WHERE device_id = $1 AND num_id = $4 RETURNING 1',
      [device.deviceId, at.toISOString(), binaryData, device.numId],
    );
    if (rows.length === 0) return false;
    await tx.query(
      `DELETE FROM device_states WHERE device_id = $1 AND id NOT IN (
         SELECT id FROM device_states WHERE device_id = $1 ORDER BY update_time DESC, id DESC LIMIT $2)`,
      [device.deviceId, KEPT_PER_DEVICE],
    );
    return true;
  });
}

/** The kept states, newest first; `limit` 0 or undefined: all of them. */
export async function listReportedStates(sql: Sql, deviceId: string, limit?: number): Promise<DeviceStateEntry[]> {
  const { rows } = await sql.query<{ update_time: Date; binary_data: string }>(
    `SELECT update_time, binary_data FROM device_states WHERE device_id = $1 ORDER BY update_time DESC, id DESC LIMIT $2`,
    [deviceId, limit || KEPT_PER_DEVICE],
  );
  return rows.map((r) => ({ updateTime: new Date(r.update_time).toISOString(), binaryData: r.binary_data }));
}
