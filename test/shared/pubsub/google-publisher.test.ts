/**
 * shared/pubsub/google-publisher.ts against the official Pub/Sub emulator, over both of its
 * transports (the project's own gRPC call and @google-cloud/pubsub's client): how publishes are
 * batched into requests (seen on the wire by a recording HTTP/2 proxy in front of the
 * emulator), what arrives on a subscription, refusals and retries, a connection that goes away,
 * and the deadline, connect and close paths against a host that accepts TCP and never answers.
 * The bridge's own wire test (test/bridge.test.ts) covers a publisher whose emulator port is closed.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  connect as connectHttp2,
  constants,
  createSecureServer as createSecureHttp2Server,
  createServer as createHttp2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TransientError } from '../../../shared/errors.ts';
import { DeadlineError } from '../../../shared/deadline.ts';
import { createPubsubPublisher, type PublishTransport } from '../../../shared/pubsub/google-publisher.ts';
import { openGrpcConnection } from '../../../shared/pubsub/grpc-connection.ts';
import type { Publisher } from '../../../shared/pubsub/publisher.ts';
import { waitFor } from '../../support/net.ts';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.ts';

const run = randomBytes(3).toString('hex');
let emulatorHost: string;
/** The transport under test, and a project of its own on the emulator (topics by the same name in each). */
let transport: PublishTransport;
let projectId: string;
let admin: PubSub;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  emulatorHost = inject('pubsubEmulatorHost');
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** A publisher over the transport under test, closed after the file whatever a test left it in. */
function openPublisher(options: Partial<Parameters<typeof createPubsubPublisher>[0]> & { emulatorHost: string }): Publisher {
  const publisher = createPubsubPublisher({ projectId, transport, ...options });
  cleanups.push(() => publisher.close());
  return publisher;
}

/** A fresh topic with a pull subscription on it. */
async function createTopicWithSubscription(name: string): Promise<Subscription> {
  const [topic] = await admin.createTopic(name);
  const [subscription] = await topic.createSubscription(`${name}-pulled`);
  cleanups.push(() => subscription.close());
  return subscription;
}

/** Pulls (and acks) messages until `count` distinct ids arrived. */
function pullMessages(subscription: Subscription, count: number): Promise<Map<string, Message>> {
  const received = new Map<string, Message>();
  return new Promise((resolve, reject) => {
    subscription.on('error', reject);
    subscription.on('message', (message: Message) => {
      message.ack();
      received.set(message.id, message);
      if (received.size === count) resolve(received);
    });
  });
}

/** A publisher's settled outcome: the message id, or the error. */
function settle(publish: Promise<string>): Promise<{ id: string } | { error: unknown }> {
  return publish.then(
    (id) => ({ id }),
    (error: unknown) => ({ error }),
  );
}

interface PublishRequest {
  messages: number;
  bytes: number;
  /** The headers it came with that say who sends it and where it goes. */
  authorization?: string;
  requestParams?: string;
}

interface PublishRecorder {
  /** `host:port` to give the publisher as its emulator. */
  host: string;
  /** Every Publish request that came, as it came (refused ones too). */
  requests: PublishRequest[];
  /** Connections the recorder has accepted so far. */
  connectionsAccepted(): number;
  /** Answers the next `count` Publish requests with this gRPC status, without forwarding them. */
  refuseNext(count: number, grpcStatus: number): void;
  /** Holds the answers to the next Publish requests, one delay each (Infinity: never answers). */
  holdNext(...delaysMs: number[]): void;
  /** Ends every connection the publisher opened to the recorder, as a server going away does. */
  dropConnections(): void;
  /** Sends GOAWAY (NO_ERROR) on every connection: the calls on them may finish, no new ones. */
  goAway(): void;
  close(): Promise<void>;
}

const PUBLISH_PATH = '/google.pubsub.v1.Publisher/Publish';

/**
 * A cleartext HTTP/2 proxy in front of the emulator that forwards every gRPC call as it is and
 * records each Publish request: how many messages it carried and its size.
 */
