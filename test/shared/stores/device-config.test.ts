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
import { insertReportedState, listConfigVersions, listReportedStates, modifyConfig } from '../../../shared/stores/device-config.ts';
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

  it('keeps the last 10 states, newest first', async () => {
    await db().query("INSERT INTO devices (device_id) VALUES ('st-1')");
    for (let i = 0; i < 12; i++) await insertReportedState(db(), 'st-1', Buffer.from(`s${i}`).toString('base64'), new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
    const states = await listReportedStates(db(), 'st-1');
    expect(states.map((s) => Buffer.from(s.binaryData, 'base64').toString())).toEqual(Array.from({ length: 10 }, (_, i) => `s${11 - i}`));
  });
});
