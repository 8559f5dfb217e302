/**
 * The simulator's HTTP client (scripts/simulate/post.ts) against real node:http servers: what
 * it sends, the connections it keeps, and the error code each failure becomes, since the
 * simulator counts refusals by that code (`network ECONNREFUSED`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPoster, PostError, type Poster } from '../../../scripts/simulate/post.ts';
import { freePort } from '../../support/net.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: (Server | ReturnType<typeof createTcpServer>)[] = [];
const posters: Poster[] = [];

afterEach(async () => {
  await Promise.all(posters.splice(0).map((p) => p.close()));
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(answer: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      answer(req, res, s);
    });
  });
  server.on('connection', (socket: Socket) => sockets.add(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, sockets };
}

/** A TCP server that answers every connection's first request with `raw` bytes, then does `then`. */
async function serveRaw(raw: string, then: 'end' | 'hold') {
  const server = createTcpServer((socket) => {
    socket.once('data', () => {
      socket.write(raw);
      if (then === 'end') socket.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function poster(baseUrl: string, connections = 4, timeoutMs = 5_000): Poster {
  const p = createPoster(baseUrl, connections, timeoutMs);
  posters.push(p);
  return p;
}

async function failureOf(promise: Promise<unknown>): Promise<PostError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PostError);
  return error as PostError;
}

describe('the simulator posts to the bridge', () => {
  it('sends the path after the bridge URL (and its prefix), the headers and the body, and returns the answer', async () => {
    const { url, seen } = await serve((_req, res, s) => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: 1, echo: s.body }));
    });
    const body = JSON.stringify({ ts: 1, metrics: { température: 21.5 }, note: 'ünïcødé ✓' });
    for (const base of [url, `${url}/`, `${url}/edge/`, `${url}/edge`]) {
      const answer = await poster(base).post('/v1/devices/d-1/telemetry', { 'content-type': 'application/json', authorization: 'Bearer t0k' }, body);
      expect(answer.status).toBe(202);
      expect(JSON.parse(answer.body)).toEqual({ accepted: 1, echo: body });
    }
    expect(seen.map((s) => s.url)).toEqual([
      '/v1/devices/d-1/telemetry',
      '/v1/devices/d-1/telemetry',
      '/edge/v1/devices/d-1/telemetry',
      '/edge/v1/devices/d-1/telemetry',
    ]);
    for (const s of seen) {
      expect(s.method).toBe('POST');
      expect(s.headers.authorization).toBe('Bearer t0k');
      expect(s.headers['content-type']).toBe('application/json');
      expect(Number(s.headers['content-length'])).toBe(Buffer.byteLength(body));
      expect(s.body).toBe(body);
    }
  });

  it('refuses a bridge URL whose query, fragment or credentials it would not send', () => {
    for (const base of ['http://127.0.0.1:1/?key=k', 'http://127.0.0.1:1/#x', 'http://user:secret@127.0.0.1:1/']) {
      expect(() => createPoster(base, 1, 1_000), base).toThrow(/would not be sent; give the origin and path only/);
    }
  });

  it('returns refusals as answers, with their status and body', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"unauthenticated"}');
    });
    expect(await poster(url).post('/v1/devices/d-1/telemetry', {}, '{}')).toEqual({ status: 401, body: '{"error":"unauthenticated"}' });
  });

  it('keeps at most the given connections open and reuses them', async () => {
    const { url, sockets, seen } = await serve((_req, res) => {
      setTimeout(() => res.writeHead(202).end('{"accepted":1}'), 5);
    });
    const p = poster(url, 3);
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => p.post(`/v1/devices/d-${i}/telemetry`, {}, `{"seq":${i}}`)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    expect(seen).toHaveLength(60);
    expect(sockets.size).toBeGreaterThan(0);
    expect(sockets.size).toBeLessThanOrEqual(3);
  });

  it('ends its connections on close', async () => {
    const { url, sockets } = await serve((_req, res) => res.writeHead(202).end('{}'));
    const p = createPoster(url, 2, 5_000);
    await p.post('/x', {}, '{}');
    expect([...sockets].some((s) => !s.destroyed)).toBe(true);
    await p.close();
    await expect.poll(() => [...sockets].every((s) => s.destroyed || s.readyState !== 'open'), { timeout: 2_000 }).toBe(true);
  });
});

describe('close', () => {
  it('fails the posts still in flight and any after it with a PostError, never leaving one waiting', async () => {
    const { url, seen } = await serve(() => {});
    const p = createPoster(url, 2, 30_000);
    const inFlight = p.post('/x', {}, '{}');
    await expect.poll(() => seen.length).toBe(1);
    await p.close();
    expect((await failureOf(inFlight)).code).toMatch(/^UND_ERR_/);
    expect((await failureOf(p.post('/x', {}, '{}'))).code).toMatch(/^UND_ERR_/);
  });
});

describe('each network failure becomes a PostError with the code the simulator counts', () => {
  it('ECONNREFUSED when nothing listens', async () => {
    const port = await freePort();
    expect((await failureOf(poster(`http://127.0.0.1:${port}`).post('/x', {}, '{}'))).code).toBe('ECONNREFUSED');
  });

  it('timeout when the bridge takes the request and never answers', async () => {
    const { url } = await serve(() => {});
    const error = await failureOf(poster(url, 1, 300).post('/x', {}, '{}'));
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+\/x within 300 ms/);
  });

  it('timeout when the answer starts and its body stalls', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(202, { 'content-length': '100' });
      res.write('{"accepted":');
    });
    expect((await failureOf(poster(url, 1, 300).post('/x', {}, '{}'))).code).toBe('timeout');
  });

  it('timeout when the body drips in slower than the whole deadline allows, though each part comes in time', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(202, { 'content-length': '1000' });
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(' ')), 50);
    });
    const error = await failureOf(poster(url, 1, 600).post('/x', {}, '{}'));
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/within 600 ms/);
  });

  it('ECONNRESET when the answer is cut short by the connection closing', async () => {
    const url = await serveRaw('HTTP/1.1 202 Accepted\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{"acc', 'end');
    expect((await failureOf(poster(url).post('/x', {}, '{}'))).code).toBe('ECONNRESET');
  });

  it('bad_response when what comes back is not HTTP', async () => {
    const url = await serveRaw('SSH-2.0-OpenSSH_9.2\r\n\r\n', 'hold');
    expect((await failureOf(poster(url).post('/x', {}, '{}'))).code).toBe('bad_response');
  });

  it('ECONNRESET when the bridge closes the connection instead of answering', async () => {
    const { url } = await serve((req) => req.socket.destroy());
    const error = await failureOf(poster(url).post('/x', {}, '{}'));
    expect(error.code).toBe('ECONNRESET');
    expect(error.message).toContain(`${url}/x`);
  });

  it('response_too_large for an answer over 1 MiB, and the next post still works', async () => {
    let calls = 0;
    const { url } = await serve((_req, res) => {
      calls += 1;
      if (calls === 1) res.writeHead(200).end(Buffer.alloc(2 * 1024 * 1024, 'x'));
      else res.writeHead(202).end('{"accepted":1}');
    });
    const p = poster(url, 1);
    expect((await failureOf(p.post('/x', {}, '{}'))).code).toBe('response_too_large');
    expect(await p.post('/x', {}, '{}')).toEqual({ status: 202, body: '{"accepted":1}' });
  });
});
