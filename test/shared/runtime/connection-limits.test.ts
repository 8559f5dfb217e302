/**
 * Every listener closes connections that never send a byte (an idle flood would otherwise
 * exhaust file descriptors), while still serving others and not cutting a request whose
 * answer takes longer than that bound: the function runner (shared/runtime/serve.ts) and the
 * stack's internal API.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineFunction } from '../../../shared/runtime/function.ts';
import { createPlatform } from '../../../shared/runtime/platform.ts';
import { serveFunction, type RunningFunction } from '../../../shared/runtime/serve.ts';
import { startInternalApi } from '../../../local/stack/internal-api.ts';
import { testConfig } from '../../support/kit.ts';
import { rawConnection, waitFor } from '../../support/net.ts';

const SILENT_MS = 300;
const LIMITS = { silentMs: SILENT_MS, headersMs: 1_000, requestMs: 2_000, keepAliveMs: SILENT_MS, checkIntervalMs: 100 };

/** A function that answers after `?wait=` ms: a slow handler, longer than the silent bound. */
const slow = defineFunction({
  name: 'slow',
  create: () => ({
    listener: (req, res) => {
      const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0);
      setTimeout(() => res.end('done'), wait);
    },
  }),
});

/** Opens `n` TCP connections that send nothing; each records when the server closed it. */
async function openSilentSockets(url: string, n: number): Promise<{ sockets: Socket[]; closed: () => number }> {
  const { hostname, port } = new URL(url);
  let closed = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(port), hostname, () => resolve(socket));
          socket.once('error', reject);
          socket.once('close', () => (closed += 1));
        }),
    ),
  );
  return { sockets, closed: () => closed };
}

