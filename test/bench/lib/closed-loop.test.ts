/**
 * The closed-loop load (bench/lib/closed-loop.ts) against a small local server: every request
 * built afresh, every answer counted by status, requests in flight at the end waited for,
 * unanswered ones counted as errors, and an abort ending the load at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClosedLoop } from '../../../bench/lib/closed-loop.ts';

let server: Server;
let url: string;
const bodies: string[] = [];

beforeAll(async () => {
  // /status/<code> answers <code>; /slow answers 200 after 300 ms; /hang never answers.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (body) bodies.push(body);
      if (req.url === '/hang') return;
      if (req.url === '/slow') return void setTimeout(() => res.end('ok'), 300);
      res.statusCode = Number(/^\/status\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 200);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('runClosedLoop', () => {
  it('counts every answer by status, each request built by its worker', async () => {
    bodies.length = 0;
    const result = await runClosedLoop({
      url,
      connections: 4,
      seconds: 0.3,
      timeoutMs: 5_000,
      next: (n, worker) => ({ method: 'POST', path: worker === 0 ? '/status/503' : '/status/201', body: `request ${n}` }),
    });
    expect(result.sent).toBe(result.ok + result.non2xx + result.errors);
    expect(result.errors).toBe(0);
    expect(result.statuses['503']).toBe(result.non2xx);
    expect(result.statuses['201']).toBe(result.ok);
    expect(result.non2xx).toBeGreaterThan(0);
    expect(result.ok).toBeGreaterThan(result.non2xx);
    expect(new Set(bodies).size).toBe(result.sent);
  });

  it('waits for the requests in flight when the time is up', async () => {
    const result = await runClosedLoop({ url, connections: 3, seconds: 0.05, timeoutMs: 5_000, next: () => ({ method: 'GET', path: '/slow' }) });
    expect(result).toMatchObject({ sent: 3, ok: 3, errors: 0 });
    expect(result.elapsedSeconds).toBeGreaterThanOrEqual(0.3);
  });

  it('counts a request unanswered within the timeout as an error, saying why', async () => {
    const result = await runClosedLoop({ url, connections: 2, seconds: 0.05, timeoutMs: 200, next: () => ({ method: 'GET', path: '/hang' }) });
    expect(result).toMatchObject({ sent: 2, ok: 0, non2xx: 0, errors: 2, errorMessages: ['no answer within 200 ms'] });
  });

  it('counts refused connections as errors', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await runClosedLoop({
      url: `http://127.0.0.1:${port}`,
      connections: 1,
      seconds: 0.05,
      timeoutMs: 1_000,
      next: () => ({ method: 'GET', path: '/' }),
    });
    expect(result.errors).toBe(result.sent);
    expect(result.errorMessages[0]).toContain('ECONNREFUSED');
  });

  it('ends at once when aborted, the requests in flight given up', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await runClosedLoop({
      url,
      connections: 2,
      seconds: 10,
      timeoutMs: 10_000,
      signal: controller.signal,
      next: () => ({ method: 'GET', path: '/hang' }),
    });
    expect(result).toMatchObject({ sent: 2, errors: 2 });
    expect(result.elapsedSeconds).toBeLessThan(2);
  });
});
