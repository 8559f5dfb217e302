/**
 * The in-process Pub/Sub against real HTTP endpoints, and receivers in the same process: delivery in Pub/Sub's wrapped push
 * format, ack codes, retries with backoff, dead-lettering after 5 attempts, and redelivery of
 * unacked messages by a new instance on the same directory (a crash).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFile, mkdtemp, open as openFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineError } from '../../../shared/deadline.ts';
import { errorResponse } from '../../../shared/errors.ts';
import { createLogger } from '../../../shared/log.ts';
import { openLocalPubsub, type LocalPubsub, type LocalPubsubOptions, type PushSubscription } from '../../../local/pubsub/broker.ts';
import { waitFor } from '../../support/net.ts';

interface Received {
  body: {
    message: { data: string; attributes: Record<string, string>; messageId: string; message_id: string; publishTime: string; publish_time: string };
    subscription: string;
    deliveryAttempt: number;
  };
  at: number;
}

interface Endpoint {
  url: string;
  received: Received[];
  server: Server;
}

/** A push endpoint answering `status(request)`; records every delivery. */
async function startEndpoint(status: (body: Received['body'], n: number) => number): Promise<Endpoint> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'];
      received.push({ body, at: Date.now() });
      res.writeHead(status(body, received.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, received, server };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(endpoint: Endpoint, deadLetterEndpoint?: Endpoint, overrides: Partial<LocalPubsubOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'local-pubsub-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  cleanups.push(() => new Promise<void>((r) => endpoint.server.close(() => r())));
  if (deadLetterEndpoint) cleanups.push(() => new Promise<void>((r) => deadLetterEndpoint.server.close(() => r())));
  const subscriptions: PushSubscription[] = [
    { name: 'telemetry-ingest', topic: 'telemetry', pushEndpoint: endpoint.url, deadLetter: { topic: 'telemetry-dead-letter', maxDeliveryAttempts: 5 } },
  ];
  if (deadLetterEndpoint) subscriptions.push({ name: 'telemetry-dead-letter-push', topic: 'telemetry-dead-letter', pushEndpoint: deadLetterEndpoint.url });
  const options: LocalPubsubOptions = {
    dir,
    projectId: 'local-project',
    topics: ['telemetry', 'telemetry-dead-letter'],
    subscriptions,
    logger: createLogger({ level: 'error' }),
    minBackoffMs: 20,
    maxBackoffMs: 200,
    ...overrides,
  };
  const open = async (): Promise<LocalPubsub> => {
    const pubsub = await openLocalPubsub(options);
    cleanups.push(() => pubsub.close());
    return pubsub;
  };
  return { dir, open, options };
}

describe('local Pub/Sub', () => {
  it('pushes a wrapped push body with both field spellings and acks on 200', async () => {
    const endpoint = await startEndpoint(() => 200);
    const pubsub = await (await setup(endpoint)).open();
    const id = await pubsub.publish('telemetry', Buffer.from('{"metrics":{"t":1}}'), { deviceId: 'd1' });
    await waitFor(() => endpoint.received.length === 1);
    const { body } = endpoint.received[0] as Received;
    expect(body).toMatchObject({
      message: { messageId: id, message_id: id, attributes: { deviceId: 'd1' } },
      subscription: 'projects/local-project/subscriptions/telemetry-ingest',
      deliveryAttempt: 1,
    });
    expect(Buffer.from(body.message.data, 'base64').toString()).toBe('{"metrics":{"t":1}}');
    expect(body.message.publish_time).toBe(body.message.publishTime);
    await waitFor(() => pubsub.stats().acked === 1);
    expect(pubsub.stats()).toMatchObject({ published: 1, acked: 1, nacked: 0, backlog: 0 });
  });

  // 102 is an interim response over HTTP/1.1, so no endpoint can end a push with it.
  it.each([201, 202, 204])('treats %i as an ack', async (status) => {
    const endpoint = await startEndpoint(() => status);
    const pubsub = await (await setup(endpoint)).open();
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().acked === 1);
    expect(endpoint.received).toHaveLength(1);
  });

  it.each([400, 429, 500, 503])('retries after %i with growing delays and an increasing deliveryAttempt', async (status) => {
    const endpoint = await startEndpoint((_, n) => (n < 4 ? status : 200));
    const pubsub = await (await setup(endpoint)).open();
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().acked === 1, { timeoutMs: 5000 });
    expect(endpoint.received.map((r) => r.body.deliveryAttempt)).toEqual([1, 2, 3, 4]);
    expect(new Set(endpoint.received.map((r) => r.body.message.messageId)).size).toBe(1);
  });

  it('keeps what a subscription without a push endpoint receives until modifyPushConfig names one', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { options } = await setup(endpoint);
    const pubsub = await openLocalPubsub({ ...options, subscriptions: [{ name: 'later', topic: 'telemetry' }] });
    cleanups.push(() => pubsub.close());
    const id = await pubsub.publish('telemetry', Buffer.from('x'), {});
    expect(pubsub.stats()).toMatchObject({ published: 1, inFlight: 0, backlog: 1 });
    expect(() => pubsub.modifyPushConfig('nosuch', endpoint.url)).toThrow(/nosuch/);
    pubsub.modifyPushConfig('later', endpoint.url);
    await waitFor(() => pubsub.stats().acked === 1);
    expect(endpoint.received.map((r) => r.body.message.messageId)).toEqual([id]);
    expect(pubsub.stats().backlog).toBe(0);
  });

  it('hands pushes to a receiver in this process instead of POSTing them, with the same body, retries and acks', async () => {
    // Nothing listens at this endpoint: a delivery that went over HTTP would never be acked.
    const endpoint = await startEndpoint(() => 200);
    await new Promise<void>((r) => endpoint.server.close(() => r()));
    const { options } = await setup(endpoint);
    const handed: { body: Received['body']; headers: Record<string, unknown>; path: string }[] = [];
    const pubsub = await openLocalPubsub({ ...options, subscriptions: [{ name: 'in-process', topic: 'telemetry' }] });
    cleanups.push(() => pubsub.close());
    pubsub.modifyPushConfig('in-process', endpoint.url, async (req) => {
      handed.push({ body: JSON.parse(req.body.toString('utf8')) as Received['body'], headers: { ...req.headers }, path: req.path });
      return { status: handed.length < 3 ? 503 : 204 };
    });
    const id = await pubsub.publish('telemetry', Buffer.from('{"metrics":{"t":1}}'), { deviceId: 'd1' });
    await waitFor(() => pubsub.stats().acked === 1, { timeoutMs: 5000 });
    expect(handed.map((h) => h.body.deliveryAttempt)).toEqual([1, 2, 3]);
    expect(handed[0]).toMatchObject({
      path: '/',
      headers: { 'content-type': 'application/json', 'user-agent': 'local-pubsub' },
      body: { message: { messageId: id, message_id: id, attributes: { deviceId: 'd1' } }, subscription: 'projects/local-project/subscriptions/in-process' },
    });
    expect(pubsub.stats()).toMatchObject({ published: 1, acked: 1, nacked: 2, backlog: 0, handedOver: 3 });
  });

  it('nacks a receiver that does not answer within the push deadline, or throws, and delivers again', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { options } = await setup(endpoint, undefined, { pushTimeoutMs: 100 });
    const pubsub = await openLocalPubsub({ ...options, subscriptions: [{ name: 'slow', topic: 'telemetry' }] });
    cleanups.push(() => pubsub.close());
    let calls = 0;
    // Not async on purpose: the second call throws before it returns a promise.
    pubsub.modifyPushConfig('slow', endpoint.url, () => {
      calls += 1;
      if (calls === 1) return new Promise<never>(() => undefined);
      if (calls === 2) throw new Error('a receiver that throws');
      return Promise.resolve({ status: 200 });
    });
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().acked === 1, { timeoutMs: 5000 });
    expect(calls).toBe(3);
    expect(pubsub.stats()).toMatchObject({ acked: 1, nacked: 2 });
    // The receiver sees the endpoint's path and query, as the HTTP request line carries them.
    const paths: string[] = [];
    pubsub.modifyPushConfig('slow', `${endpoint.url}elsewhere?token=t`, (req) => {
      paths.push(req.path);
      return Promise.resolve({ status: 404 });
    });
    await pubsub.publish('telemetry', Buffer.from('z'), {});
    await waitFor(() => paths.length > 0);
    expect(paths[0]).toBe('/elsewhere?token=t');
    // A scheme the HTTP push refuses is no matter to a receiver in this process.
    pubsub.modifyPushConfig('slow', 'https://ingest.example/push', (req) => {
      paths.push(req.path);
      return Promise.resolve({ status: 404 });
    });
    await pubsub.publish('telemetry', Buffer.from('z2'), {});
    await waitFor(() => paths.includes('/push'));
    // Pointed at the endpoint again without a receiver, deliveries go over HTTP.
    pubsub.modifyPushConfig('slow', endpoint.url);
    await pubsub.publish('telemetry', Buffer.from('y'), {});
    await waitFor(() => endpoint.received.length >= 1);
    expect(calls).toBe(3);
    expect(pubsub.stats().handedOver).toBeGreaterThanOrEqual(4);
  });

  it('nacks an HTTP endpoint still sending its answer when the push deadline passes, and delivers again', async () => {
    // The first answer starts at once and never ends, a byte every 20 ms: the socket is never
    // idle, so only a deadline on the whole push can end it.
    let pushes = 0;
    const server = createServer((req, res) => {
      req.resume();
      pushes += 1;
      if (pushes > 1) return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('.'), 20);
      res.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(async () => void server.closeAllConnections());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const endpoint = await startEndpoint(() => 200);
    const { options } = await setup(endpoint, undefined, { pushTimeoutMs: 1000 });
    const pubsub = await openLocalPubsub({ ...options, subscriptions: [{ name: 'dripping', topic: 'telemetry', pushEndpoint: url }] });
    cleanups.push(() => pubsub.close());
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().acked === 1, { timeoutMs: 10_000 });
    const { nacked } = pubsub.stats();
    expect(nacked).toBeGreaterThanOrEqual(1);
    expect(pushes).toBe(nacked + 1);
  });

  it('refuses a push endpoint it cannot reach over HTTP when the subscription is set, rather than at delivery', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { options } = await setup(endpoint);
    for (const pushEndpoint of ['https://ingest.example/push', 'not a url']) {
      await expect(openLocalPubsub({ ...options, subscriptions: [{ name: 's', topic: 'telemetry', pushEndpoint }] })).rejects.toThrow(
        /push endpoint|Invalid URL/,
      );
    }
    const pubsub = await openLocalPubsub(options);
    cleanups.push(() => pubsub.close());
    expect(() => pubsub.modifyPushConfig('telemetry-ingest', 'https://ingest.example/push')).toThrow(/pushes over http only/);
    // Still pushing where it did: the refused change changed nothing.
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().acked === 1);
    expect(endpoint.received).toHaveLength(1);
  });

  it('retries when the endpoint is unreachable', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { options } = await setup(endpoint);
    const pubsub = await openLocalPubsub({ ...options, subscriptions: [{ name: 's', topic: 'telemetry', pushEndpoint: 'http://127.0.0.1:9/' }] });
    cleanups.push(() => pubsub.close());
    await pubsub.publish('telemetry', Buffer.from('x'), {});
    await waitFor(() => pubsub.stats().nacked >= 2);
    expect(pubsub.stats().acked).toBe(0);
  });

  it('dead-letters after 5 attempts with the source attributes, keeping data and attributes', async () => {
    const endpoint = await startEndpoint(() => 500);
    const deadLetters = await startEndpoint(() => 200);
    const pubsub = await (await setup(endpoint, deadLetters)).open();
    const id = await pubsub.publish('telemetry', Buffer.from('poison'), { deviceId: 'd9' });
    await waitFor(() => deadLetters.received.length === 1, { timeoutMs: 5000 });
    expect(endpoint.received.map((r) => r.body.deliveryAttempt)).toEqual([1, 2, 3, 4, 5]);
    const { body } = deadLetters.received[0] as Received;
    expect(body.subscription).toBe('projects/local-project/subscriptions/telemetry-dead-letter-push');
    expect(body.message.messageId).not.toBe(id);
    expect(Buffer.from(body.message.data, 'base64').toString()).toBe('poison');
    expect(body.message.attributes).toMatchObject({
      deviceId: 'd9',
      CloudPubSubDeadLetterSourceDeliveryCount: '5',
      CloudPubSubDeadLetterSourceSubscription: 'telemetry-ingest',
      CloudPubSubDeadLetterSourceSubscriptionProject: 'local-project',
    });
    await waitFor(() => pubsub.stats().backlog === 0 && pubsub.stats().inFlight === 0);
    expect(pubsub.stats()).toMatchObject({ deadLettered: 1, nacked: 5 });
  });

  it('refuses a topic that does not exist', async () => {
    const endpoint = await startEndpoint(() => 200);
    const pubsub = await (await setup(endpoint)).open();
    await expect(pubsub.publish('nope', Buffer.from('x'), {})).rejects.toThrow(/topic nope does not exist/);
  });

  it('redelivers after a crash what was published and not acked, and nothing that was acked', async () => {
    let acking = true;
    const endpoint = await startEndpoint((body) => (acking || body.message.attributes.n === 'late' ? 200 : 503));
    const { open, dir } = await setup(endpoint);
    const first = await open();
    const acked = await first.publish('telemetry', Buffer.from('a'), { n: 'acked' });
    await waitFor(() => first.stats().acked === 1);
    acking = false;
    const unacked = await Promise.all([1, 2, 3].map((i) => first.publish('telemetry', Buffer.from(String(i)), { n: 'unacked' })));
    await waitFor(() => first.stats().nacked >= 3);
    // Stop with those still unacked, and leave a torn last line as a crash mid-write would.
    await first.close();
    await appendFile(join(dir, 'messages.log'), '{"p":{"id":"99","topic":"tele');
    acking = true;
    endpoint.received.length = 0;
    const second = await open();
    await waitFor(() => second.stats().acked === 3);
    const redelivered = endpoint.received.map((r) => r.body.message.messageId).sort();
    expect(redelivered).toEqual([...unacked].sort());
    expect(redelivered).not.toContain(acked);
    const next = await second.publish('telemetry', Buffer.from('n'), { n: 'late' });
    expect(BigInt(next)).toBeGreaterThan(BigInt(unacked[2] as string));
  });

  it('refuses a publish the disk does not take within the deadline, and never delivers it once the disk catches up', async () => {
    const endpoint = await startEndpoint(() => 200);
    // The deadline leaves a slow but working disk (CI's, under load) plenty; the stall below outlasts it.
    const { open } = await setup(endpoint, undefined, { publishDeadlineMs: 2_000 });
    const first = await open();
    await first.publish('telemetry', Buffer.from('a'), { n: 'before' });
    const fsyncsBefore = first.stats().fsyncs;
    // The disk stalls: this process's fsyncs wait until the test lets the disk catch up (a frozen or failing disk).
    const probe = await openFile(join(tmpdir(), '.'), 'r');
    const fileHandle = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const datasync = fileHandle.datasync;
    let catchUp!: () => void;
    const caughtUp = new Promise<void>((resolve) => (catchUp = resolve));
    const stall = vi.spyOn(fileHandle, 'datasync').mockImplementation(async function (this: unknown) {
      await caughtUp;
      return datasync.call(this);
    });
    try {
      const refused: unknown = await first.publish('telemetry', Buffer.from('b'), { n: 'stalled' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DeadlineError);
      expect(errorResponse(refused).status).toBe(503);
    } finally {
      stall.mockRestore();
      catchUp();
    }
    // Once the disk catches up, a publish goes through; the refused one is never delivered, nor after a restart.
    await waitFor(() => first.stats().fsyncs > fsyncsBefore, { what: 'the stalled write to finish' });
    await first.publish('telemetry', Buffer.from('c'), { n: 'after' });
    await waitFor(() => endpoint.received.some((r) => r.body.message.attributes.n === 'after'));
    await first.close();
    const second = await open();
    await second.publish('telemetry', Buffer.from('d'), { n: 'restarted' });
    await waitFor(() => endpoint.received.some((r) => r.body.message.attributes.n === 'restarted'));
    expect(endpoint.received.map((r) => r.body.message.attributes.n).sort()).toEqual(['after', 'before', 'restarted']);
  });

  it('never issues a message id twice, even after every message was acked and the log compacted', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { open } = await setup(endpoint);
    const first = await open();
    const ids = await Promise.all([1, 2, 3].map((i) => first.publish('telemetry', Buffer.from(String(i)), {})));
    await waitFor(() => first.stats().acked === 3);
    await first.close();
    // Reopening compacts: the file now holds no message, only the id high-water mark.
    const second = await open();
    await second.close();
    const third = await open();
    const next = await third.publish('telemetry', Buffer.from('4'), {});
    expect(ids).not.toContain(next);
    expect(BigInt(next)).toBeGreaterThan(BigInt(ids[2] as string));
  });

  it('batches fsyncs across concurrent publishes and compacts the log', async () => {
    const endpoint = await startEndpoint(() => 200);
    const { open, dir } = await setup(endpoint, undefined, { compactAfterLines: 500 });
    const pubsub = await open();
    await Promise.all(Array.from({ length: 2000 }, (_, i) => pubsub.publish('telemetry', Buffer.from(String(i)), {})));
    expect(pubsub.stats().fsyncs).toBeLessThan(500);
    await waitFor(() => pubsub.stats().acked === 2000, { timeoutMs: 20_000 });
    // Acks written after the last compaction stay until the next one; the file stays small.
    await pubsub.publish('telemetry', Buffer.from('last'), {});
    await waitFor(() => pubsub.stats().acked === 2001);
    expect(pubsub.stats().compactions).toBeGreaterThan(0);
    const lines = (await readFile(join(dir, 'messages.log'), 'utf8')).split('\n').length;
    expect(lines).toBeLessThan(4000);
  });
});
