/**
 * Why a device JWT was refused, for the operator's log only (the device hears the same 401
 * whatever the reason). Run after verification failed, never on the accepted path. The
 * commonest field mistakes: an ES256 signature in DER (what `openssl dgst -sign` writes)
 * instead of JWS's raw R‖S, `aud` not the project id, an expired token or key.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.4 (ES256: R‖S, 64 bytes)
 */
import { verify } from 'node:crypto';
import { JWT_CLOCK_SKEW_SECONDS, MAX_JWT_LIFETIME_SECONDS, type VerificationKey } from './jwt.ts';

export function explainJwtRefusal(token: string, keys: readonly VerificationKey[], audience: string, nowMs: number): string {
  const parts = token.split('.');
  if (parts.length !== 3) return `not a compact JWS: ${parts.length} parts instead of 3`;
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = decode(headerPart);
  if (!header) return 'the JWT header is not base64url JSON';
  const alg = header.alg;
  if (alg !== 'RS256' && alg !== 'ES256') return `alg ${JSON.stringify(alg)} is not allowed; use RS256 or ES256`;
  const claims = decode(payloadPart);
  if (!claims) return 'the JWT claims are not base64url JSON';
  const { aud, iat, exp } = claims;
  const audOk = aud === audience || (Array.isArray(aud) && aud.includes(audience));
  if (!audOk) return `aud is ${JSON.stringify(aud)}; it must be the project id "${audience}"`;
  if (typeof iat !== 'number') return 'iat is missing or not a number (seconds since the epoch)';
  if (typeof exp !== 'number') return 'exp is missing or not a number (seconds since the epoch)';
  const now = nowMs / 1000;
  if (exp <= iat) return 'exp is not after iat';
  if (exp - iat > MAX_JWT_LIFETIME_SECONDS) return `the token lives ${Math.round(exp - iat)} s; at most 24 h is allowed`;
  if (iat > now + JWT_CLOCK_SKEW_SECONDS) return `iat is ${Math.round(iat - now)} s in the future (device clock wrong?); 10 min of skew is allowed`;
  if (exp <= now - JWT_CLOCK_SKEW_SECONDS) return `the token expired ${Math.round(now - exp)} s ago`;
  const signature = Buffer.from(signaturePart, 'base64url');
  if (alg === 'ES256' && signature.length !== 64) {
    return signature[0] === 0x30
      ? `the ES256 signature is DER-encoded (${signature.length} bytes, as openssl dgst writes it); JWS needs the raw 64-byte R||S`
      : `the ES256 signature has ${signature.length} bytes; JWS needs the raw 64-byte R||S`;
  }
  const sameAlg = keys.filter((k) => k.algorithm === alg);
  if (sameAlg.length === 0) return `the device has no ${alg} key registered`;
  const live = sameAlg.filter((k) => k.expiresAt === undefined || k.expiresAt > nowMs);
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  const matches = (k: VerificationKey) => verify('sha256', signed, alg === 'ES256' ? { key: k.key, dsaEncoding: 'ieee-p1363' } : k.key, signature);
  if (live.length < sameAlg.length && sameAlg.filter((k) => !live.includes(k)).some(matches)) return 'signed by a key of the device that has expired';
  return `the signature matches none of the device's ${live.length} current ${alg} key(s)`;
}

function decode(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
