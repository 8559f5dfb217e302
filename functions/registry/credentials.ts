/**
 * Credentials as the registry stores and shows them: a token's secret is generated here,
 * stored only as its hash (shared/auth/device-token.ts, which the bridge verifies against)
 * and shown once; public keys are stored as the PEM that was uploaded.
 */
import { randomBytes } from 'node:crypto';
import { generateDeviceToken, hashDeviceToken } from '../../shared/auth/device-token.ts';
import type { CredentialResponse, CredentialSpec } from '../../schemas/device.ts';
import type { DeviceCredentialRow } from '../../schemas/tables.ts';

/** A credential row about to be inserted. */
export type NewCredentialRow = Omit<DeviceCredentialRow, 'created_at'>;

export interface MintedCredentials {
  rows: NewCredentialRow[];
  /** Token secrets by credential id: for the one response that may show them. */
  tokens: Map<string, string>;
}

let lastMs = 0;
let sequence = 0;

/**
 * A unique id that sorts by creation: 48 bits of epoch ms, a 16-bit counter within the
 * millisecond, then 64 random bits, as lowercase hex (which every collation orders the same).
 * Credentials created in one transaction share `created_at`; their ids keep them in the
 * order they were given.
 */
export function generateCredentialId(now = Date.now()): string {
  sequence = now === lastMs ? (sequence + 1) & 0xffff : 0;
  lastMs = now;
  return now.toString(16).padStart(12, '0') + sequence.toString(16).padStart(4, '0') + randomBytes(8).toString('hex');
}

/** Turns the specs of one device into rows, generating token secrets. */
export function mintCredentials(deviceId: string, specs: readonly CredentialSpec[], tokens = new Map<string, string>()): MintedCredentials {
  const rows = specs.map((spec): NewCredentialRow => {
    const credentialId = generateCredentialId();
    if (spec.type === 'token') {
      const token = generateDeviceToken();
      tokens.set(credentialId, token);
      return { credential_id: credentialId, device_id: deviceId, type: 'token', secret_hash: hashDeviceToken(token), public_key_pem: null, expires_at: null };
    }
    return {
      credential_id: credentialId,
      device_id: deviceId,
      type: spec.type,
      secret_hash: null,
      public_key_pem: spec.publicKeyPem,
      expires_at: spec.expiresAt ?? null,
    };
  });
  return { rows, tokens };
}

/** The operator's view of a stored credential; never the hash. */
export function toCredentialResponse(row: DeviceCredentialRow, tokens?: ReadonlyMap<string, string>): CredentialResponse {
  const token = tokens?.get(row.credential_id);
  return {
    credentialId: row.credential_id,
    type: row.type as CredentialResponse['type'],
    expiresAt: row.expires_at ? row.expires_at.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    ...(row.public_key_pem !== null ? { publicKeyPem: row.public_key_pem } : {}),
    ...(token !== undefined ? { token } : {}),
  };
}