async function startPublishRecorder(target: string, options: { tls?: { key: string; cert: string } } = {}): Promise<PublishRecorder> {
  const upstream = connectHttp2(`http://${target}`);
  const requests: PublishRequest[] = [];
  const refusals: number[] = [];
  const holds: number[] = [];
  const sessions = new Set<Http2Session>();
  const server = options.tls ? createSecureHttp2Server(options.tls) : createHttp2Server();
  let accepted = 0;
  server.on('session', (session) => {
    accepted++;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    const refusal = headers[':path'] === PUBLISH_PATH ? refusals.shift() : undefined;
    if (refusal !== undefined) {
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        requests.push({ messages: countPublishedMessages(Buffer.concat(chunks)), bytes: Buffer.concat(chunks).length, ...sentBy(headers) });
        // A trailers-only answer, as gRPC servers refuse a call.
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(refusal), 'grpc-message': 'refused%20by%20the%20test' },
          { endStream: true },
        );
      });
      return;
    }
    const heldMs = headers[':path'] === PUBLISH_PATH ? holds.shift() : undefined;
    const forwarded = upstream.request(headers);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (headers[':path'] !== PUBLISH_PATH) return;
      const body = Buffer.concat(chunks);
      requests.push({ messages: countPublishedMessages(body), bytes: body.length, ...sentBy(headers) });
    });
    stream.pipe(forwarded);
    let trailers: OutgoingHttpHeaders = {};
    forwarded.on('response', (received, flags) => {
      const answer = () => {
        // The caller may have given up on it meanwhile.
        if (stream.closed) return;
        // A trailers-only answer (an error) ends with its headers, which carry the status.
        if (flags & constants.NGHTTP2_FLAG_END_STREAM) {
          stream.respond(received, { endStream: true });
          return;
        }
        stream.respond(received, { waitForTrailers: true });
        forwarded.pipe(stream);
      };
      if (heldMs === undefined) answer();
      else if (Number.isFinite(heldMs)) setTimeout(answer, heldMs);
    });
    forwarded.on('trailers', (received) => (trailers = received));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    forwarded.on('error', () => stream.close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    connectionsAccepted: () => accepted,
    refuseNext(count, grpcStatus) {
      for (let i = 0; i < count; i++) refusals.push(grpcStatus);
    },
    holdNext(...delaysMs) {
      holds.push(...delaysMs);
    },
    dropConnections() {
      for (const session of sessions) session.destroy();
    },
    goAway() {
      for (const session of sessions) session.goaway(constants.NGHTTP2_NO_ERROR);
    },
    async close() {
      for (const session of sessions) session.destroy();
      upstream.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function sentBy(headers: IncomingHttpHeaders): Pick<PublishRequest, 'authorization' | 'requestParams'> {
  const params = headers['x-goog-request-params'];
  return {
    ...(headers.authorization ? { authorization: headers.authorization } : {}),
    ...(typeof params === 'string' ? { requestParams: params } : {}),
  };
}

/**
 * How many messages one gRPC-framed PublishRequest carries: field 2 (`messages`) at the top
 * level; every top-level field of PublishRequest is length-delimited.
 */
function countPublishedMessages(frame: Buffer): number {
  if (frame[0] !== 0) throw new Error('a compressed gRPC message; the recorder reads plain ones');
  const message = frame.subarray(5, 5 + frame.readUInt32BE(1));
  let at = 0;
  const readVarint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[at++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  let messages = 0;
  while (at < message.length) {
    const tag = readVarint();
    if ((tag & 7) !== 2) throw new Error(`unexpected wire type in a PublishRequest (tag ${tag})`);
    const length = readVarint();
    at += length;
    if (tag >> 3 === 2) messages += 1;
  }
  return messages;
}

/** A TCP proxy in front of the emulator, which a test can cut, silence and restore; closed after the file. */
async function startEmulatorProxy(): Promise<TcpProxy> {
  const [host = '127.0.0.1', port = '0'] = emulatorHost.split(':');
  const proxy = await startTcpProxy({ host, port: Number(port) });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A host that accepts TCP connections and never sends a byte: a silenced proxy. */
async function startSilentHost(): Promise<TcpProxy> {
  const proxy = await startEmulatorProxy();
  proxy.silence();
  return proxy;
}

/** An admin client on a project of the emulator's, closed after the file. */
function emulatorAdmin(project: string): PubSub {
  const client = new PubSub({ projectId: project, apiEndpoint: `http://${emulatorHost}`, emulatorMode: true });
  cleanups.push(() => client.close());
  return client;
}

describe.each(['grpc', 'client'] as const)('over %s', (under) => {
  beforeAll(() => {
    transport = under;
    projectId = `google-publisher-${under}-${run}`;
    admin = emulatorAdmin(projectId);
  });

  describe('batching', () => {
    let recorder: PublishRecorder;
    beforeAll(async () => {
      recorder = await startPublishRecorder(emulatorHost);
      cleanups.push(() => recorder.close());
    });

    it('sends concurrent publishes as one request; each resolves with its own id, and the messages arrive intact', async () => {
      const subscription = await createTopicWithSubscription('batched');
      const received = pullMessages(subscription, 200);
      const publisher = openPublisher({ emulatorHost: recorder.host });
      const sent = Array.from({ length: 200 }, (_, i) => ({
        // Bytes that are not UTF-8 as well as JSON: the data goes as it is.
        data: Buffer.concat([Buffer.from(JSON.stringify({ seq: i })), randomBytes(8), Buffer.from([0xff, 0xfe, 0x00])]),
        attributes: { deviceId: `device-${i % 7}`, seq: String(i), note: 'température ✓' },
      }));
      const before = recorder.requests.length;

      const ids = await Promise.all(sent.map((m) => publisher.publish('batched', m.data, m.attributes)));

      expect(new Set(ids).size).toBe(200);
      expect(recorder.requests.slice(before).map((r) => r.messages)).toEqual([200]);
      const messages = await received;
      sent.forEach((m, i) => {
        const message = messages.get(ids[i] as string);
        expect(message?.data.equals(m.data), `message ${i}`).toBe(true);
        expect(message?.attributes).toEqual(m.attributes);
      });
    });

    it('splits a batch above 500 messages into requests of at most 500', async () => {
      await admin.createTopic('many');
      const publisher = openPublisher({ emulatorHost: recorder.host });
      const before = recorder.requests.length;

      const ids = await Promise.all(Array.from({ length: 1_200 }, (_, i) => publisher.publish('many', Buffer.from(String(i)), { seq: String(i) })));

      expect(new Set(ids).size).toBe(1_200);
      const counts = recorder.requests.slice(before).map((r) => r.messages);
      expect(counts.sort((a, b) => b - a)).toEqual([500, 500, 200]);
    });

    it('splits a batch above 4 MiB into requests that Pub/Sub takes (at most 10 MB each)', async () => {
      const subscription = await createTopicWithSubscription('large');
      const received = pullMessages(subscription, 10);
      const publisher = openPublisher({ emulatorHost: recorder.host });
      const sent = Array.from({ length: 10 }, () => randomBytes(1024 * 1024));
      const before = recorder.requests.length;

      const ids = await Promise.all(sent.map((data, i) => publisher.publish('large', data, { seq: String(i) })));

      const requests = recorder.requests.slice(before);
      expect(requests.map((r) => r.messages).sort((a, b) => b - a)).toEqual([4, 4, 2]);
      for (const request of requests) expect(request.bytes).toBeLessThan(10_000_000);
      const messages = await received;
      sent.forEach((data, i) => expect(messages.get(ids[i] as string)?.data.equals(data), `message ${i}`).toBe(true));
    });
  });

  describe('refusals, retries and a connection that goes away', () => {
    let recorder: PublishRecorder;
    beforeAll(async () => {
      recorder = await startPublishRecorder(emulatorHost);
      cleanups.push(() => recorder.close());
      await admin.createTopic('refusals');
    });

    it('retries a publish refused as UNAVAILABLE, which then resolves', async () => {
      const publisher = openPublisher({ emulatorHost: recorder.host });
      await publisher.publish('refusals', Buffer.from('warm-up'), {});
      const before = recorder.requests.length;
      recorder.refuseNext(2, 14);

      await expect(publisher.publish('refusals', Buffer.from('retried'), { attempt: 'three' })).resolves.toMatch(/\S/);
      expect(recorder.requests.length - before).toBe(3);
    });

    it('fails a publish refused as PERMISSION_DENIED with TransientError, without another attempt', async () => {
      const publisher = openPublisher({ emulatorHost: recorder.host });
      await publisher.publish('refusals', Buffer.from('warm-up'), {});
      const before = recorder.requests.length;
      recorder.refuseNext(1, 7);

      const outcome = await settle(publisher.publish('refusals', Buffer.from('refused'), {}));

      expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
      expect(recorder.requests.length - before).toBe(1);
    });

    it('fails a publish to a topic that does not exist with TransientError naming why', async () => {
      const publisher = openPublisher({ emulatorHost });

      const outcome = await settle(publisher.publish('no-such-topic', Buffer.from('lost?'), {}));

      expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
      expect('error' in outcome && String((outcome.error as Error).cause)).toMatch(/not found/i);
    });

    it('publishes on a new connection after the server ended the one it had', async () => {
      const publisher = openPublisher({ emulatorHost: recorder.host });
      await publisher.publish('refusals', Buffer.from('before'), {});
      const before = recorder.connectionsAccepted();

      recorder.dropConnections();

      await expect(publisher.publish('refusals', Buffer.from('after'), {})).resolves.toMatch(/\S/);
      expect(recorder.connectionsAccepted() - before).toBe(1);
    });
  });

  describe('a Pub/Sub refusing connections for a moment', () => {
    it('is ridden out within the publish deadline: the publish resolves once connections are taken again', async () => {
      await admin.createTopic('outage');
      const proxy = await startEmulatorProxy();
      const publisher = openPublisher({ emulatorHost: `127.0.0.1:${proxy.port}`, timeoutMs: 5_000 });
      await publisher.publish('outage', Buffer.from('before'), {});

      await proxy.cut();
      const publishing = settle(publisher.publish('outage', Buffer.from('during'), {}));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await proxy.restore();

      expect(await publishing).toEqual({ id: expect.stringMatching(/\S/) });
    });
  });

  describe('a host that accepts connections and never answers', () => {
    it('rejects every publish with TransientError', async () => {
      const silent = await startSilentHost();
      const publisher = openPublisher({ emulatorHost: `127.0.0.1:${silent.port}`, timeoutMs: 500 });

      const outcomes = await Promise.all([1, 2, 3].map((i) => settle(publisher.publish('telemetry', Buffer.from(String(i)), {}))));

      for (const outcome of outcomes) expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
      // The host was reached: the publisher did wait on it rather than fail to connect.
      expect(silent.openConnections).toBeGreaterThan(0);
    });

    it('rejects publishes waiting on a first connect that never completes, and connects afresh for a later publish', async () => {
      await admin.createTopic('reconnect');
      const proxy = await startEmulatorProxy();
      proxy.silence();
      const publisher = openPublisher({ emulatorHost: `127.0.0.1:${proxy.port}`, timeoutMs: 2_000 });

      const first = settle(publisher.publish('reconnect', Buffer.from('first'), {}));
      // The first connect is under way (its TCP connection is held): a second publish waits on it.
      await waitFor(() => proxy.openConnections > 0, { what: 'the publisher to reach the silent host' });
      const second = settle(publisher.publish('reconnect', Buffer.from('second'), {}));
      const outcomes = await Promise.all([first, second]);
      for (const outcome of outcomes) expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
      // The second was not bounded by its own publish deadline, later than the connect's: the connect has one of its own.
      expect('error' in outcomes[1] && String(outcomes[1].error)).toMatch(/connecting the publisher/);

      // The host answers again on new connections; the connection held so far stays silent.
      await proxy.restore();
      await expect(publisher.publish('reconnect', Buffer.from('later'), {})).resolves.toMatch(/\S/);
    });
  });

  describe('close', () => {
    it('sends the publishes still waiting for their batch window, which resolve', async () => {
      const subscription = await createTopicWithSubscription('closing');
      const received = pullMessages(subscription, 3);
      // A window far longer than the test: only close() can send the batch.
      const publisher = openPublisher({ emulatorHost, batchMaxMs: 600_000 });
      const pending = [1, 2, 3].map((i) => settle(publisher.publish('closing', Buffer.from(`closing-${i}`), {})));

      await publisher.close();

      const outcomes = await Promise.all(pending);
      const ids = outcomes.map((o) => ('id' in o ? o.id : o.error));
      expect(ids.every((id) => typeof id === 'string')).toBe(true);
      expect([...(await received).keys()].sort()).toEqual([...(ids as string[])].sort());
    });

    it('settles with the publishes pending at close rejected when the host never answers', async () => {
      const silent = await startSilentHost();
      const publisher = openPublisher({ emulatorHost: `127.0.0.1:${silent.port}`, timeoutMs: 500, batchMaxMs: 600_000 });
      const waiting = ['telemetry', 'telemetry', 'other'].map((topic, i) => settle(publisher.publish(topic, Buffer.from(String(i)), {})));

      await publisher.close();

      for (const outcome of await Promise.all(waiting)) expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
    });

    it('refuses a publish after close, whether it had connected or not', async () => {
      await admin.createTopic('after-close');
      const used = openPublisher({ emulatorHost });
      await used.publish('after-close', Buffer.from('before'), {});
      const unused = openPublisher({ emulatorHost });
      await Promise.all([used.close(), unused.close()]);

      for (const publisher of [used, unused]) {
        const outcome = await settle(publisher.publish('after-close', Buffer.from('after'), {}));
        expect('error' in outcome && outcome.error).toBeInstanceOf(TransientError);
        expect('error' in outcome && String(outcome.error)).toMatch(/closed/);
      }
    });
  });
});

describe('over grpc, a connection that goes silent after it worked', () => {
  beforeAll(() => {
    transport = 'grpc';
    projectId = `google-publisher-silent-${run}`;
    admin = emulatorAdmin(projectId);
  });

  it('is given up after one unanswered attempt, and the publish goes on a new connection within its deadline', async () => {
    await admin.createTopic('silenced');
    const proxy = await startEmulatorProxy();
    const publisher = openPublisher({ emulatorHost: `127.0.0.1:${proxy.port}`, timeoutMs: 8_000 });
    await publisher.publish('silenced', Buffer.from('before'), {});

    // The connection in use goes silent for good (a dropped NAT mapping); new ones work.
    proxy.silence();
    const publishing = publisher.publish('silenced', Buffer.from('after'), {});
    await proxy.restore();

    await expect(publishing).resolves.toMatch(/\S/);
  });
});

describe('one gRPC connection', () => {
  let recorder: PublishRecorder;
  const topic = `projects/google-publisher-conn-${run}/topics/calls`;
  beforeAll(async () => {
    await emulatorAdmin(`google-publisher-conn-${run}`).createTopic('calls');
    recorder = await startPublishRecorder(emulatorHost);
    cleanups.push(() => recorder.close());
  });

  const open = async (attemptTimeoutMs: number) => {
    const connection = await openGrpcConnection({ emulatorHost: recorder.host, connectDeadline: new Date(Date.now() + 5_000), attemptTimeoutMs });
    cleanups.push(() => connection.close());
    return connection;
  };
  const messages = (text: string) => [{ data: Buffer.from(text), attributes: { text } }];

  it('gives up a call that goes unanswered and takes no more, while the other call on it gets its answer', async () => {
    const connection = await open(5_000);
    // The first call is never answered; the second is, 1.5 s later.
    recorder.holdNext(Infinity, 1_500);

    const unanswered = settle(connection.publish(topic, messages('unanswered'), 200).then((ids) => ids.join()));
    const answered = connection.publish(topic, messages('answered'), 5_000);

    const outcome = await unanswered;
    expect('error' in outcome && outcome.error).toBeInstanceOf(DeadlineError);
    expect(connection.usable).toBe(false);
    await expect(answered).resolves.toEqual([expect.stringMatching(/\S/)]);
  });

  it('after GOAWAY takes no new call, lets the call on it finish, and closes', async () => {
    const connection = await open(5_000);
    recorder.holdNext(1_500);
    const before = recorder.requests.length;
    const finishing = connection.publish(topic, messages('finishing'), 5_000);
    await waitFor(() => recorder.requests.length > before, { what: 'the call to reach the server' });

    recorder.goAway();
    await waitFor(() => !connection.usable, { what: 'the connection to take no new calls' });

    // Closed while the call is still on it: the close waits for the call, and ends.
    const closing = connection.close();
    await expect(finishing).resolves.toEqual([expect.stringMatching(/\S/)]);
    await closing;
  });
});

describe('a gRPC connection over TLS with credentials, as to real Pub/Sub', () => {
  let recorder: PublishRecorder;
  let certificate: string;
  const topic = `projects/google-publisher-tls-${run}/topics/secure`;
  beforeAll(async () => {
    await emulatorAdmin(`google-publisher-tls-${run}`).createTopic('secure');
    const tls = selfSignedCertificate();
    certificate = tls.cert;
    recorder = await startPublishRecorder(emulatorHost, { tls });
    cleanups.push(() => recorder.close());
  });

  it("publishes over TLS with the credentials' headers and the topic as the routing parameter", async () => {
    const connection = await openGrpcConnection({
      server: { url: `https://${recorder.host}`, ca: certificate, credentials: async () => ({ authorization: 'Bearer token-of-the-test' }) },
      connectDeadline: new Date(Date.now() + 5_000),
      attemptTimeoutMs: 2_000,
    });
    cleanups.push(() => connection.close());
    const before = recorder.requests.length;

    const ids = await connection.publish(topic, [{ data: Buffer.from('secure'), attributes: { deviceId: 'd1' } }], 2_000);

    expect(ids).toEqual([expect.stringMatching(/\S/)]);
    expect(recorder.requests.slice(before)).toEqual([
      { messages: 1, bytes: expect.any(Number), authorization: 'Bearer token-of-the-test', requestParams: `topic=${encodeURIComponent(topic)}` },
    ]);
  });

  it('refuses a server whose certificate it cannot verify, without waiting out the deadline', async () => {
    const opening = openGrpcConnection({
      server: { url: `https://${recorder.host}`, credentials: async () => ({ authorization: 'Bearer never-sent' }) },
      connectDeadline: new Date(Date.now() + 60_000),
      attemptTimeoutMs: 2_000,
    });

    await expect(opening).rejects.toThrow(/certificate/i);
  });
});

/** A certificate for 127.0.0.1, made by openssl for this run. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'publisher-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
