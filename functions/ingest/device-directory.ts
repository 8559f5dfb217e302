/**
 * Device registry look-ups for enrichment, cached in memory (shared/loading-cache.ts: a TTL,
 * a size bound, one load per device at a time), so that steady traffic does not query the
 * registry per message; a device created again under its id, or patched, is looked up afresh
 * within a second (shared/stores/device-changes.ts). Misses arriving in the same tick share one query
 * (`WHERE device_id = ANY($1)`).
 */
import type { Database } from '../../shared/db/database.ts';
import { LoadingCache } from '../../shared/loading-cache.ts';
import type { Logger } from '../../shared/log.ts';
import { createDeviceChangeFeed } from '../../shared/stores/device-changes.ts';

export interface DeviceInfo {
  deviceId: string;
  numId: number;
  registry: string;
  site: string | null;
  tags: Record<string, string>;
  blocked: boolean;
}

export interface DeviceDirectoryOptions {
  ttlMs?: number;
  /**
   * How often, at most, the devices changed lately are asked for (shared/stores/device-changes.ts),
   * 1 s by default: a device created again under its id (or patched: its site, its tags) is
   * looked up afresh within about this long, not at the end of the TTL.
   */
  changesRefreshMs?: number;
  logger?: Logger;
  /** Unknown devices are remembered briefly, so a flood for one bogus id costs one query. */
  negativeTtlMs?: number;
  maxEntries?: number;
}

export interface DeviceDirectory {
  get(deviceId: string): Promise<DeviceInfo | undefined>;
  /** Drops the cached entry, so that the next `get` asks the database (a device deleted or re-created). */
  forget(deviceId: string): void;
  /** Cache hits and database queries, for tests and logs. */
  readonly stats: { hits: number; queries: number };
}

export function createDeviceDirectory(database: () => Promise<Database>, options: DeviceDirectoryOptions = {}): DeviceDirectory {
  const ttlMs = options.ttlMs ?? 30_000;
  const negativeTtlMs = options.negativeTtlMs ?? 2_000;
  let queries = 0;
  const cache = new LoadingCache<string, DeviceInfo | undefined>({
    load: loadedTogether(async (ids) => {
      queries += 1;
      const db = await database();
      const { rows } = await db.query<{
        device_id: string;
        num_id: number;
        registry: string;
        site: string | null;
        tags: Record<string, string>;
        blocked: boolean;
      }>('SELECT device_id, num_id, registry, site, tags, blocked FROM devices WHERE device_id = ANY($1::text[])', [ids]);
      return new Map(
        rows.map((r) => [
          r.device_id,
          { deviceId: r.device_id, numId: Number(r.num_id), registry: r.registry, site: r.site, tags: r.tags, blocked: r.blocked },
        ]),
      );
    }),
    ttlMs: (device) => (device ? ttlMs : negativeTtlMs),
    maxEntries: options.maxEntries ?? 50_000,
  });
  const changes = createDeviceChangeFeed({
    database,
    refreshMs: options.changesRefreshMs ?? 1_000,
    onChanges: (changed) => {
      for (const deviceId of changed) cache.forget(deviceId);
    },
    onError: (error) => options.logger?.warn('reading the devices changed lately failed; the directory holds entries for their TTL meanwhile', { error }),
  });
  return {
    get stats() {
      return { hits: cache.stats.hits, queries };
    },
    get(deviceId) {
      changes.poke();
      return cache.get(deviceId);
    },
    forget: (deviceId) => cache.forget(deviceId),
  };
}

type Waiting<V> = Map<string, { resolve: (value: V | undefined) => void; reject: (error: unknown) => void }[]>;

/** Single loads asked for in the same turn of the event loop, made as one query for all their ids. */
function loadedTogether<V>(loadMany: (ids: string[]) => Promise<Map<string, V>>): (id: string) => Promise<V | undefined> {
  let waiting: Waiting<V> | undefined;
  const loadAll = (batch: Waiting<V>) => {
    waiting = undefined;
    loadMany([...batch.keys()]).then(
      (found) => {
        for (const [id, waiters] of batch) for (const w of waiters) w.resolve(found.get(id));
      },
      (error: unknown) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
      },
    );
  };
  return (id) =>
    new Promise((resolve, reject) => {
      if (waiting === undefined) {
        const batch: Waiting<V> = new Map();
        waiting = batch;
        setImmediate(() => loadAll(batch));
      }
      const waiters = waiting.get(id) ?? [];
      waiters.push({ resolve, reject });
      waiting.set(id, waiters);
    });
}
