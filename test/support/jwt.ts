/**
 * Signs JWTs the way IoT Core devices do (RS256, ES256), and the forgeries a bridge must
 * refuse (`alg: none`, HS256 with the public key as the HMAC secret), with node:crypto only.
 * @see https://www.rfc-editor.org/rfc/rfc7515 and https://www.rfc-editor.org/rfc/rfc7518
 */
import { createHmac, sign } from 'node:crypto';

export type TestJwtAlgorithm = 'RS256' | 'ES256' | 'HS256' | 'none';

export interface JwtClaims {
  aud?: string | string[];
  iat?: number;
  exp?: number;
  [claim: string]: unknown;
}

export interface SignJwtOptions {
  alg: TestJwtAlgorithm;
  /** PKCS#8 PEM for RS256/ES256; the HMAC secret for HS256. */
  key?: string;
  claims: JwtClaims;
  /** Extra or overriding header fields. */
  header?: Record<string, unknown>;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS. ES256 signatures are raw r||s (64 bytes), as JOSE requires. */
export function signJwt(options: SignJwtOptions): string {
  const signingInput = `${encode({ alg: options.alg, typ: 'JWT', ...options.header })}.${encode(options.claims)}`;
  const data = Buffer.from(signingInput);
  let signature: Buffer;
  switch (options.alg) {
    case 'none':
      signature = Buffer.alloc(0);
      break;
    case 'HS256':
      signature = createHmac('sha256', options.key ?? '')
        .update(data)
        .digest();
      break;
    case 'ES256':
      signature = sign('sha256', data, { key: requireKey(options), dsaEncoding: 'ieee-p1363' });
      break;
    case 'RS256':
      signature = sign('sha256', data, requireKey(options));
      break;
  }
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** IoT Core's claims: `aud` the project, issued now, valid for `lifetimeSeconds`. */
export function deviceClaims(audience: string, options: { nowSeconds?: number; lifetimeSeconds?: number } = {}): JwtClaims {
  const iat = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  return { aud: audience, iat, exp: iat + (options.lifetimeSeconds ?? 3600) };
}

function requireKey(options: SignJwtOptions): string {
  if (!options.key) throw new Error(`${options.alg} needs a private key`);
  return options.key;
}
