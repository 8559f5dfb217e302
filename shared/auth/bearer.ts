/**
 * `Authorization: Bearer <credential>`, parsed once for every caller (devices, operators,
 * applications, Pub/Sub's OIDC tokens, the stack's internal API), and secrets compared in one
 * place (`constantTimeEqual`, which device tokens and page tokens use too). The scheme is
 * case-insensitive (RFC 7235 §2.1); the credential is one token68 (RFC 6750 §2.1).
 * @see https://www.rfc-editor.org/rfc/rfc7235#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^[ \t]*Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** The credential of a Bearer header, or undefined when the header is missing or malformed. */
export function parseBearer(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER.exec(authorization)?.[1];
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Whether two byte strings are equal, in time that does not depend on where they differ.
 * Their lengths are not secret (digests and signatures have a fixed one): unequal lengths
 * answer false at once.
 */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Compares a presented secret with the expected one in constant time: both are hashed first,
 * so that neither the content nor the length of the secret leaks through timing.
 */
export function secretMatches(presented: string | undefined, expectedDigest: Buffer): boolean {
  return presented !== undefined && constantTimeEqual(digest(presented), expectedDigest);
}

/**
 * A check of `Authorization: Bearer <secret>` against any of `secrets`, each digested once.
 * Every configured secret is compared on every request, so timing does not tell which matched;
 * empty strings never match.
 */
export function bearerMatcher(secrets: readonly string[]): (authorization: string | undefined) => boolean {
  const expected = secrets.filter((s) => s !== '').map(digest);
  return (authorization) => {
    const presented = parseBearer(authorization);
    let matched = false;
    for (const candidate of expected) matched = secretMatches(presented, candidate) || matched;
    return matched;
  };
}

/** A check of `Authorization: Bearer <secret>` against one secret. */
export const bearerChecker = (secret: string): ((authorization: string | undefined) => boolean) => bearerMatcher([secret]);
