/**
 * Config reads are on the devices' hot path: a fleet polling `GET .../config` must not cost
 * a database query per poll, yet a config the operator changes must reach the devices within
 * seconds. Counts the bridge's queries against real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../shared/db/database.ts';
import { modifyConfig } from '../shared/stores/device-config.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { randomUUID } from 'node:crypto';
import { generateDeviceToken, hashDeviceToken } from '../shared/auth/device-token.ts';
import { createDevice } from './support/devices.ts';
import { startBridge, type BridgeUnderTest } from './support/bridge.ts';
import { waitFor } from './support/net.ts';

const FLEET = 25;
let database: TestDatabase;
const tokens: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  for (let i = 0; i < FLEET; i++) {
    const device = await createDevice(database.db, { deviceId: `poller-${i}`, token: true });
    tokens.push(device.token as string);
    await database.db.query("INSERT INTO device_configs (device_id, version, binary_data) VALUES ($1, 1, 'djE=')", [`poller-${i}`]);
  }
});

afterAll(async () => {
  await database?.drop();
});

/** The test database, counting the queries the bridge sends it. */
function countingDatabase(db: Database): { database: Database; count: () => number } {
  let queries = 0;
  const database = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'query') return (text: string, params?: unknown[]) => ((queries += 1), target.query(text, params));
      // The test database outlives each bridge.
      if (property === 'close') return () => Promise.resolve();
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { database, count: () => queries };
}

