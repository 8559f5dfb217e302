/**
 * Push OIDC verification against tokens signed by a local key set, served the way Google
 * serves its certificates (PEM keyed by `kid`, with Cache-Control).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPushVerifier, verifierFromConfig, type PushVerifier } from '../../../shared/auth/oidc.ts';
import { loadConfig } from '../../../shared/config.ts';
import { HttpError } from '../../../shared/errors.ts';
import { makeKey, serveCerts, signToken as signWithKey, type LocalKey } from '../../support/oidc-keys.ts';

const AUDIENCE = 'https://ingest-abc-uc.a.run.app/';
const PUSHER = 'pubsub-push@demo-project.iam.gserviceaccount.com';

const signToken = (key: LocalKey, claims: Record<string, unknown>, kid = key.kid) => signWithKey(key, { aud: AUDIENCE, email: PUSHER, ...claims }, kid);

const trusted = makeKey('trusted-1');
const stranger = makeKey('stranger-1');
let certs: { url: string; close: () => Promise<void> };
let certsUrl: string;
let verifier: PushVerifier;

beforeAll(async () => {
  certs = await serveCerts([trusted]);
  certsUrl = certs.url;
  verifier = createPushVerifier({ audience: AUDIENCE, allowedEmails: [PUSHER], certsUrl });
});

afterAll(async () => {
  await certs.close();
});

async function statusOf(promise: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);

describe('createPushVerifier', () => {
  it('accepts a token signed by the trusted key for the audience and an allowed email', async () => {
    await expect(verifier.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
  });

  const cases: { name: string; headers: () => Record<string, string>; expected: number }[] = [
    { name: 'missing Authorization header', headers: () => ({}), expected: 401 },
    { name: 'not a bearer token', headers: () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), expected: 401 },
    { name: 'garbage token', headers: () => bearer('not.a.jwt'), expected: 401 },
    { name: 'wrong audience', headers: () => bearer(signToken(trusted, { aud: 'https://elsewhere.example/' })), expected: 401 },
    { name: 'wrong issuer', headers: () => bearer(signToken(trusted, { iss: 'https://evil.example' })), expected: 401 },
    { name: 'expired', headers: () => bearer(signToken(trusted, { iat: now() - 7200, exp: now() - 3600 })), expected: 401 },
    { name: 'signed by an unknown key', headers: () => bearer(signToken(stranger, {})), expected: 401 },
    { name: 'bad signature under a trusted kid', headers: () => bearer(signToken(stranger, {}, trusted.kid)), expected: 401 },
    {
      name: 'email not on the allow-list',
      headers: () => bearer(signToken(trusted, { email: 'someone@demo-project.iam.gserviceaccount.com' })),
      expected: 403,
    },
    { name: 'email not verified', headers: () => bearer(signToken(trusted, { email_verified: false })), expected: 403 },
    { name: 'no email claim', headers: () => bearer(signToken(trusted, { email: undefined })), expected: 403 },
  ];
  for (const c of cases) {
    it(`rejects: ${c.name} → ${c.expected}`, async () => {
      expect(await statusOf(verifier.verify(c.headers()))).toBe(c.expected);
    });
  }

  it('answers 401 with a WWW-Authenticate challenge and no hint of which check failed', async () => {
    const error = await verifier.verify(bearer(signToken(trusted, { aud: 'x' }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
    expect((error as HttpError).message).not.toMatch(/aud/i);
  });

  it('answers 503 (retry) when the certificates cannot be fetched', async () => {
    const unreachable = createPushVerifier({ audience: AUDIENCE, allowedEmails: [PUSHER], certsUrl: 'http://127.0.0.1:1/certs' });
    expect(await statusOf(unreachable.verify(bearer(signToken(trusted, {}))))).toBe(503);
  });

  it('asks for the certificates once per verify when the host answers 503, leaving the retry to Pub/Sub', async () => {
    let requests = 0;
    const failing = createHttpServer((req, res) => {
      requests += 1;
      req.resume();
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (failing.address() as AddressInfo).port;
      const verifier503 = createPushVerifier({ audience: AUDIENCE, allowedEmails: [PUSHER], certsUrl: `http://127.0.0.1:${port}/certs` });
      expect(await statusOf(verifier503.verify(bearer(signToken(trusted, {}))))).toBe(503);
      expect(requests).toBe(1);
    } finally {
      failing.closeAllConnections();
      await new Promise<void>((resolve) => failing.close(() => resolve()));
    }
  });

  it.each([
    { stall: 'never answers', answer: '' },
    { stall: 'stops halfway through its answer', answer: 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{"trusted-1": "' },
  ])('answers 503 (retry) when the certificates host takes the connection and $stall', async ({ answer }) => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => socket.write(answer));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const waiting = createPushVerifier({ audience: AUDIENCE, allowedEmails: [PUSHER], certsUrl: `http://127.0.0.1:${port}/certs`, certsTimeoutMs: 200 });
      expect(await statusOf(waiting.verify(bearer(signToken(trusted, {}))))).toBe(503);
      // One attempt: the client's own retries would multiply the wait.
      expect(sockets).toHaveLength(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('verifierFromConfig', () => {
  it('is off outside production mode', () => {
    expect(verifierFromConfig(loadConfig({ PUSH_AUTH_AUDIENCE: AUDIENCE, PUSH_AUTH_ALLOWED_EMAILS: PUSHER }))).toBeUndefined();
  });

  it('is off in production only when explicitly disabled', () => {
    expect(verifierFromConfig(loadConfig({ NODE_ENV: 'production', PUSH_AUTH_DISABLED: 'true' }))).toBeUndefined();
  });

  it('refuses to start in production without audience and allow-list, naming both', () => {
    expect(() => verifierFromConfig(loadConfig({ NODE_ENV: 'production' }))).toThrow(/PUSH_AUTH_AUDIENCE and PUSH_AUTH_ALLOWED_EMAILS/);
  });

  it('verifies with the configured audience, comma-separated emails and certs URL', async () => {
    const fromEnv = verifierFromConfig(
      loadConfig({
        NODE_ENV: 'production',
        PUSH_AUTH_AUDIENCE: AUDIENCE,
        PUSH_AUTH_ALLOWED_EMAILS: ` other@x.iam.gserviceaccount.com , ${PUSHER}`,
        PUSH_AUTH_CERTS_URL: certsUrl,
      }),
    );
    expect(fromEnv).toBeDefined();
    await expect(fromEnv!.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
    expect(await statusOf(fromEnv!.verify({}))).toBe(401);
  });
});