describe('the function runner', () => {
  let served: RunningFunction;
  beforeAll(async () => {
    served = await serveFunction(slow, createPlatform({ config: testConfig() }), { port: 0, host: '127.0.0.1', timeouts: LIMITS });
  });
  afterAll(() => served?.stop());

  it('closes connections that never send a byte, and keeps serving meanwhile', async () => {
    const silent = await openSilentSockets(served.url, 50);
    // The server answers others while the silent sockets are open.
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
    await waitFor(() => silent.closed() === 50, { timeoutMs: 15_000, what: 'the server to close 50 silent sockets' });
    expect(silent.sockets.every((s) => s.destroyed)).toBe(true);
    expect(served.server.listening).toBe(true);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
  });

  it('does not cut a request whose answer takes longer than the silent-connection bound', async () => {
    const response = await fetch(`${served.url}/?wait=${SILENT_MS * 4}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('done');
  });

  it('closes a keep-alive connection that stays idle after its answer', async () => {
    const { hostname, port } = new URL(served.url);
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('the function runner on SIGTERM', () => {
  it('answers a request sent on a connection accepted just before the drain began, then closes it', async () => {
    const served = await serveFunction(slow, createPlatform({ config: testConfig() }), {
      port: 0,
      host: '127.0.0.1',
      timeouts: { ...LIMITS, silentMs: 10_000 },
    });
    const { hostname, port } = new URL(served.url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // The server has accepted the connection before it stops; the client is a moment late.
    await waitFor(async () => (await new Promise<number>((r) => served.server.getConnections((_, n) => r(n)))) === 1, {
      timeoutMs: 5_000,
      what: 'the server to accept',
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<boolean>((resolve) => socket.once('close', (hadError) => resolve(hadError)));
    socket.on('error', () => undefined);
    const stopped = served.stop();
    await new Promise((r) => setTimeout(r, 300));
    socket.write('GET /?wait=10 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await closed).toBe(false);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer.endsWith('done')).toBe(true);
    await stopped;
  });
});

describe('the stack internal API', () => {
  it('closes connections that never send a byte, and keeps serving meanwhile', async () => {
    const platform = createPlatform({ config: testConfig() });
    const api = await startInternalApi({ platform, adminToken: 'internal-secret', stats: () => ({ ok: true }), timeouts: LIMITS });
    try {
      const silent = await openSilentSockets(api.url, 20);
      const stats = await fetch(`${api.url}/internal/stats`, { headers: { authorization: 'bearer internal-secret' } });
      expect(stats.status).toBe(200);
      await waitFor(() => silent.closed() === 20, { timeoutMs: 15_000, what: 'the internal API to close 20 silent sockets' });
      expect((await fetch(`${api.url}/internal/stats`, { headers: { authorization: 'Bearer internal-secret' } })).status).toBe(200);
    } finally {
      await api.stop();
      await platform.close();
    }
  });
});

/** A served function whose answers wait for the test to open its gate; it counts the requests it was handed. */
async function serveGated() {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  let handed = 0;
  const module = defineFunction({
    name: 'gated',
    create: () => ({
      listener: (req, res) => {
        handed += 1;
        void gate.then(() => res.end(req.url));
      },
    }),
  });
  const served = await serveFunction(module, createPlatform({ config: testConfig() }), { port: 0, host: '127.0.0.1', timeouts: LIMITS });
  return { served, open: () => open(), handed: () => handed };
}

const pipelined = (from: number, count: number) => Array.from({ length: count }, (_, i) => `GET /${from + i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');

describe('pipelined requests', () => {
  it('stop being read at 16 unanswered on a connection, and all are answered in order once the answers go out', async () => {
    const gated = await serveGated();
    const { served } = gated;
    try {
      const client = await rawConnection(served.url);
      client.socket.write(pipelined(0, 40));
      await waitFor(() => gated.handed() === 40, { timeoutMs: 5_000, what: 'the first write, read whole' });
      // Past 16 unanswered the connection is not read: the second write waits in the kernel.
      client.socket.write(pipelined(40, 40));
      await new Promise((r) => setTimeout(r, 300));
      expect(gated.handed()).toBe(40);
      expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
      gated.open();
      await waitFor(() => (client.received().match(/HTTP\/1\.1 200/g) ?? []).length === 80, { timeoutMs: 10_000, what: '80 answers' });
      const order = [...client.received().matchAll(/\r\n\r\n\/(\d+)/g)].map((m) => Number(m[1]));
      expect(order).toEqual(Array.from({ length: 80 }, (_, i) => i));
      client.socket.destroy();
    } finally {
      await served.stop();
    }
  });

  it('answer every one of 20,000 written at once, in order, running at most 64 unanswered and 503 for the rest of a read', async () => {
    const gated = await serveGated();
    const { served } = gated;
    try {
      const client = await rawConnection(served.url);
      client.socket.write(pipelined(0, 20_000));
      // Node parses the rest of the read it is in, but only the first 4 × 16 reach the function.
      await waitFor(() => gated.handed() === 64, { timeoutMs: 5_000, what: 'the first 64 handed over' });
      await new Promise((r) => setTimeout(r, 300));
      expect(gated.handed()).toBe(64);
      expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
      gated.open();
      const statuses = () => [...client.received().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      await waitFor(() => statuses().length === 20_000, { timeoutMs: 20_000, what: '20,000 answers' });
      // The function ran exactly the requests answered 200, in their order; the others were not run.
      const ran = [...client.received().matchAll(/\r\n\r\n\/(\d+)/g)].map((m) => Number(m[1]));
      expect(ran.length).toBe(gated.handed());
      expect(ran.slice(0, 64)).toEqual(Array.from({ length: 64 }, (_, i) => i));
      expect(ran).toEqual([...ran].sort((a, b) => a - b));
      expect(statuses().filter((s) => s === 200)).toHaveLength(ran.length);
      expect(
        statuses()
          .filter((s) => s !== 200)
          .every((s) => s === 503),
      ).toBe(true);
      expect(client.socket.destroyed).toBe(false);
      client.socket.destroy();
    } finally {
      gated.open();
      await served.stop();
    }
  });
});
