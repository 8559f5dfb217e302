/**
 * Device token credentials: a random secret of 192 bits, shown to the operator once and
 * stored only as its SHA-256. A slow password hash is not needed: the secret is random and
 * long, so the hash cannot be brute-forced, and the bridge checks it on every request.
 */
import { hash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './bearer.ts';

const PREFIX = 'sha256:';
const STORED_HASH = /^sha256:[0-9a-f]{64}$/;

/** A new token: 24 random bytes, base64url (32 characters). */
export function generateDeviceToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The stored form of a token (`device_credentials.secret_hash`). */
export function hashDeviceToken(token: string): string {
  return PREFIX + hash('sha256', token, 'hex');
}

/** The 32 bytes of a stored hash, decoded once (the bridge keeps them with the device); undefined when it is not one. */
export function storedTokenDigest(storedHash: string): Buffer | undefined {
  return STORED_HASH.test(storedHash) ? Buffer.from(storedHash.slice(PREFIX.length), 'hex') : undefined;
}

/** The digest of a presented token, compared (`constantTimeEqual`) with each stored one. */
export const presentedTokenDigest = (token: string): Buffer => hash('sha256', token, 'buffer');

/** Constant-time comparison of a presented token against a stored hash. */
export function deviceTokenMatches(token: string, storedHash: string): boolean {
  const stored = storedTokenDigest(storedHash);
  return stored !== undefined && constantTimeEqual(presentedTokenDigest(token), stored);
}
