/**
 * Test helpers that put devices and their credentials straight into a Database, the way the
 * registry stores them (token secrets hashed with hashDeviceToken, public keys as PEM), so
 * that bridge and ingest tests need not go through the registry's HTTP API.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Sql } from '../../shared/db/database.ts';
import { generateDeviceToken, hashDeviceToken } from '../../shared/auth/device-token.ts';

export type PublicKeyType = 'es256' | 'rs256';

export interface TestPublicKey {
  type: PublicKeyType;
  pem: string;
  /** When the key stops being accepted. */
  expiresAt?: Date | string;
}

export interface TestDeviceSpec {
  deviceId: string;
  registry?: string;
  site?: string;
  tags?: Record<string, string>;
  blocked?: boolean;
  /** Give the device a token credential; its secret is returned. */
  token?: boolean;
  publicKeys?: TestPublicKey[];
}

export interface TestDevice {
  deviceId: string;
  numId: number;
  /** The token secret, when `token: true` was asked for. */
  token?: string;
}

/**
 * Inserts one device with the credentials asked for.
 * @see ../../schemas/migrations/001_initial.sql (devices, device_credentials)
 */
export async function createDevice(db: Sql, spec: TestDeviceSpec): Promise<TestDevice> {
  const inserted = await db.query<{ num_id: number | string }>(
    `INSERT INTO devices (device_id, registry, site, tags, blocked)
     VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING num_id`,
    [spec.deviceId, spec.registry ?? 'default', spec.site ?? null, JSON.stringify(spec.tags ?? {}), spec.blocked ?? false],
  );
  const token = spec.token ? generateDeviceToken() : undefined;
  if (token !== undefined) {
    await db.query(`INSERT INTO device_credentials (credential_id, device_id, type, secret_hash) VALUES ($1, $2, 'token', $3)`, [
      randomUUID(),
      spec.deviceId,
      hashDeviceToken(token),
    ]);
  }
  for (const key of spec.publicKeys ?? []) {
    const expiresAt = key.expiresAt === undefined ? null : new Date(key.expiresAt).toISOString();
    await db.query(
      `INSERT INTO device_credentials (credential_id, device_id, type, public_key_pem, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [randomUUID(), spec.deviceId, key.type, key.pem, expiresAt],
    );
  }
  return { deviceId: spec.deviceId, numId: Number(inserted.rows[0]?.num_id), ...(token !== undefined ? { token } : {}) };
}

/** Inserts several devices, one after the other. */
export async function createDevices(db: Sql, specs: readonly TestDeviceSpec[]): Promise<TestDevice[]> {
  const created: TestDevice[] = [];
  for (const spec of specs) created.push(await createDevice(db, spec));
  return created;
}

export interface TestKeyPair {
  type: PublicKeyType;
  publicKeyPem: string;
  privateKeyPem: string;
}

/** A fresh key pair of the kind IoT Core devices use: EC P-256 (ES256) or RSA 2048 (RS256). */
export function generateTestKeyPair(type: PublicKeyType): TestKeyPair {
  const { publicKey, privateKey } = type === 'es256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    type,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
