/**
 * shared/runtime/http.ts on the wire: a handler's answer that cannot be written (a body JSON
 * cannot hold, a header value Node refuses) is answered 500 through the one error mapping and
 * logged, and the server keeps serving; handlers get requests without accessors of their own;
 * the in-process door keeps admission, the body limit, the error mapping and the access log.
 * The functions' own wire tests cover the other paths.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, TransientError } from '../../../shared/errors.ts';
import { createInProcessHandler, createListener, type WireRequest, type WireResponse } from '../../../shared/runtime/http.ts';
import { captureLogs } from '../../support/kit.ts';
import { rawConnection, waitFor } from '../../support/net.ts';

interface Cycle {
  self?: Cycle;
}

const cycle: Cycle = {};
cycle.self = cycle;

/** What the handler answers, per path. */
const ANSWERS: Record<string, WireResponse> = {
  '/bigint': { status: 200, body: { readings: 12n } },
  '/cycle': { status: 200, body: cycle },
  '/bad-header': { status: 200, body: { ok: true }, headers: { 'x-note': 'line\nbreak' } },
  '/ok': { status: 200, body: { ok: true } },
  '/draining/bad-header': { status: 200, body: { ok: true }, headers: { 'cache-control': 'public, max-age=600', 'x-note': 'line\nbreak' } },
};

