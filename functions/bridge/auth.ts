/**
 * Device authentication: `Authorization: Bearer <token | JWT>`. Every failure answers the
 * same 401, so that a caller learns nothing about which part was wrong; a blocked device
 * that proved its identity hears 403. JWT verifications are remembered until the token's
 * `exp`, keyed by the token's hash, and re-checked against the device's current keys.
 * @see ../../docs/devices.md
 */
import { hash } from 'node:crypto';
import { constantTimeEqual, parseBearer } from '../../shared/auth/bearer.ts';
import { presentedTokenDigest } from '../../shared/auth/device-token.ts';
import { HttpError } from '../../shared/errors.ts';
import type { CredentialsCache, DeviceAuth } from './credentials-cache.ts';
import type { Logger } from '../../shared/log.ts';
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

/** A credential refused, or one proving a device that exists no more: the same answer. */
export const unauthenticated = () =>
  new HttpError(401, 'unauthenticated', 'missing or invalid device credential', { headers: { 'WWW-Authenticate': 'Bearer' } });

export function createAuthenticator(options: { credentials: CredentialsCache; audience: string; maxCachedJwts?: number; logger?: Logger }): Authenticator {
  const maxCached = options.maxCachedJwts ?? 100_000;
  const verified = new Map<string, VerifiedEntry>();

  const verifyJwt = (token: string, device: DeviceAuth, nowMs: number): boolean => {
    const cacheKey = hash('sha256', token, 'base64');
    const hit = verified.get(cacheKey);
    if (hit && hit.deviceId === device.deviceId && nowMs < hit.expiresAtMs + JWT_CLOCK_SKEW_SECONDS * 1000) {
      // The key that signed it must still be registered and unexpired.
      const key = device.keys.find((k) => k.credentialId === hit.credentialId);
      if (key && (key.expiresAt === undefined || key.expiresAt > nowMs)) return true;
    }
    if (hit) verified.delete(cacheKey);
    const result = verifyDeviceJwt(token, device.keys, options.audience, nowMs);
    if (!result.ok) {
      refused(device.deviceId, `JWT refused: ${result.reason}`);
      return false;
    }
    if (verified.size >= maxCached) evictExpired(verified, nowMs, maxCached);
    verified.set(cacheKey, { deviceId: device.deviceId, credentialId: result.credentialId, expiresAtMs: result.expiresAtMs });
    return true;
  };

  /** Why a device was refused goes to the operator's log, never to the device. */
  const refused = (deviceId: string, reason: string) => options.logger?.warn('device credential refused', { deviceId: deviceId.slice(0, 300), reason });

  return {
    async authenticate(authorization, deviceId, { requireJwt, nowMs, registry }) {
      const credential = parseBearer(authorization);
      if (credential === undefined) {
        refused(deviceId, authorization === undefined ? 'no Authorization header' : 'Authorization is not "Bearer <credential>"');
        throw unauthenticated();
      }
      const device = await options.credentials.get(deviceId);
      if (!device) {
        refused(deviceId, 'no such device');
        throw unauthenticated();
      }
      if (registry !== undefined && device.registry !== registry) {
        refused(deviceId, `the path names registry "${registry.slice(0, 100)}"; the device is in "${device.registry}"`);
        throw unauthenticated();
      }
      const jwt = looksLikeJwt(credential);
      if (!jwt && requireJwt) refused(deviceId, 'IoT Core paths need a JWT, not a token');
      const proven = jwt ? verifyJwt(credential, device, nowMs) : !requireJwt && tokenMatches(credential, device, nowMs);
      if (!proven) {
        if (!jwt && !requireJwt) refused(deviceId, "the token matches none of the device's current tokens");
        throw unauthenticated();
      }
      if (device.blocked) throw new HttpError(403, 'permission_denied', `device ${deviceId} is blocked`);
      return device;
    },
  };
}

/** Whether the token is one of the device's unexpired ones: hashed once, compared with each in constant time. */
function tokenMatches(token: string, device: DeviceAuth, nowMs: number): boolean {
  const presented = presentedTokenDigest(token);
  let matched = false;
  for (const t of device.tokens) {
    if (t.expiresAt === undefined || t.expiresAt > nowMs) matched = constantTimeEqual(presented, t.secretDigest) || matched;
  }
  return matched;
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
