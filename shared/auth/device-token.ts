/**
 * Device token credentials: a random secret of 192 bits, shown to the operator once and
 * stored only as its SHA-256. A slow password hash is not needed: the secret is random and
 * long, so the hash cannot be brute-forced, and the bridge checks it on every request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './bearer.ts';

const PREFIX = 'sha256:';

/** A new token: 24 random bytes, base64url (32 characters). */
export function generateDeviceToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The stored form of a token (`device_credentials.secret_hash`). */
export function hashDeviceToken(token: string): string {
  return PREFIX + createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented token against a stored hash. */
export function deviceTokenMatches(token: string, storedHash: string): boolean {
  return constantTimeEqual(Buffer.from(hashDeviceToken(token)), Buffer.from(storedHash));
}
