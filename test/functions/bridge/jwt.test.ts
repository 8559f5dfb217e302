/**
 * Device JWT verification on its own (functions/bridge/jwt.ts): which tokens pass, and that
 * every refusal says why (for the operators' logs). The bridge's 401 on the wire is
 * test/bridge-auth.test.ts.
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JWT_CLOCK_SKEW_SECONDS, looksLikeJwt, MAX_JWT_LIFETIME_SECONDS, verifyDeviceJwt, type VerificationKey } from '../../../functions/bridge/jwt.ts';
import { generateTestKeyPair } from '../../support/devices.ts';
import { deviceClaims, signJwt, type JwtClaims } from '../../support/jwt.ts';

const PROJECT = 'jwt-project';
const NOW_S = 1_800_000_000;
const NOW_MS = NOW_S * 1000;

const es = generateTestKeyPair('es256');
const rs = generateTestKeyPair('rs256');
const otherEs = generateTestKeyPair('es256');
const keys: VerificationKey[] = [
  { credentialId: 'es-1', algorithm: 'ES256', key: createPublicKey(es.publicKeyPem) },
  { credentialId: 'rs-1', algorithm: 'RS256', key: createPublicKey(rs.publicKeyPem) },
];
const claimsNow = (extra: JwtClaims = {}): JwtClaims => ({ ...deviceClaims(PROJECT, { nowSeconds: NOW_S }), ...extra });
const esToken = (claims: JwtClaims = claimsNow(), header?: Record<string, unknown>) => signJwt({ alg: 'ES256', key: es.privateKeyPem, claims, header });
const verify = (token: string, withKeys: readonly VerificationKey[] = keys) => verifyDeviceJwt(token, withKeys, PROJECT, NOW_MS);

describe('verifyDeviceJwt accepts', () => {
  it('an ES256 and an RS256 token signed by a registered key, naming the key and the expiry', () => {
    expect(verify(esToken())).toEqual({ ok: true, credentialId: 'es-1', expiresAtMs: (NOW_S + 3600) * 1000 });
    expect(verify(signJwt({ alg: 'RS256', key: rs.privateKeyPem, claims: claimsNow() }))).toMatchObject({ ok: true, credentialId: 'rs-1' });
  });

  it('an audience list that holds the project, and clocks within the allowed skew', () => {
    expect(verify(esToken(claimsNow({ aud: ['other', PROJECT] })))).toMatchObject({ ok: true });
    const early = NOW_S + JWT_CLOCK_SKEW_SECONDS - 1;
    expect(verify(esToken({ aud: PROJECT, iat: early, exp: early + 60 }))).toMatchObject({ ok: true });
    const late = NOW_S - JWT_CLOCK_SKEW_SECONDS + 1;
    expect(verify(esToken({ aud: PROJECT, iat: late - 60, exp: late }))).toMatchObject({ ok: true });
    expect(verify(esToken(claimsNow({ nbf: NOW_S + JWT_CLOCK_SKEW_SECONDS })))).toMatchObject({ ok: true });
  });
});

describe('verifyDeviceJwt refuses, saying why', () => {
  const cases: { name: string; token: () => string; reason: RegExp }[] = [
    { name: 'alg none', token: () => signJwt({ alg: 'none', claims: claimsNow() }), reason: /neither RS256 nor ES256/ },
    {
      name: 'HS256 with the public key as secret',
      token: () => signJwt({ alg: 'HS256', key: es.publicKeyPem, claims: claimsNow() }),
      reason: /neither RS256 nor ES256/,
    },
    { name: 'a crit header', token: () => esToken(claimsNow(), { crit: ['exp'] }), reason: /crit/ },
    { name: 'another audience', token: () => esToken(claimsNow({ aud: 'other-project' })), reason: /aud is "other-project"/ },
    { name: 'no exp', token: () => esToken({ aud: PROJECT, iat: NOW_S }), reason: /iat and exp must be numbers/ },
    { name: 'exp before iat', token: () => esToken({ aud: PROJECT, iat: NOW_S, exp: NOW_S - 1 }), reason: /exp is not after iat/ },
    { name: 'a lifetime over 24 h', token: () => esToken({ aud: PROJECT, iat: NOW_S, exp: NOW_S + MAX_JWT_LIFETIME_SECONDS + 1 }), reason: /lifetime over/ },
    { name: 'iat too far ahead', token: () => esToken({ aud: PROJECT, iat: NOW_S + JWT_CLOCK_SKEW_SECONDS + 5, exp: NOW_S + 7200 }), reason: /in the future/ },
    { name: 'expired beyond the skew', token: () => esToken({ aud: PROJECT, iat: NOW_S - 7200, exp: NOW_S - JWT_CLOCK_SKEW_SECONDS }), reason: /expired/ },
    { name: 'nbf too far ahead', token: () => esToken(claimsNow({ nbf: NOW_S + JWT_CLOCK_SKEW_SECONDS + 1 })), reason: /nbf is in the future/ },
    { name: 'nbf not a number', token: () => esToken(claimsNow({ nbf: 'soon' })), reason: /nbf must be a number/ },
    {
      name: 'a key the device does not have',
      token: () => signJwt({ alg: 'ES256', key: otherEs.privateKeyPem, claims: claimsNow() }),
      reason: /no registered, unexpired ES256 key/,
    },
    {
      name: 'a header naming the other algorithm',
      token: () => signJwt({ alg: 'RS256', key: rs.privateKeyPem, claims: claimsNow(), header: { alg: 'ES256' } }),
      reason: /ES256 signature has/,
    },
    { name: 'two parts', token: () => esToken().split('.').slice(0, 2).join('.'), reason: /three parts/ },
    { name: 'four parts', token: () => `${esToken()}.x`, reason: /three parts/ },
    { name: 'a header that is not JSON', token: () => `eyJub3Q.${esToken().split('.').slice(1).join('.')}`, reason: /header is not a JSON object/ },
    {
      name: 'a payload that is an array',
      token: () => signJwt({ alg: 'ES256', key: es.privateKeyPem, claims: [] as unknown as JwtClaims }),
      reason: /payload is not a JSON object/,
    },
    { name: 'more than 4096 characters', token: () => esToken(claimsNow({ pad: 'x'.repeat(4096) })), reason: /longer than 4096/ },
  ];
  it.each(cases)('$name', ({ token, reason }) => {
    const result = verify(token());
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });

  it('a DER-encoded ES256 signature, as openssl writes it, naming the form JWS needs', () => {
    const [header, payload] = esToken().split('.');
    const der = sign('sha256', Buffer.from(`${header}.${payload}`), createPrivateKey(es.privateKeyPem));
    const result = verify(`${header}.${payload}.${der.toString('base64url')}`);
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/DER-encoded.*raw 64-byte R\|\|S/) as unknown });
  });

  it('a token signed by a key that has expired, telling it from an unknown key', () => {
    const expired: VerificationKey[] = [{ ...keys[0]!, expiresAt: NOW_MS }];
    expect(verify(esToken(), expired)).toEqual({ ok: false, reason: 'signed by a key of the device that has expired' });
    expect(verify(esToken(), [{ ...keys[0]!, expiresAt: NOW_MS + 1 }])).toMatchObject({ ok: true });
  });
});

describe('looksLikeJwt', () => {
  it('tells a compact JWS from a device token', () => {
    expect(looksLikeJwt(esToken())).toBe(true);
    expect(looksLikeJwt('dGhpcyBpcyBhIHRva2Vu')).toBe(false);
    expect(looksLikeJwt('eyJ.only-one-dot')).toBe(false);
    expect(looksLikeJwt('.eyJ.x')).toBe(false);
  });
});
