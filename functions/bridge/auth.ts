/**
 * Device authentication: `Authorization: Bearer <token | JWT>`. Every failure answers the
 * same 401, so that a caller learns nothing about which part was wrong; a blocked device
 * that proved its identity hears 403. JWT verifications are remembered until the token's
 * `exp`, keyed by the token's hash, and re-checked against the device's current keys.
 * @see ../../docs/devices.md
 */
import { createHash } from 'node:crypto';
import { parseBearer } from '../../shared/auth/bearer.ts';
import { deviceTokenMatches } from '../../shared/auth/device-token.ts';
import { HttpError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { CredentialsCache, DeviceAuth } from './credentials-cache.ts';
import { JWT_CLOCK_SKEW_SECONDS, looksLikeJwt, verifyDeviceJwt } from './jwt.ts';

export interface Authenticator {
  /** The device, once the credential is proven; throws 401 or 403. */
  authenticate(authorization: string | undefined, deviceId: string, options: AuthenticateOptions): Promise<DeviceAuth>;
}

export interface AuthenticateOptions {
  nowMs: number;
  /** Only a JWT will do (the IoT Core path). */
  requireJwt: boolean;
  /** The device must be in this registry (the IoT Core path names one). */
  registry?: string;
}

interface VerifiedEntry {
  deviceId: string;
  credentialId: string;
  expiresAtMs: number;
}

const unauthenticated = () =>
  new HttpError(401, 'unauthenticated', 'missing or invalid device credential', { headers: { 'WWW-Authenticate': 'Bearer' } });

export function createAuthenticator(options: { credentials: CredentialsCache; audience: string; logger?: Logger; maxCachedJwts?: number }): Authenticator {
  const maxCached = options.maxCachedJwts ?? 100_000;
  const verified = new Map<string, VerifiedEntry>();

  const verifyJwt = (token: string, device: DeviceAuth, nowMs: number): boolean => {
    const cacheKey = createHash('sha256').update(token).digest('base64');
    const hit = verified.get(cacheKey);
    if (hit && hit.deviceId === device.deviceId && nowMs < hit.expiresAtMs + JWT_CLOCK_SKEW_SECONDS * 1000) {
      // The key that signed it must still be registered and unexpired.
      const key = device.keys.find((k) => k.credentialId === hit.credentialId);
      if (key && (key.expiresAt === undefined || key.expiresAt > nowMs)) return true;
    }
    if (hit) verified.delete(cacheKey);
    const result = verifyDeviceJwt(token, device.keys, options.audience, nowMs);
    if (!result.ok) {
      // For operators only: the device hears the same 401 whatever the reason.
      options.logger?.info('device JWT refused', { deviceId: device.deviceId, reason: result.reason });
      return false;
    }
    if (verified.size >= maxCached) evictExpired(verified, nowMs, maxCached);
    verified.set(cacheKey, { deviceId: device.deviceId, credentialId: result.credentialId, expiresAtMs: result.expiresAtMs });
    return true;
  };

  return {
    async authenticate(authorization, deviceId, { requireJwt, nowMs, registry }) {
      const credential = parseBearer(authorization);
      if (credential === undefined) throw unauthenticated();
      const device = await options.credentials.get(deviceId);
      if (!device || (registry !== undefined && device.registry !== registry)) throw unauthenticated();
      const proven = looksLikeJwt(credential)
        ? verifyJwt(credential, device, nowMs)
        : !requireJwt && device.tokens.some((t) => (t.expiresAt === undefined || t.expiresAt > nowMs) && deviceTokenMatches(credential, t.secretHash));
      if (!proven) throw unauthenticated();
      if (device.blocked) throw new HttpError(403, 'permission_denied', `device ${deviceId} is blocked`);
      return device;
    },
  };
}

/** Drops expired results; if that frees too little, the oldest quarter goes too. */
function evictExpired(verified: Map<string, VerifiedEntry>, nowMs: number, max: number): void {
  for (const [key, entry] of verified) {
    if (entry.expiresAtMs + JWT_CLOCK_SKEW_SECONDS * 1000 <= nowMs) verified.delete(key);
  }
  if (verified.size < max) return;
  let toDrop = Math.ceil(max / 4);
  for (const key of verified.keys()) {
    if (toDrop-- <= 0) break;
    verified.delete(key);
  }
}
