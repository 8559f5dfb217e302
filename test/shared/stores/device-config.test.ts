/**
 * The config and state store on both PostgreSQLs the pipeline runs on (a server, and PGlite
 * in `npm start`): versions with optimistic concurrency, retention of the last 10, states.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../shared/db/database.ts';
import { migrate } from '../../../shared/db/migrate.ts';
import { openPglite } from '../../../shared/db/pglite.ts';
import { HttpError } from '../../../shared/errors.ts';
import { acknowledgeConfig, insertReportedState, listConfigVersions, listReportedStates, modifyConfig } from '../../../shared/stores/device-config.ts';
import { createTestDatabase, type TestDatabase } from '../../support/kit.ts';

let postgres: TestDatabase;
let pglite: Database;
let pgliteDir: string;

beforeAll(async () => {
  postgres = await createTestDatabase();
  pgliteDir = await mkdtemp(join(tmpdir(), 'config-store-'));
  pglite = await openPglite(pgliteDir);
  await migrate(pglite);
});

afterAll(async () => {
  await postgres?.drop();
  await pglite?.close();
  await rm(pgliteDir, { recursive: true, force: true });
});

describe.each([['PostgreSQL'], ['PGlite']])('device configs and states on %s', (kind) => {
  const db = () => (kind === 'PGlite' ? pglite : postgres.db);

  it('numbers versions, refuses a stale versionToUpdate naming the current one, keeps the last 10', async () => {
    await db().query("INSERT INTO devices (device_id) VALUES ('cfg-1')");
    // No config row yet: the device has the implicit, empty version 1.
    expect((await modifyConfig(db(), 'cfg-1', 'YQ==', 1))?.version).toBe(2);
    await expect(modifyConfig(db(), 'cfg-1', 'Yg==', 1)).rejects.toThrow(/the current version is 2/);
    await expect(modifyConfig(db(), 'cfg-1', 'Yg==', 1)).rejects.toBeInstanceOf(HttpError);
    for (let i = 0; i < 12; i++) await modifyConfig(db(), 'cfg-1', 'Yw==');
    expect((await listConfigVersions(db(), 'cfg-1')).map((r) => r.version)).toEqual([14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
    expect((await listConfigVersions(db(), 'cfg-1', 2)).map((r) => r.version)).toEqual([14, 13]);
    expect(await modifyConfig(db(), 'nobody', 'YQ==')).toBeUndefined();
  });

  /** Creates the device; returns it as a credential proves it, with its number. */
  const createDevice = async (deviceId: string) => {
    const { rows } = await db().query<{ num_id: string | number }>('INSERT INTO devices (device_id) VALUES ($1) RETURNING num_id', [deviceId]);
    return { deviceId, numId: String(rows[0]?.num_id) };
  };

  it('keeps the last 10 states, newest first', async () => {
    const device = await createDevice('st-1');
    for (let i = 0; i < 12; i++) await insertReportedState(db(), device, Buffer.from(`s${i}`).toString('base64'), new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
    const states = await listReportedStates(db(), 'st-1');
    expect(states.map((s) => Buffer.from(s.binaryData, 'base64').toString())).toEqual(Array.from({ length: 10 }, (_, i) => `s${11 - i}`));
  });

  it('takes a state or an acknowledgement only from the device of that number, not one deleted before it', async () => {
    const old = await createDevice('re-1');
    await db().query("DELETE FROM devices WHERE device_id = 're-1'");
    expect(await insertReportedState(db(), old, 'b2xk', new Date())).toBe(false);
    const current = await createDevice('re-1');
    await db().query("INSERT INTO device_configs (device_id, version, binary_data) VALUES ('re-1', 1, '')");
    expect(await insertReportedState(db(), old, 'b2xk', new Date())).toBe(false);
    expect(await acknowledgeConfig(db(), old, 1)).toBeUndefined();
    expect(await listReportedStates(db(), 're-1')).toEqual([]);
    expect((await listConfigVersions(db(), 're-1'))[0]?.device_ack_time).toBeNull();
    expect(await insertReportedState(db(), current, 'bmV3', new Date())).toBe(true);
    expect((await listReportedStates(db(), 're-1')).map((s) => s.binaryData)).toEqual(['bmV3']);
  });

  it('acknowledges a version once: a later poll with it returns the first time and writes nothing', async () => {
    const device = await createDevice('ack-1');
    await db().query("INSERT INTO device_configs (device_id, version, binary_data) VALUES ('ack-1', 1, ''), ('ack-1', 2, 'eA==')");
    const first = await acknowledgeConfig(db(), device, 1);
    expect(first).toBeInstanceOf(Date);
    const rowVersion = async () =>
      (await db().query<{ xmin: string }>("SELECT xmin::text FROM device_configs WHERE device_id = 'ack-1' AND version = 1")).rows[0]?.xmin;
    const before = await rowVersion();
    expect(await acknowledgeConfig(db(), device, 1)).toEqual(first);
    expect(await rowVersion()).toBe(before);
    expect(await acknowledgeConfig(db(), device, 3)).toBeUndefined();
  });
});