async function pollFleet(bridge: BridgeUnderTest, localVersion: number): Promise<{ version: string; binaryData?: string }[]> {
  return Promise.all(
    tokens.map(async (token, i) => {
      const response = await fetch(`${bridge.served.url}/v1/devices/poller-${i}/config?local_version=${localVersion}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { version: string; binaryData?: string };
    }),
  );
}

describe('a polling fleet', () => {
  it('costs no database query per poll at steady state', async () => {
    const counted = countingDatabase(database.db);
    // No change-feed look within the test: only the polls themselves could query.
    const bridge = await startBridge({
      databaseUrl: database.url,
      env: { CONFIG_REFRESH_MS: '600000', CREDENTIAL_CACHE_TTL_MS: '600000' },
      providers: { database: () => Promise.resolve(counted.database) },
    });
    try {
      await pollFleet(bridge, 0);
      await pollFleet(bridge, 1); // acknowledges version 1: one write per device, once
      const warm = counted.count();
      const rounds = 8;
      for (let round = 0; round < rounds; round++) {
        const answers = await pollFleet(bridge, 1);
        expect(answers.every((a) => a.version === '1' && a.binaryData === undefined)).toBe(true);
      }
      const perPoll = (counted.count() - warm) / (rounds * FLEET);
      console.info(`queries per poll at steady state: ${perPoll} (${rounds * FLEET} polls)`);
      expect(perPoll).toBe(0);
    } finally {
      await bridge.close();
    }
  });

  it('sees a new config within seconds, through one change-feed query per refresh for the whole fleet', async () => {
    const counted = countingDatabase(database.db);
    const bridge = await startBridge({
      databaseUrl: database.url,
      env: { CONFIG_REFRESH_MS: '200', CREDENTIAL_CACHE_TTL_MS: '600000' },
      providers: { database: () => Promise.resolve(counted.database) },
    });
    try {
      await pollFleet(bridge, 1);
      const before = counted.count();
      let polls = 0;
      for (let i = 0; i < 4; i++) {
        await pollFleet(bridge, 1);
        polls += FLEET;
      }
      console.info(`queries per poll with a 200 ms change feed: ${(counted.count() - before) / polls} (${polls} polls)`);
      await modifyConfig(database.db, 'poller-3', Buffer.from('v2').toString('base64'));
      await waitFor(async () => (await pollFleet(bridge, 1))[3]?.version === '2', { timeoutMs: 5_000, what: 'version 2 at the bridge' });
      const answers = await pollFleet(bridge, 1);
      expect(answers[3]).toMatchObject({ version: '2', binaryData: Buffer.from('v2').toString('base64') });
      expect(answers.filter((a) => a.version === '1')).toHaveLength(FLEET - 1);
    } finally {
      await bridge.close();
    }
  });

  it('keeps reading the change feed after the wall clock steps back', async () => {
    const bridge = await startBridge({ databaseUrl: database.url, env: { CONFIG_REFRESH_MS: '200', CREDENTIAL_CACHE_TTL_MS: '600000' } });
    try {
      await pollFleet(bridge, 1);
      // The machine's clock is corrected an hour back, and runs on from there.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 3_600_000, shouldAdvanceTime: true });
      await modifyConfig(database.db, 'poller-5', Buffer.from('v3').toString('base64'));
      await waitFor(async () => (await pollFleet(bridge, 1))[5]?.binaryData === Buffer.from('v3').toString('base64'), {
        timeoutMs: 5_000,
        what: 'the new config at the bridge',
      });
    } finally {
      vi.useRealTimers();
      await bridge.close();
    }
  });
});

describe('a device deleted and created again under its id', () => {
  /**
   * Deletes `deviceId` and creates it again with a config version 1; one the change feed never
   * sees unless `seen` (written as by a transaction that began 10 s before its commit).
   */
  async function recreate(deviceId: string, binaryData: string, seen: boolean) {
    await database.db.query('DELETE FROM devices WHERE device_id = $1', [deviceId]);
    const created = await createDevice(database.db, { deviceId, token: true });
    await database.db.query(
      `INSERT INTO device_configs (device_id, version, binary_data, cloud_update_time) VALUES ($1, 1, $2, now() - interval '${seen ? 0 : 10} seconds')`,
      [deviceId, binaryData],
    );
    return created;
  }

  const asDevice =
    (bridge: BridgeUnderTest, deviceId: string, token: string) =>
    (path: string, init: RequestInit = {}) =>
      fetch(`${bridge.served.url}/v1/devices/${deviceId}/${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });

  it('serves the new device its own config, not the one cached for the device deleted before it', async () => {
    const bridge = await startBridge({ databaseUrl: database.url, env: { CREDENTIAL_CACHE_TTL_MS: '0' } });
    try {
      const old = await createDevice(database.db, { deviceId: 'reborn-1', token: true });
      await database.db.query("INSERT INTO device_configs (device_id, version, binary_data) VALUES ('reborn-1', 1, 'b2xk')");
      expect(await (await asDevice(bridge, 'reborn-1', old.token as string)('config')).json()).toMatchObject({ version: '1', binaryData: 'b2xk' });
      const reborn = await recreate('reborn-1', 'bmV3IG93bmVy', false);
      expect(await (await asDevice(bridge, 'reborn-1', reborn.token as string)('config')).json()).toMatchObject({ version: '1', binaryData: 'bmV3IG93bmVy' });
    } finally {
      await bridge.close();
    }
  });

  it("refuses the deleted device's still-cached credential its successor's config, and takes no state or acknowledgement from it", async () => {
    // Credentials held for a minute: the old device's token still passes the bridge's cache.
    const bridge = await startBridge({ databaseUrl: database.url, env: { CREDENTIAL_CACHE_TTL_MS: '60000' } });
    try {
      const old = await createDevice(database.db, { deviceId: 'reborn-2', token: true });
      const asOld = asDevice(bridge, 'reborn-2', old.token as string);
      expect((await asOld('config')).status).toBe(200);
      await recreate('reborn-2', 'bmV3IG93bmVy', true);
      // Once the change feed drops the entry, the config loaded is the successor's: refused.
      await waitFor(async () => (await asOld('config')).status === 401, { what: "the old credential refused the successor's config" });
      expect((await asOld('config?local_version=1')).status).toBe(401);
      expect((await asOld('state', { method: 'POST', body: '{"old":"device"}' })).status).toBe(401);
      const { rows } = await database.db.query<{ states: number; acked: number }>(
        `SELECT (SELECT count(*) FROM device_states WHERE device_id = 'reborn-2')::int AS states,
                (SELECT count(*) FROM device_configs WHERE device_id = 'reborn-2' AND device_ack_time IS NOT NULL)::int AS acked`,
      );
      expect(rows[0]).toEqual({ states: 0, acked: 0 });
    } finally {
      await bridge.close();
    }
  });
});

describe('credentials held for a minute', () => {
  it("take a token added by a patch, and drop a deleted device's token once its id is created again, within about a second", async () => {
    const bridge = await startBridge({ databaseUrl: database.url, env: { CREDENTIAL_CACHE_TTL_MS: '60000', CONFIG_REFRESH_MS: '100' } });
    try {
      const device = await createDevice(database.db, { deviceId: 'rotating-1', token: true });
      const config = (token: string) => fetch(`${bridge.served.url}/v1/devices/rotating-1/config`, { headers: { authorization: `Bearer ${token}` } });
      expect((await config(device.token as string)).status).toBe(200);
      // A second token, as a PATCH adds it: the credential row, and the device's updated_at.
      const added = generateDeviceToken();
      await database.db.query("INSERT INTO device_credentials (credential_id, device_id, type, secret_hash) VALUES ($1, 'rotating-1', 'token', $2)", [
        randomUUID(),
        hashDeviceToken(added),
      ]);
      await database.db.query("UPDATE devices SET updated_at = now() WHERE device_id = 'rotating-1'");
      await waitFor(async () => (await config(added)).status === 200, { timeoutMs: 5_000, what: 'the added token accepted' });

      await database.db.query("DELETE FROM devices WHERE device_id = 'rotating-1'");
      const reborn = await createDevice(database.db, { deviceId: 'rotating-1', token: true });
      await waitFor(async () => (await config(added)).status === 401, { timeoutMs: 5_000, what: "the deleted device's token refused" });
      expect((await config(reborn.token as string)).status).toBe(200);
    } finally {
      await bridge.close();
    }
  });
});
