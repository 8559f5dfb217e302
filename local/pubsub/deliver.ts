/**
 * One push delivery as Pub/Sub makes it: a wrapped push body POSTed to the endpoint, acked
 * only by 102, 200, 201, 202 or 204; anything else (or no answer) is a nack.
 * @see https://cloud.google.com/pubsub/docs/push#receive_push
 */
import { Agent, request } from 'node:http';
import { exponentialDelayMs, jittered } from '../../shared/backoff.ts';
import type { InProcessRequest, WireResponse } from '../../shared/runtime/http.ts';
import type { StoredMessage } from './journal.ts';

const ACK_STATUSES = new Set([102, 200, 201, 202, 204]);

export const isAckStatus = (status: number): boolean => ACK_STATUSES.has(status);

/** The wrapped push body, with both the JSON and the protobuf field spellings, as Pub/Sub sends. */
export function buildPushBody(message: StoredMessage, subscriptionPath: string, deliveryAttempt: number): string {
  return JSON.stringify({
    message: {
      data: message.data,
      attributes: message.attributes,
      messageId: message.id,
      message_id: message.id,
      publishTime: message.publishTime,
      publish_time: message.publishTime,
    },
    subscription: subscriptionPath,
    deliveryAttempt,
  });
}

export interface PushOutcome {
  acked: boolean;
  /** HTTP status, or the network error's text. */
  result: number | string;
}

/**
 * Keep-alive connections shared by every push: a connection per in-flight push at most.
 * node:http rather than fetch, which costs several times more CPU per request here, and the
 * pushes share one core with the four functions.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 });

/** Endpoints parsed once: a URL parse per push costs as much as writing its headers. */
const targets = new Map<string, { host: string; port: number; path: string }>();

/** Throws, naming the endpoint, unless the HTTP push can reach it (an http URL). */
export function checkPushEndpoint(endpoint: string): void {
  targetOf(endpoint);
}

function targetOf(endpoint: string): { host: string; port: number; path: string } {
  let target = targets.get(endpoint);
  if (!target) {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:') throw new Error(`push endpoint ${endpoint}: the local Pub/Sub pushes over http only`);
    target = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 80), path: `${url.pathname}${url.search}` };
    targets.set(endpoint, target);
  }
  return target;
}

/**
 * POSTs one delivery; any answer other than an ack status, or none in time, is a nack. The
 * deadline covers the whole push, to the answer's last byte: the socket's idle timeout alone
 * would let an endpoint that keeps sending hold the delivery, and the broker's close, for ever.
 */
export function pushMessage(endpoint: string, body: string, timeoutMs: number): Promise<PushOutcome> {
  let target: ReturnType<typeof targetOf>;
  try {
    target = targetOf(endpoint);
  } catch (error) {
    // Refused when the subscription is set (checkPushEndpoint); a nack here, never a rejection
    // that nothing in the delivery loop would catch.
    return Promise.resolve({ acked: false, result: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
  const { host, port, path } = target;
  return new Promise((resolve) => {
    let settled = false;
    // Every settle comes from an event or the timer, so after `deadline` is set below.
    const settle = (outcome: PushOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(outcome);
    };
    const failed = (error: Error) => settle({ acked: false, result: `${error.name}: ${error.message}` });
    const req = request(
      {
        host,
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'local-pubsub' },
      },
      (res) => {
        res.resume();
        res.once('end', () => {
          settle({ acked: isAckStatus(res.statusCode ?? 0), result: res.statusCode ?? 0 });
          // An endpoint that answered without reading the whole body would keep the socket for ever.
          if (!req.writableFinished) req.destroy();
        });
        res.on('error', failed);
      },
    );
    const deadline = setTimeout(() => {
      failed(new Error(`no whole answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    // `on`: a second error must find a listener rather than crash the process.
    req.on('error', failed);
    req.end(body);
  });
}

/**
 * A push endpoint's handler in this process (the stack's own ingest and deadletter): it answers
 * as over HTTP, with its admission, body limit, error mapping and access log, without a socket.
 */
export type LocalReceiver = (req: InProcessRequest) => Promise<Pick<WireResponse, 'status'>>;

/** The headers the HTTP push carries, which the receiver reads as it would there. */
function pushHeaders(body: Buffer): InProcessRequest['headers'] {
  return { 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': 'local-pubsub' };
}

/**
 * Hands one delivery to a receiver in this process, with the HTTP push's deadline and ack rule:
 * no answer within `timeoutMs` is a nack (the handler goes on, as a server does when the pusher
 * hangs up), and so is a handler that throws, which the receivers never do (they map errors).
 * In the stack this replaces a loopback HTTP request, which cost the one event loop about a
 * fifth of its time under load (docs/performance.md, the whole stack).
 */
export function handOver(receiver: LocalReceiver, endpoint: string, body: string, timeoutMs: number): Promise<PushOutcome> {
  const bytes = Buffer.from(body);
  // The request line's path and query; a receiver needs no transport, so any scheme will do.
  let path = '/';
  try {
    path = targetOf(endpoint).path;
  } catch {
    const url = URL.parse(endpoint);
    if (url) path = `${url.pathname}${url.search}`;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<PushOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ acked: false, result: `Error: no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  // On a later turn of the event loop, as a push over HTTP arrives: the pushes a group commit
  // releases at once do not run back to back ahead of the devices' requests, and a receiver
  // that throws at once is a nack too, never an exception in the broker's delivery loop.
  const answered = new Promise<InProcessRequest>((resolve) => setImmediate(resolve, { method: 'POST', path, headers: pushHeaders(bytes), body: bytes }))
    .then(receiver)
    .then(
      ({ status }) => ({ acked: isAckStatus(status), result: status }),
      (error: unknown) => ({ acked: false, result: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
  return Promise.race([answered, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Exponential backoff between attempts, jittered ±25 % so that a burst of failures does not
 * come back as one burst: min .. max, doubling per attempt.
 * @see https://cloud.google.com/pubsub/docs/handling-failures#exponential_backoff
 */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  return Math.round(jittered(exponentialDelayMs(attempt - 1, minMs, maxMs), 0.75, 1.25));
}

/**
 * The shortest time `maxDeliveryAttempts` attempts can span with this backoff (every wait at
 * the low end of its jitter): how long a store may be down before a message is dead-lettered.
 */
export function minRetryWindowMs(minMs: number, maxMs: number, maxDeliveryAttempts: number): number {
  let total = 0;
  for (let attempt = 1; attempt < maxDeliveryAttempts; attempt++) total += 0.75 * exponentialDelayMs(attempt - 1, minMs, maxMs);
  return total;
}
