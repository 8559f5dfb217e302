/**
 * IoT Core device JWTs: RS256 or ES256 only, `aud` = the project, `iat` and `exp` required,
 * a lifetime of at most 24 hours, 10 minutes of clock skew either way. Verified with
 * node:crypto against the device's registered public keys; nothing here trusts the token's
 * own header beyond choosing between the two allowed algorithms.
 * @see https://cloud.google.com/iot/docs/how-tos/credentials/jwts (IoT Core, retired 2023)
 * @see https://www.rfc-editor.org/rfc/rfc7515 (JWS) and https://www.rfc-editor.org/rfc/rfc7518#section-3.4 (ES256 signature form)
 */
import { verify, type KeyObject } from 'node:crypto';

export type JwtAlgorithm = 'RS256' | 'ES256';

export const MAX_JWT_LIFETIME_SECONDS = 24 * 60 * 60;
export const JWT_CLOCK_SKEW_SECONDS = 10 * 60;
/** Longer tokens are refused before any decoding (an RS4096 JWT is well under this). */
const MAX_JWT_LENGTH = 4096;

/** A device public key as the bridge holds it: imported once, cached with the device. */
export interface VerificationKey {
  credentialId: string;
  algorithm: JwtAlgorithm;
  key: KeyObject;
  /** Epoch ms after which the key is no longer accepted. */
  expiresAt?: number;
}

export interface VerifiedJwt {
  credentialId: string;
  /** `exp` in epoch ms: how long the verification result may be cached. */
  expiresAtMs: number;
}

/** A bearer credential that has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(credential: string): boolean {
  const first = credential.indexOf('.');
  return first > 0 && credential.indexOf('.', first + 1) > first && credential.startsWith('eyJ');
}

/**
 * Verifies a device JWT against the given keys. Returns undefined for any failure, and never
 * says which check failed: the caller answers the same 401 for all of them.
 */
export function verifyDeviceJwt(token: string, keys: readonly VerificationKey[], audience: string, nowMs: number): VerifiedJwt | undefined {
  if (token.length > MAX_JWT_LENGTH) return undefined;
  const [headerPart, payloadPart, signaturePart, extra] = token.split('.');
  if (headerPart === undefined || payloadPart === undefined || signaturePart === undefined || extra !== undefined) return undefined;
  const header = decodeJson(headerPart);
  const algorithm = header?.alg;
  // Only the two asymmetric algorithms: `none` and HMAC (with a public key as the secret)
  // are the classic JWT forgeries.
  if (algorithm !== 'RS256' && algorithm !== 'ES256') return undefined;
  const claims = decodeJson(payloadPart);
  if (!claims || !claimsAreValid(claims, audience, nowMs)) return undefined;
  const signature = Buffer.from(signaturePart, 'base64url');
  if (algorithm === 'ES256' && signature.length !== 64) return undefined;
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  for (const candidate of keys) {
    if (candidate.algorithm !== algorithm) continue;
    if (candidate.expiresAt !== undefined && candidate.expiresAt <= nowMs) continue;
    const keyInput = algorithm === 'ES256' ? { key: candidate.key, dsaEncoding: 'ieee-p1363' as const } : candidate.key;
    if (verify('sha256', signed, keyInput, signature)) {
      return { credentialId: candidate.credentialId, expiresAtMs: (claims.exp as number) * 1000 };
    }
  }
  return undefined;
}

function claimsAreValid(claims: Record<string, unknown>, audience: string, nowMs: number): boolean {
  const { aud, iat, exp } = claims;
  const audOk = aud === audience || (Array.isArray(aud) && aud.includes(audience));
  if (!audOk || typeof iat !== 'number' || typeof exp !== 'number') return false;
  const now = nowMs / 1000;
  return (
    exp > iat &&
    exp - iat <= MAX_JWT_LIFETIME_SECONDS &&
    iat <= now + JWT_CLOCK_SKEW_SECONDS &&
    exp > now - JWT_CLOCK_SKEW_SECONDS
  );
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
