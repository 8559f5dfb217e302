/**
 * The devices' credentials, held in memory for a short time (shared/loading-cache.ts) so that
 * the hot path touches no database at steady state, yet a blocked or deleted device (or a
 * revoked key) is refused within one TTL; a device patched or created again under its id is
 * loaded afresh within a second (shared/stores/device-changes.ts). Concurrent lookups of one device share one query,
 * and public keys are imported once per PEM, not once per refresh.
 * @see ../../schemas/migrations/001_initial.sql (devices, device_credentials)
 */
import { hash, type KeyObject } from 'node:crypto';
import { importDevicePublicKey, type PublicKeyType } from '../../schemas/device.ts';
import { storedTokenDigest } from '../../shared/auth/device-token.ts';
import type { Database } from '../../shared/db/database.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { LoadingCache } from '../../shared/loading-cache.ts';
import { createDeviceChangeFeed } from '../../shared/stores/device-changes.ts';
import type { Logger } from '../../shared/log.ts';
import type { JwtAlgorithm, VerificationKey } from './jwt.ts';

export interface DeviceTokenCredential {
  credentialId: string;
  /** The stored SHA-256 of the token, decoded once per load rather than once per request. */
  secretDigest: Buffer;
  expiresAt?: number;
}

export interface DeviceAuth {
  deviceId: string;
  numId: string;
  registry: string;
  blocked: boolean;
  tokens: DeviceTokenCredential[];
  keys: VerificationKey[];
}

export interface CredentialsCache {
  /** The device and its credentials, or undefined when no such device exists. */
  get(deviceId: string): Promise<DeviceAuth | undefined>;
}

export interface CredentialsCacheOptions {
  database: () => Promise<Database>;
  logger: Logger;
  ttlMs: number;
  /** Unknown devices are remembered for less time, so that a new device works at once. */
  negativeTtlMs?: number;
  maxEntries?: number;
  /**
   * How often, at most, the devices changed lately are asked for (shared/stores/device-changes.ts):
   * a device patched (a key added for rotation) or created again under its id is loaded afresh
   * within about this long, not at the end of the TTL. Undefined: only the TTL.
   */
  changesRefreshMs?: number;
}

interface CredentialRow {
  device_id: string;
  num_id: string | number;
  registry: string;
  blocked: boolean;
  credential_id: string | null;
  type: string | null;
  secret_hash: string | null;
  public_key_pem: string | null;
  expires_at: Date | string | null;
}

const LOAD_SQL = `
  SELECT d.device_id, d.num_id, d.registry, d.blocked,
         c.credential_id, c.type, c.secret_hash, c.public_key_pem, c.expires_at
    FROM devices d LEFT JOIN device_credentials c ON c.device_id = d.device_id
   WHERE d.device_id = $1`;

const ALGORITHMS: Record<PublicKeyType, JwtAlgorithm> = { rs256: 'RS256', es256: 'ES256' };
const isPublicKeyType = (type: string): type is PublicKeyType => Object.hasOwn(ALGORITHMS, type);

/** Creates the cache; entries live `ttlMs` (CREDENTIAL_CACHE_TTL_MS, 5 s by default). */
export function createCredentialsCache(options: CredentialsCacheOptions): CredentialsCache {
  const maxEntries = options.maxEntries ?? 100_000;
  const negativeTtlMs = Math.min(options.negativeTtlMs ?? 1_000, options.ttlMs);
  const importedKeys = new Map<string, KeyObject | null>();

  const importKey = (type: PublicKeyType, pem: string): KeyObject | null => {
    const cacheKey = `${type}\n${pem}`;
    let key = importedKeys.get(cacheKey);
    if (key === undefined) {
      const imported = importDevicePublicKey(type, pem);
      key = 'key' in imported ? imported.key : null;
      if (importedKeys.size >= maxEntries) importedKeys.delete(importedKeys.keys().next().value as string);
      importedKeys.set(cacheKey, key);
    }
    return key;
  };

  // A stored credential the bridge cannot use is logged once, not at every reload of its device.
  const reported = new Set<string>();
  const reportUnusable = (message: string, deviceId: string, credentialId: string, stored: string): void => {
    // The stored value's digest, not the value: a PEM can be kilobytes, and this set holds up to maxEntries.
    const key = `${credentialId}\n${hash('sha256', stored, 'base64')}`;
    if (reported.has(key)) return;
    if (reported.size >= maxEntries) reported.delete(reported.values().next().value as string);
    reported.add(key);
    options.logger.warn(message, { deviceId, credentialId });
  };

  const load = async (deviceId: string): Promise<DeviceAuth | undefined> => {
    let rows: CredentialRow[];
    try {
      rows = (await (await options.database()).query<CredentialRow>(LOAD_SQL, [deviceId])).rows;
    } catch (error) {
      throw classifyDbError(error, 'loading device credentials');
    }
    const first = rows[0];
    if (!first) return undefined;
    const device: DeviceAuth = { deviceId, numId: String(first.num_id), registry: first.registry, blocked: first.blocked, tokens: [], keys: [] };
    for (const row of rows) {
      if (row.credential_id === null) continue;
      const expiresAt = row.expires_at === null ? undefined : new Date(row.expires_at).getTime();
      if (row.type === 'token' && row.secret_hash) {
        const secretDigest = storedTokenDigest(row.secret_hash);
        if (secretDigest) device.tokens.push({ credentialId: row.credential_id, secretDigest, expiresAt });
        else reportUnusable('device token hash cannot be used', deviceId, row.credential_id, row.secret_hash);
      } else if (row.type && row.public_key_pem && isPublicKeyType(row.type)) {
        const key = importKey(row.type, row.public_key_pem);
        if (key) device.keys.push({ credentialId: row.credential_id, algorithm: ALGORITHMS[row.type], key, expiresAt });
        else reportUnusable('device public key cannot be used', deviceId, row.credential_id, row.public_key_pem);
      }
    }
    return device;
  };

  const cache = new LoadingCache<string, DeviceAuth | undefined>({
    load,
    ttlMs: (device) => (device === undefined ? negativeTtlMs : options.ttlMs),
    maxEntries,
  });
  const changes =
    options.changesRefreshMs === undefined
      ? undefined
      : createDeviceChangeFeed({
          database: options.database,
          refreshMs: options.changesRefreshMs,
          onChanges: (changed) => {
            for (const deviceId of changed) cache.forget(deviceId);
          },
          onError: (error) => options.logger.warn('reading the devices changed lately failed; credentials are held for their TTL meanwhile', { error }),
        });
  return {
    get(deviceId) {
      changes?.poke();
      return cache.get(deviceId);
    },
  };
}
