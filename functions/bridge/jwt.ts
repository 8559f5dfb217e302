/**
 * IoT Core device JWTs: RS256 or ES256 only, `aud` = the project, `iat` and `exp` required,
 * a lifetime of at most 24 hours, 10 minutes of clock skew either way, `nbf` (when present)
 * no later than now plus that skew, and no `crit` header: this verifier implements no JWS
 * extension, so a token that makes one critical is refused. Verified with node:crypto
 * against the device's registered public keys; nothing here trusts the token's own header
 * beyond choosing between the two allowed algorithms.
 * @see https://cloud.google.com/iot/docs/how-tos/credentials/jwts (IoT Core, retired 2023)
 * @see https://www.rfc-editor.org/rfc/rfc7515 (JWS) and https://www.rfc-editor.org/rfc/rfc7518#section-3.4 (ES256 signature form)
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.11 (crit)
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1.5 (nbf)
 */
import { verify, type KeyObject } from 'node:crypto';
import { decodeJwsPart } from '../../shared/json.ts';

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
  ok: true;
  credentialId: string;
  /** `exp` in epoch ms: how long the verification result may be cached. */
  expiresAtMs: number;
}

/** Why a token was refused: for the operators' logs, never for the device. */
export interface RefusedJwt {
  ok: false;
  reason: string;
}

const refused = (reason: string): RefusedJwt => ({ ok: false, reason });

/** A bearer credential that has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(credential: string): boolean {
  const first = credential.indexOf('.');
  return first > 0 && credential.indexOf('.', first + 1) > first && credential.startsWith('eyJ');
}

/**
 * Verifies a device JWT against the given keys. The reason for a refusal is for the logs
 * only: the caller answers the device the same 401 whichever check failed.
 */
export function verifyDeviceJwt(token: string, keys: readonly VerificationKey[], audience: string, nowMs: number): VerifiedJwt | RefusedJwt {
  if (token.length > MAX_JWT_LENGTH) return refused(`longer than ${MAX_JWT_LENGTH} characters`);
  const [headerPart, payloadPart, signaturePart, extra] = token.split('.');
  if (headerPart === undefined || payloadPart === undefined || signaturePart === undefined || extra !== undefined)
    return refused('not a compact JWS of three parts');
  const header = decodeJwsPart(headerPart);
  if (!header) return refused('header is not a JSON object');
  const algorithm = header.alg;
  // Only the two asymmetric algorithms: `none` and HMAC (with a public key as the secret)
  // are the classic JWT forgeries.
  if (algorithm !== 'RS256' && algorithm !== 'ES256') return refused('alg is neither RS256 nor ES256');
  // RFC 7515 §4.1.11: a recipient that does not understand an extension listed in `crit`
  // must refuse the JWS; this one understands none.
  if ('crit' in header) return refused('crit names an extension this verifier does not implement');
  const claims = decodeJwsPart(payloadPart);
  if (!claims) return refused('payload is not a JSON object');
  const claimProblem = describeClaimProblem(claims, audience, nowMs);
  if (claimProblem) return refused(claimProblem);
  const signature = Buffer.from(signaturePart, 'base64url');
  if (algorithm === 'ES256' && signature.length !== 64) {
    return refused(
      signature[0] === 0x30
        ? `the ES256 signature is DER-encoded (${signature.length} bytes, as openssl dgst writes it); JWS needs the raw 64-byte R||S`
        : `the ES256 signature has ${signature.length} bytes; JWS needs the raw 64-byte R||S`,
    );
  }
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  for (const candidate of keys) {
    if (candidate.algorithm !== algorithm) continue;
    if (candidate.expiresAt !== undefined && candidate.expiresAt <= nowMs) continue;
    const keyInput = algorithm === 'ES256' ? { key: candidate.key, dsaEncoding: 'ieee-p1363' as const } : candidate.key;
    if (verify('sha256', signed, keyInput, signature)) {
      return { ok: true, credentialId: candidate.credentialId, expiresAtMs: (claims.exp as number) * 1000 };
    }
  }
  const expiredSigner = keys.some(
    (k) =>
      k.algorithm === algorithm &&
      k.expiresAt !== undefined &&
      k.expiresAt <= nowMs &&
      verify('sha256', signed, algorithm === 'ES256' ? { key: k.key, dsaEncoding: 'ieee-p1363' } : k.key, signature),
  );
  if (expiredSigner) return refused('signed by a key of the device that has expired');
  return refused(`no registered, unexpired ${algorithm} key verifies the signature`);
}

/** What is wrong with the claims, or undefined when they are acceptable. */
function describeClaimProblem(claims: Record<string, unknown>, audience: string, nowMs: number): string | undefined {
  const { aud, iat, exp, nbf } = claims;
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience))))
    return `aud is ${JSON.stringify(aud)?.slice(0, 100)}; it must be the project id "${audience}"`;
  if (typeof iat !== 'number' || typeof exp !== 'number') return 'iat and exp must be numbers';
  const now = nowMs / 1000;
  if (exp <= iat) return 'exp is not after iat';
  if (exp - iat > MAX_JWT_LIFETIME_SECONDS) return `lifetime over ${MAX_JWT_LIFETIME_SECONDS} s`;
  if (iat > now + JWT_CLOCK_SKEW_SECONDS) return `iat is ${Math.round(iat - now)} s in the future beyond the allowed clock skew (device clock wrong?)`;
  if (exp <= now - JWT_CLOCK_SKEW_SECONDS) return `the token expired ${Math.round(now - exp)} s ago`;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') return 'nbf must be a number';
    // RFC 7519 §4.1.5: not to be accepted before nbf (with the same leeway as iat and exp).
    if (nbf > now + JWT_CLOCK_SKEW_SECONDS) return 'nbf is in the future beyond the allowed clock skew';
  }
  return undefined;
}
