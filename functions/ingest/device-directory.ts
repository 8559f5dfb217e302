/**
 * Device registry look-ups for enrichment, cached in memory with a TTL and a size bound, so
 * that steady traffic does not query the registry per message. Misses arriving in the same
 * tick share one query (`WHERE device_id = ANY($1)`).
 */
import type { Database } from '../../shared/db/database.ts';

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
  /** Unknown devices are remembered briefly, so a flood for one bogus id costs one query. */
  negativeTtlMs?: number;
  maxEntries?: number;
}

interface Entry {
  device: DeviceInfo | undefined;
  expiresAt: number;
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
  const maxEntries = options.maxEntries ?? 50_000;
  const cache = new Map<string, Entry>();
  let waiting = new Map<string, { resolve: (d: DeviceInfo | undefined) => void; reject: (e: unknown) => void }[]>();
  const stats = { hits: 0, queries: 0 };

  const remember = (id: string, device: DeviceInfo | undefined) => {
    if (cache.size >= maxEntries) {
      // Evict the oldest insertion (Map keeps insertion order).
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(id, { device, expiresAt: Date.now() + (device ? ttlMs : negativeTtlMs) });
  };

  const lookUpWaiting = async () => {
    const batch = waiting;
    waiting = new Map();
    const ids = [...batch.keys()];
    try {
      stats.queries += 1;
      const db = await database();
      const { rows } = await db.query<{ device_id: string; num_id: number; registry: string; site: string | null; tags: Record<string, string>; blocked: boolean }>(
        'SELECT device_id, num_id, registry, site, tags, blocked FROM devices WHERE device_id = ANY($1::text[])',
        [ids],
      );
      const found = new Map(rows.map((r) => [r.device_id, { deviceId: r.device_id, numId: Number(r.num_id), registry: r.registry, site: r.site, tags: r.tags, blocked: r.blocked }]));
      for (const [id, waiters] of batch) {
        const device = found.get(id);
        remember(id, device);
        for (const w of waiters) w.resolve(device);
      }
    } catch (error) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    }
  };

  return {
    stats,
    forget(deviceId) {
      cache.delete(deviceId);
    },
    get(deviceId) {
      const entry = cache.get(deviceId);
      if (entry && entry.expiresAt > Date.now()) {
        stats.hits += 1;
        return Promise.resolve(entry.device);
      }
      return new Promise((resolve, reject) => {
        const first = waiting.size === 0;
        const list = waiting.get(deviceId) ?? [];
        list.push({ resolve, reject });
        waiting.set(deviceId, list);
        if (first) setImmediate(() => void lookUpWaiting());
      });
    },
  };
}
