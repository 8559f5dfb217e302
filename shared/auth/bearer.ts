/**
 * `Authorization: Bearer <token>` against one or more configured secrets, compared in
 * constant time: both sides are hashed first, so that neither the content nor the length of
 * a secret leaks through timing, and every configured secret is compared on every request.
 * @see https://datatracker.ietf.org/doc/html/rfc6750#section-2.1
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** The credential of an `Authorization: Bearer` header, or undefined. */
export function bearerCredential(header: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
}

/** A check that accepts a header carrying any of `secrets` (empty strings never match). */
export function bearerMatcher(secrets: readonly string[]): (authorization: string | undefined) => boolean {
  const expected = secrets.filter((s) => s !== '').map(digest);
  return (authorization) => {
    const credential = bearerCredential(authorization);
    if (credential === undefined) return false;
    const presented = digest(credential);
    let matched = false;
    for (const candidate of expected) matched = timingSafeEqual(presented, candidate) || matched;
    return matched;
  };
}
