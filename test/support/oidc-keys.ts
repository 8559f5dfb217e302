/**
 * A local stand-in for Google's token signing: an RSA key set, its certificates served the
 * way https://www.googleapis.com/oauth2/v1/certs serves them (PEM keyed by `kid`, with
 * Cache-Control), and ID tokens signed with it.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalKey {
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
}

export function makeKey(kid: string): LocalKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * A key whose public part is a self-signed X.509 certificate, the form Google serves (Node
 * cannot make certificates, so openssl does).
 */
export function makeCertificateKey(kid: string): LocalKey {
  const pems = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${kid}`, '-keyout', '-', '-out', '-'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(pems)?.[0];
  if (certificate === undefined) throw new Error(`openssl printed no certificate: ${pems.slice(0, 200)}`);
  return { kid, privateKey: createPrivateKey(pems), publicPem: certificate };
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An RS256 ID token as Google issues for a push (claims override the defaults). */
export function signToken(key: LocalKey, claims: Record<string, unknown>, kid = key.kid): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url({ alg: 'RS256', typ: 'JWT', kid });
  const payload = b64url({ iss: 'https://accounts.google.com', email_verified: true, sub: '1234', iat: now, exp: now + 3600, ...claims });
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key.privateKey).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/** Serves the keys' certificates on a free port; `url` is the certs endpoint. */
export async function serveCerts(keys: LocalKey[]): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
    res.end(JSON.stringify(Object.fromEntries(keys.map((k) => [k.kid, k.publicPem]))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v1/certs`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
