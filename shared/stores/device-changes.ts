/**
 * The devices changed lately (created, created again under an id, patched: `updated_at`), read
 * on the database's clock at most once per `refreshMs` and only while someone asks, so that a
 * cache of devices (the bridge's credentials, ingest's directory) drops an entry within about
 * `refreshMs` of a change instead of at the end of its TTL: a device deleted and created again
 * under its id is never taken for its predecessor, and a key added for rotation works at once.
 * A delete alone is not seen (the row is gone); the caches' TTL bounds that.
 */
import type { Database } from '../db/database.ts';
import { classifyDbError } from '../db/database.ts';
import { databaseNow } from './device-config.ts';

/**
 * `updated_at` is the transaction's start, so a change can commit with a time slightly before
 * the moment the feed last looked: the feed looks back this far.
 */
const OVERLAP_MS = 5_000;

export interface DeviceChangeFeed {
  /**
   * Starts a read of the feed when one is due, without waiting for it: a cache answers from
   * what it holds meanwhile, and a database that does not answer delays nothing (its TTL then
   * bounds the entries, as before).
   */
  poke(): void;
}

export function createDeviceChangeFeed(options: {
  database: () => Promise<Database>;
  refreshMs: number;
  /** The ids of the devices changed since the last read (and a few seconds before it). */
  onChanges: (deviceIds: string[]) => void;
  onError?: (error: unknown) => void;
}): DeviceChangeFeed {
  let since: Date | undefined;
  // performance.now() of the last read: monotonic, so that a wall clock stepped back cannot stop the reads.
  let checkedAt = Number.NEGATIVE_INFINITY;
  let reading = false;

  const read = async () => {
    const db = await options.database();
    if (since === undefined) {
      // First use: nothing is cached yet, so only the clock is needed.
      since = await databaseNow(db);
      return;
    }
    const { rows } = await db.query<{ device_id: string }>('SELECT device_id FROM devices WHERE updated_at >= $1 LIMIT 100000', [
      new Date(since.getTime() - OVERLAP_MS).toISOString(),
    ]);
    // The clock after the changes were read: a change committed meanwhile is looked back on next time.
    since = await databaseNow(db);
    if (rows.length > 0) options.onChanges(rows.map((r) => r.device_id));
  };

  return {
    poke() {
      if (reading || performance.now() - checkedAt < options.refreshMs) return;
      reading = true;
      read()
        .catch((error: unknown) => options.onError?.(classifyDbError(error, 'reading device changes')))
        .finally(() => {
          checkedAt = performance.now();
          reading = false;
        });
    },
  };
}
