/**
 * Push OIDC verification against tokens signed by a local key set, served the way Google
 * serves its certificates (PEM keyed by `kid`, with Cache-Control).
 */
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPushVerifier, verifierFromConfig, type PushVerifier } from '../../../shared/auth/oidc.ts';
import { loadConfig } from '../../../shared/config.ts';
import { HttpError } from '../../../shared/errors.ts';
import { PROXY_REFUSAL, startForwardProxy, startStubbornProxy } from '../../support/net.ts';
import { makeCertificateKey, makeKey, serveCerts, signToken as signWithKey, type LocalKey } from '../../support/oidc-keys.ts';

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

/** A certificates host whose every answer the test chooses; counts the requests it got. */
async function certsHost(answer: (res: ServerResponse, request: number) => void) {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests += 1;
    req.resume();
    answer(res, requests);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v1/certs`,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `test` against a certificates host answering with `answer`, closed afterwards. */
async function withCertsHost(answer: (res: ServerResponse, request: number) => void, test: (host: Awaited<ReturnType<typeof certsHost>>) => Promise<void>) {
  const host = await certsHost(answer);
  try {
    await test(host);
  } finally {
    await host.close();
  }
}

const certsOf = (...keys: LocalKey[]) => JSON.stringify(Object.fromEntries(keys.map((k) => [k.kid, k.publicPem])));
const answerJson = (res: ServerResponse, body: string) =>
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(body);

describe('the signing certificates', () => {
  const verifierFor = (url: string, options: { certsRefreshAfterMs?: number; certsTimeoutMs?: number } = {}) =>
    createPushVerifier({ audience: AUDIENCE, allowedEmails: [PUSHER], certsUrl: url, ...options });

  it('are fetched once for many verifies while Cache-Control holds them', async () => {
    await withCertsHost(
      (res) => answerJson(res, certsOf(trusted)),
      async (host) => {
        const holding = verifierFor(host.url);
        const token = signToken(trusted, {});
        await Promise.all(Array.from({ length: 5 }, () => holding.verify(bearer(token))));
        for (let i = 0; i < 5; i += 1) await holding.verify(bearer(token));
        expect(host.requests()).toBe(1);
      },
    );
  });

  // A complete HTTP answer whose content is cut off: it must not be kept for its max-age.
  it.each([
    { what: 'JSON cut off', body: certsOf(trusted).slice(0, 200) },
    { what: 'a certificate cut off inside valid JSON', body: JSON.stringify({ [trusted.kid]: trusted.publicPem.slice(0, 120) }) },
    { what: 'no certificate at all', body: '{}' },
    { what: 'an array', body: JSON.stringify([trusted.publicPem]) },
  ])('answer 503 for a 200 with $what, and are fetched again by the next verify', async ({ body }) => {
    await withCertsHost(
      (res, request) => answerJson(res, request === 1 ? body : certsOf(trusted)),
      async (host) => {
        const recovering = verifierFor(host.url);
        expect(await statusOf(recovering.verify(bearer(signToken(trusted, {}))))).toBe(503);
        await expect(recovering.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
        expect(host.requests()).toBe(2);
      },
    );
  });

  it('answer 503 for a redirect, without following it', async () => {
    await withCertsHost(
      (res) => res.writeHead(302, { location: '/elsewhere' }).end(),
      async (host) => {
        expect(await statusOf(verifierFor(host.url).verify(bearer(signToken(trusted, {}))))).toBe(503);
        expect(host.requests()).toBe(1);
      },
    );
  });

  it('answer 503 for an answer larger than any certificate set', async () => {
    // Every entry a good key, so that only the size is wrong: about 270 KB.
    const many = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`${trusted.kid}-${i}`, trusted.publicPem]));
    await withCertsHost(
      (res) => answerJson(res, JSON.stringify({ ...many, [trusted.kid]: trusted.publicPem })),
      async (host) => {
        expect(await statusOf(verifierFor(host.url).verify(bearer(signToken(trusted, {}))))).toBe(503);
      },
    );
  });

  it.each([
    { says: 'max-age=300', cacheControl: 'public, max-age=300', heldSeconds: 300 },
    { says: 'max-age=0', cacheControl: 'max-age=0', heldSeconds: 60 },
    { says: 'no Cache-Control', cacheControl: undefined, heldSeconds: 60 },
    { says: 'max-age of two days', cacheControl: 'max-age=172800', heldSeconds: 86_400 },
  ])('are held for $heldSeconds s when the answer says $says', async ({ cacheControl, heldSeconds }) => {
    const host = await certsHost((res) => res.writeHead(200, cacheControl ? { 'cache-control': cacheControl } : {}).end(certsOf(trusted)));
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const holding = verifierFor(host.url);
      // Signed afresh each time: the clock moves further than a token lives.
      const token = () => signToken(trusted, {});
      await holding.verify(bearer(token()));
      vi.advanceTimersByTime(heldSeconds * 1000 - 1000);
      await holding.verify(bearer(token()));
      expect(host.requests()).toBe(1);
      vi.advanceTimersByTime(2000);
      await holding.verify(bearer(token()));
      expect(host.requests()).toBe(2);
    } finally {
      vi.useRealTimers();
      await host.close();
    }
  });

  it('accept a key served as an X.509 certificate, as Google serves them', async () => {
    const google = makeCertificateKey('google-x509');
    expect(google.publicPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    await withCertsHost(
      (res) => answerJson(res, certsOf(google)),
      async (host) => {
        await expect(verifierFor(host.url).verify(bearer(signToken(google, {})))).resolves.toEqual({ email: PUSHER });
      },
    );
  });

  it('are fetched over one connection by verifies that wait together on a silent host', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const waiting = verifierFor(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/certs`, { certsTimeoutMs: 300 });
      const statuses = await Promise.all(Array.from({ length: 8 }, () => statusOf(waiting.verify(bearer(signToken(trusted, {}))))));
      expect(statuses).toEqual(Array.from({ length: 8 }, () => 503));
      expect(sockets).toHaveLength(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('are fetched through the proxy the environment names', async () => {
    const host = await certsHost((res) => answerJson(res, certsOf(trusted)));
    const proxy = await startForwardProxy();
    try {
      const proxiedVerifier = verifierFromConfig(
        loadConfig({
          NODE_ENV: 'production',
          PUSH_AUTH_AUDIENCE: AUDIENCE,
          PUSH_AUTH_ALLOWED_EMAILS: PUSHER,
          PUSH_AUTH_CERTS_URL: host.url,
          HTTP_PROXY: proxy.url,
        }),
      );
      await expect(proxiedVerifier!.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
      expect(proxy.proxied).toEqual([host.url]);
    } finally {
      await proxy.close();
      await host.close();
    }
  });

  it.each([
    { proxy: 'says nothing after the CONNECT', answer: '' },
    {
      proxy: 'refuses the CONNECT with 407 and keeps the connection',
      answer: PROXY_REFUSAL,
    },
  ])('answer 503 in time, and leave no connection open, when the proxy $proxy', async ({ answer }) => {
    const proxy = await startStubbornProxy(answer);
    try {
      // An https URL, so the fetch tunnels; HTTP_PROXY alone names the proxy, which gaxios took for https too.
      const tunnelled = createPushVerifier({
        audience: AUDIENCE,
        allowedEmails: [PUSHER],
        certsUrl: 'https://certs.example.test/oauth2/v1/certs',
        certsTimeoutMs: 300,
        proxyEnv: { HTTP_PROXY: proxy.url },
      });
      expect(await statusOf(tunnelled.verify(bearer(signToken(trusted, {}))))).toBe(503);
      expect(proxy.requests).toEqual(['CONNECT certs.example.test:443 HTTP/1.1']);
      await vi.waitFor(() => expect(proxy.sockets.every((socket) => socket.closed || socket.readableEnded)).toBe(true));
    } finally {
      await proxy.close();
    }
  });

  it('make verifies of a new key wait for a refresh under way rather than refuse them', async () => {
    const rotated = makeKey('rotated-3');
    let release: (() => void) | undefined;
    const host = await certsHost((res, request) => {
      if (request === 1) answerJson(res, certsOf(trusted));
      else release = () => answerJson(res, certsOf(trusted, rotated));
    });
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const waiting = verifierFor(host.url);
      await waiting.verify(bearer(signToken(trusted, {})));
      vi.advanceTimersByTime(61_000);
      const first = waiting.verify(bearer(signToken(rotated, {})));
      await vi.waitFor(() => expect(release).toBeDefined());
      // Asked while the refresh is under way, within a minute of it: they wait for its answer.
      const later = Array.from({ length: 3 }, () => waiting.verify(bearer(signToken(rotated, {}))));
      release!();
      expect(await Promise.all([first, ...later])).toEqual(Array.from({ length: 4 }, () => ({ email: PUSHER })));
      expect(host.requests()).toBe(2);
    } finally {
      vi.useRealTimers();
      await host.close();
    }
  });

  it('are refreshed for a new key after the wall clock steps back', async () => {
    const rotated = makeKey('rotated-4');
    await withCertsHost(
      (res, request) => answerJson(res, request === 1 ? certsOf(trusted) : certsOf(trusted, rotated)),
      async (host) => {
        vi.useFakeTimers({ toFake: ['Date', 'performance'] });
        try {
          const refreshing = verifierFor(host.url);
          await refreshing.verify(bearer(signToken(trusted, {})));
          // The machine's clock is corrected an hour back; a minute later Google rotates its keys.
          vi.setSystemTime(Date.now() - 3_600_000);
          vi.advanceTimersByTime(61_000);
          await expect(refreshing.verify(bearer(signToken(rotated, {})))).resolves.toEqual({ email: PUSHER });
          expect(host.requests()).toBe(2);
        } finally {
          vi.useRealTimers();
        }
      },
    );
  });

  it('are not asked for by a token that names no key', async () => {
    await withCertsHost(
      (res) => answerJson(res, certsOf(trusted)),
      async (host) => {
        const checking = verifierFor(host.url);
        const noKid = signToken(trusted, {}, '');
        for (const token of ['not.a.jwt', 'a.b', noKid]) expect(await statusOf(checking.verify(bearer(token)))).toBe(401);
        expect(host.requests()).toBe(0);
      },
    );
  });

  it('are fetched again, once, for a key Google started signing with after the last fetch', async () => {
    const rotated = makeKey('rotated-2');
    await withCertsHost(
      (res, request) => answerJson(res, request === 1 ? certsOf(trusted) : certsOf(trusted, rotated)),
      async (host) => {
        const rotating = verifierFor(host.url, { certsRefreshAfterMs: 0 });
        await rotating.verify(bearer(signToken(trusted, {})));
        const results = await Promise.all(Array.from({ length: 4 }, () => rotating.verify(bearer(signToken(rotated, {})))));
        expect(results).toEqual(Array.from({ length: 4 }, () => ({ email: PUSHER })));
        // The refreshed set is the one held from now on.
        await rotating.verify(bearer(signToken(rotated, {})));
        expect(host.requests()).toBe(2);
      },
    );
  });

  it('are kept, and serve known keys without waiting, while a refresh for an unknown key is slow and after it fails', async () => {
    let refresh: ServerResponse | undefined;
    await withCertsHost(
      (res, request) => (request === 1 ? answerJson(res, certsOf(trusted)) : (refresh = res)),
      async (host) => {
        const keeping = verifierFor(host.url, { certsRefreshAfterMs: 0 });
        await keeping.verify(bearer(signToken(trusted, {})));
        const unknown = statusOf(keeping.verify(bearer(signToken(stranger, {}))));
        await vi.waitFor(() => expect(refresh).toBeDefined());
        await expect(keeping.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
        refresh!.writeHead(503).end();
        expect(await unknown).toBe(503);
        await expect(keeping.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
        expect(host.requests()).toBe(2);
      },
    );
  });

  it('are fetched at most once a minute for unknown keys, even while those fetches fail', async () => {
    const host = await certsHost((res, request) => (request === 1 ? answerJson(res, certsOf(trusted)) : void res.writeHead(500).end()));
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const guarded = verifierFor(host.url);
      await guarded.verify(bearer(signToken(trusted, {})));
      vi.advanceTimersByTime(61_000);
      const forged = (n: number) => bearer(signToken(stranger, {}, `made-up-${n}`));
      expect(await statusOf(guarded.verify(forged(1)))).toBe(503);
      for (let n = 2; n < 6; n += 1) expect(await statusOf(guarded.verify(forged(n)))).toBe(401);
      await expect(guarded.verify(bearer(signToken(trusted, {})))).resolves.toEqual({ email: PUSHER });
      expect(host.requests()).toBe(2);
      vi.advanceTimersByTime(61_000);
      expect(await statusOf(guarded.verify(forged(6)))).toBe(503);
      expect(host.requests()).toBe(3);
    } finally {
      vi.useRealTimers();
      await host.close();
    }
  });

  it('are not fetched again for unknown keys within a minute of the last fetch', async () => {
    await withCertsHost(
      (res) => answerJson(res, certsOf(trusted)),
      async (host) => {
        const guarded = verifierFor(host.url);
        await guarded.verify(bearer(signToken(trusted, {})));
        for (let i = 0; i < 5; i += 1) expect(await statusOf(guarded.verify(bearer(signToken(stranger, {}))))).toBe(401);
        expect(host.requests()).toBe(1);
      },
    );
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