const logs = captureLogs('info');
/** The requests the handler saw on `/seen`. */
const seen: WireRequest[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  const listener = createListener(
    async (req) => {
      if (req.path !== '/seen') return ANSWERS[req.path] ?? { status: 404, body: { error: 'not_found' } };
      seen.push(req);
      return { status: 200, body: { device: req.query.get('device') } };
    },
    {
      logger: logs.logger,
      projectId: 'http-test',
      body: { limitBytes: 1024 },
      admit: ({ path }) => {
        if (path === '/refused') throw new HttpError(401, 'unauthenticated', 'refused before its body');
      },
    },
  );
  // As shared/runtime/serve.ts does while draining: a header already set before the listener runs.
  server = createServer((req, res) => {
    if (req.url?.startsWith('/draining/')) res.setHeader('connection', 'close');
    listener(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const get = async (path: string) => {
  const response = await fetch(base + path, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as unknown };
};

it("answers 500 without the failed answer's other headers, when a header was already set (draining)", async () => {
  const response = await fetch(`${base}/draining/bad-header`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(500);
  expect(response.headers.get('cache-control')).toBeNull();
  expect(response.headers.get('connection')).toBe('close');
  expect(await response.json()).toEqual({ error: 'internal', message: 'internal error' });
});

it.each(['/bigint', '/cycle', '/bad-header'])('answers 500 when the answer to %s cannot be written, logs it, and keeps serving', async (path) => {
  logs.lines.length = 0;

  expect(await get(path)).toEqual({ status: 500, body: { error: 'internal', message: 'internal error' } });

  const records = logs.records();
  expect(records).toContainEqual(expect.objectContaining({ severity: 'ERROR', message: 'request failed', path }));
  expect(records).toContainEqual(expect.objectContaining({ message: 'request', path, status: 500, error: 'internal' }));
  // The same server, and the connection it kept, answer the next request.
  expect(await get('/ok')).toEqual({ status: 200, body: { ok: true } });
});

it('closes the connection after refusing a body it did not read, rather than read on and answer again later', async () => {
  const { socket, closed, received } = await rawConnection(base);
  socket.write('POST /ok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"a":');
  await closed;
  expect(received()).toMatch(/^HTTP\/1\.1 413 /);
  expect(received().toLowerCase()).toContain('connection: close');
  expect(received().match(/HTTP\/1\.1/g)).toHaveLength(1);
});

it('keeps the connection after refusing a small body before it came, and answers the next request on it', async () => {
  const { socket, received } = await rawConnection(base);
  socket.write('POST /refused HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n');
  await waitFor(() => received().includes('refused before its body'), { timeoutMs: 5_000, what: 'the refusal' });
  expect(received()).toMatch(/^HTTP\/1\.1 401 /);
  expect(received().toLowerCase()).not.toContain('connection: close');
  socket.write('{"metrics":{"t":21.5}}');
  socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => (received().match(/HTTP\/1\.1/g) ?? []).length === 2, { timeoutMs: 5_000, what: 'the second answer' });
  expect(received()).toMatch(/HTTP\/1\.1 200 [^]*\{"ok":true\}$/);
  socket.destroy();
});

it('keeps the connection after refusing a request that carries no body at all (a CORS preflight, say)', async () => {
  const { socket, received } = await rawConnection(base);
  socket.write('OPTIONS /refused HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => received().includes('refused before its body'), { timeoutMs: 5_000, what: 'the refusal' });
  expect(received().toLowerCase()).not.toContain('connection: close');
  socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => (received().match(/HTTP\/1\.1/g) ?? []).length === 2, { timeoutMs: 5_000, what: 'the second answer' });
  expect(received()).toMatch(/HTTP\/1\.1 200 [^]*\{"ok":true\}$/);
  socket.destroy();
});

it('gives handlers requests with no accessors of their own (no old-space accessor pair per request)', async () => {
  expect(await get('/seen?device=d-1')).toEqual({ status: 200, body: { device: 'd-1' } });
  expect(await get('/seen?device=d-2')).toEqual({ status: 200, body: { device: 'd-2' } });
  const [first, second] = seen;
  if (!first || !second) throw new Error('the handler saw fewer than two requests');
  // Accessors built per request (an object literal's `get query()`) put an accessor pair per
  // request in old space, which kept every request's objects alive past scavenges.
  for (const request of [first, second]) {
    const accessors = Object.entries(Object.getOwnPropertyDescriptors(request)).filter(([, d]) => d.get || d.set);
    expect(accessors.map(([name]) => name)).toEqual([]);
  }
  expect(first.log).toBe(first.log);
  expect(typeof first.log.info).toBe('function');
});

describe('a handler handed requests in process', () => {
  const admitted: string[] = [];
  const handled: string[] = [];
  const handed = createInProcessHandler(
    async (req) => {
      handled.push(req.path);
      if (req.path === '/transient') throw new TransientError('the store is down');
      if (req.path === '/bigint') return { status: 200, body: { n: 12n } };
      return { status: 200, body: { bytes: req.body.length, agent: req.headers['user-agent'], device: req.query.get('device') }, log: { seen: true } };
    },
    {
      logger: logs.logger,
      projectId: 'http-test',
      body: { limitBytes: 1024 },
      quietSuccess: false,
      admit: ({ headers, path }) => {
        if (headers.authorization !== 'Bearer ok') throw new HttpError(401, 'unauthenticated', 'no valid token');
        admitted.push(path);
      },
    },
  );
  const request = (path: string, body: string, authorization = 'Bearer ok') => ({
    method: 'POST',
    path,
    headers: { authorization, 'user-agent': 'local-pubsub' },
    body: Buffer.from(body),
  });

  it('answers through the handler and logs the request as the listener does', async () => {
    logs.lines.length = 0;
    expect(await handed(request('/ok?device=d-1', '{"a":1}'))).toMatchObject({ status: 200, body: { bytes: 7, agent: 'local-pubsub', device: 'd-1' } });
    expect(handled.at(-1)).toBe('/ok');
    expect(logs.records()).toContainEqual(expect.objectContaining({ message: 'request', method: 'POST', path: '/ok', status: 200, seen: true }));
  });

  it('refuses a caller its admission refuses, before the handler runs', async () => {
    handled.length = 0;
    expect(await handed(request('/ok', '{}', 'Bearer wrong'))).toMatchObject({ status: 401, body: { error: 'unauthenticated' } });
    expect(handled).toEqual([]);
    expect(await handed(request('/ok', '{}'))).toMatchObject({ status: 200 });
    expect(admitted.at(-1)).toBe('/ok');
  });

  it('keeps the body limit, refuses an encoded body and maps errors as over HTTP', async () => {
    handled.length = 0;
    expect(await handed(request('/ok', 'x'.repeat(1025)))).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    const gzipped = { ...request('/ok', '{}'), headers: { authorization: 'Bearer ok', 'content-encoding': 'gzip' } };
    expect(await handed(gzipped)).toMatchObject({ status: 415, body: { error: 'unsupported_encoding' } });
    expect(handled).toEqual([]);
    expect((await handed(request('/transient', '{}'))).status).toBe(503);
  });

  it('answers 500 for an answer the listener could not write, as over HTTP', async () => {
    expect(await handed(request('/bigint', '{}'))).toEqual(expect.objectContaining({ status: 500, body: { error: 'internal', message: 'internal error' } }));
  });
});
