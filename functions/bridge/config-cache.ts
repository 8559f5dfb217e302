/**
 * Device configurations in memory, so that a fleet polling `GET .../config` costs no
 * database query per poll. Entries stay until the device's config changes: once per
 * `refreshMs` at most (and only while devices ask), one query over `device_configs` asks
 * which configs changed since the last look (the change feed, on the database's own clock),
 * and drops those devices' entries. A new config is therefore seen within about `refreshMs`
 * by every bridge instance, at a cost independent of the fleet's size. Concurrent misses of
 * one device share one query (shared/loading-cache.ts, with no TTL: the feed invalidates).
 * @see ../../docs/devices.md "Configuration and state"
 */
import type { DeviceConfigRow } from '../../schemas/tables.ts';
import type { Database } from '../../shared/db/database.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { LoadingCache } from '../../shared/loading-cache.ts';
import { acknowledgeConfig, databaseNow, findConfigChangesSince, findDeviceConfig } from '../../shared/stores/device-config.ts';
import { unauthenticated } from './auth.ts';
import type { DeviceAuth } from './credentials-cache.ts';

/** The device a credential proved: its id, and its number, which tells it from one deleted before. */
export type ProvenDevice = Pick<DeviceAuth, 'deviceId' | 'numId'>;

export interface DeviceConfigCache {
  /**
   * The device's newest config; a device with none has an implicit, empty version 1. Throws 401
   * when the device numbered so exists no more (a credential cached for a device since deleted,
   * perhaps created again under the same id).
   */
  latest(device: ProvenDevice): Promise<DeviceConfigRow>;
  /** Records the device's acknowledgement of `version` once. */
  acknowledge(device: ProvenDevice, version: number): Promise<void>;
  readonly stats: { queries: number; hits: number };
}

export interface DeviceConfigCacheOptions {
  database: () => Promise<Database>;
  /** How often, at most, the change feed is read (CONFIG_REFRESH_MS, 1 s by default). */
  refreshMs: number;
  maxEntries?: number;
}

/**
 * Commits can land with a `cloud_update_time` slightly before the moment the feed looked
 * (the transaction's clock starts before its commit): the feed looks back this far.
 */
const FEED_OVERLAP_MS = 5_000;

export function createDeviceConfigCache(options: DeviceConfigCacheOptions): DeviceConfigCache {
  let queries = 0;
  let feedSince: Date | undefined;
  // performance.now() of the last feed read: monotonic, so that a wall clock stepped back cannot stop the reads.
  let feedCheckedAt = Number.NEGATIVE_INFINITY;
  let feed: Promise<void> | undefined;

  const query = async <T>(what: string, run: (db: Database) => Promise<T>): Promise<T> => {
    queries += 1;
    try {
      return await run(await options.database());
    } catch (error) {
      throw classifyDbError(error, what);
    }
  };

  // The number of the device each config was loaded for (undefined: none such), so that a device
  // created again under an id never sees the config its predecessor was given, nor the reverse.
  const entries = new LoadingCache<string, { numId: string | undefined; config: DeviceConfigRow }>({
    load: async (deviceId) => {
      const found = await query('loading the device config', (db) => findDeviceConfig(db, deviceId));
      return found ?? { numId: undefined, config: { device_id: deviceId, version: 1, binary_data: '', cloud_update_time: new Date(0), device_ack_time: null } };
    },
    // Held until the change feed says the device's config changed.
    ttlMs: () => Number.POSITIVE_INFINITY,
    maxEntries: options.maxEntries ?? 100_000,
  });

  /** Drops entries whose device got a newer config than the one held. */
  const readFeed = async () => {
    if (feedSince === undefined) {
      // First use: nothing is cached yet, so only the clock is needed.
      feedSince = await query('reading the database clock', databaseNow);
      return;
    }
    const since = new Date(feedSince.getTime() - FEED_OVERLAP_MS);
    const [changes, now] = await query('reading config changes', async (db) => [await findConfigChangesSince(db, since), await databaseNow(db)] as const);
    for (const change of changes) {
      const held = entries.peek(change.deviceId);
      if (!held) continue;
      const row = (await held.catch(() => undefined))?.config;
      if (!row || row.version !== change.version || row.cloud_update_time.getTime() < change.at.getTime()) entries.forget(change.deviceId);
    }
    feedSince = now;
  };

  const refreshIfDue = async () => {
    const nowMs = performance.now();
    if (nowMs - feedCheckedAt < options.refreshMs) return;
    feed ??= readFeed().finally(() => {
      feedCheckedAt = performance.now();
      feed = undefined;
    });
    await feed;
  };

  return {
    get stats() {
      return { queries, hits: entries.stats.hits };
    },
    async latest(device) {
      await refreshIfDue();
      let held = await entries.get(device.deviceId);
      if (held.numId !== device.numId) {
        // Loaded for another device of this id, or before this one existed: ask once more.
        entries.forget(device.deviceId);
        held = await entries.get(device.deviceId);
      }
      if (held.numId !== device.numId) throw unauthenticated();
      return held.config;
    },
    async acknowledge(device, version) {
      const held = await entries.peek(device.deviceId)?.catch(() => undefined);
      const config = held?.numId === device.numId ? held.config : undefined;
      // Acknowledged already (as far as this instance knows), or the implicit version 1 of a
      // device without config rows: nothing to write.
      if (config?.version === version && (config.device_ack_time !== null || config.cloud_update_time.getTime() === 0)) return;
      const at = await query('acknowledging the device config', (db) => acknowledgeConfig(db, device, version));
      if (at && held && config?.version === version) entries.set(device.deviceId, { numId: held.numId, config: { ...config, device_ack_time: at } });
    },
  };
}
