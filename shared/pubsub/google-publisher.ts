/**
 * The publisher to Google Pub/Sub (real Pub/Sub, or the emulator when PUBSUB_EMULATOR_HOST is
 * set): messages are batched here, many to a `Publish` request, and each publish resolves with
 * its own message id only once Pub/Sub has acknowledged its batch. Nothing is connected until
 * the first batch goes.
 *
 * The request goes over one of two connections (PUBSUB_PUBLISHER):
 * - `grpc` (the default): the project's own gRPC call over `node:http2` (grpc-connection.ts),
 *   40 % less CPU a published message than the generated client (`npm run bench -- publisher`);
 * - `client`: @google-cloud/pubsub's generated `v1.PublisherClient`, with its own transport,
 *   auth and retries (its Topic batcher costs about 50 µs of CPU per message, as much as the
 *   rest of a bridge request, so it is not used). Measured by bench/bridge.ts (`bridge-emulator`).
 * A batch that Pub/Sub does not acknowledge within `timeoutMs` fails with TransientError, so
 * that a device hears 503 in seconds rather than after a client's default minute of retries;
 * within it, a failure worth retrying is retried with backoff, on a fresh connection when the
 * one it used went away. Connecting has the same deadline of its own; a connect that fails or
 * misses it is dropped, and the next batch connects afresh. After `close()` a publish is
 * refused at once.
 * @see ../../docs/architecture.md "Publishing"
 */
import type { v1 } from '@google-cloud/pubsub';
import { DeadlineError, withDeadline } from '../deadline.ts';
import { TransientError } from '../errors.ts';
import { openGrpcConnection } from './grpc-connection.ts';
import { PublishAttemptError, type PublishConnection } from './publish-connection.ts';
import type { OutgoingMessage } from './publish-wire.ts';
import type { Publisher } from './publisher.ts';

/** What carries the Publish requests: see the module's comment. */
export type PublishTransport = 'grpc' | 'client';

export interface PubsubPublisherOptions {
  projectId: string;
  /** Upper bound for one publish, retries and any connect it waits on included (default 5 s); also the connect's own deadline. */
  timeoutMs?: number;
  /**
   * How long a batch waits to fill (default 1 ms). A device waits for the ack, so the window is
   * pure latency for it; under load batches fill from concurrent requests anyway.
   */
  batchMaxMs?: number;
  /**
   * Publish requests outstanding at once (default 2). A batch whose window has passed waits
   * for one to come back, filling meanwhile: under load the batches grow instead of the
   * requests, and each request costs CPU on both sides whatever it carries.
   */
  maxInFlight?: number;
  /** `host:port` of an emulator; else PUBSUB_EMULATOR_HOST, as the client reads it. */
  emulatorHost?: string;
  /** Default `grpc`. */
  transport?: PublishTransport;
}

/** Pub/Sub's own limits are 1,000 messages and 10 MB per request; stay well inside both. */
const MAX_BATCH_MESSAGES = 500;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** gRPC codes the generated client retries within the deadline (its defaults for Publish, plus UNKNOWN). */
const RETRY_CODES = [10, 1, 4, 13, 8, 14, 2];
/** Backoff between attempts of one batch: 50 ms, doubling, at most 1 s. */
const FIRST_RETRY_DELAY_MS = 50;
const MAX_RETRY_DELAY_MS = 1_000;

interface Waiter {
  resolve(messageId: string): void;
  reject(error: Error): void;
}

interface Batch {
  topic: string;
  messages: OutgoingMessage[];
  waiters: Waiter[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  /** performance.now() when the first message came: the deadline counts from there. */
  openedAt: number;
  /** Its window has passed: it goes as soon as a request is free. */
  due: boolean;
}

/** A batching publisher; nothing is connected until the first batch goes. */
export function createPubsubPublisher(options: PubsubPublisherOptions): Publisher {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const batchMaxMs = options.batchMaxMs ?? 1;
  const maxInFlight = options.maxInFlight ?? 2;
  const rpcTimeoutMs = Math.min(2_000, timeoutMs);
  const transport = options.transport ?? 'grpc';
  let connection: Promise<PublishConnection> | undefined;
  let closing: Promise<void> | undefined;
  /** Set once the close has sent everything: no connection may be opened after it. */
  let closed = false;
  const open = new Map<string, Batch>();
  const inFlight = new Set<Promise<void>>();

  /** The connection it opened last, once open: when it is no longer usable the next batch opens another. */
  let opened: PublishConnection | undefined;

  /** The one connection, opened by the first batch and shared by the ones that follow until it goes away. */
  function connect(): Promise<PublishConnection> {
    if (closed) return Promise.reject(new TransientError('the Pub/Sub publisher is closed'));
    if (opened && !opened.usable) {
      void opened.close().catch(() => undefined);
      opened = undefined;
      connection = undefined;
    }
    connection ??= connectWithinDeadline();
    return connection;
  }

  /**
   * Opens a connection, failing with DeadlineError after `rpcTimeoutMs` (as long as one call may
   * take). A failed attempt is forgotten so that the next batch tries again rather than waiting
   * on it for the life of the process; one that completes after its deadline is closed, not leaked.
   */
  function connectWithinDeadline(): Promise<PublishConnection> {
    const connectDeadline = new Date(Date.now() + rpcTimeoutMs + CHANNEL_WAIT_GRACE_MS);
    const opening =
      transport === 'grpc'
        ? openGrpcConnection({ emulatorHost: options.emulatorHost, connectDeadline, attemptTimeoutMs: rpcTimeoutMs })
        : openClientConnection(options, connectDeadline, rpcTimeoutMs);
    const attempt: Promise<PublishConnection> = withDeadline(opening, rpcTimeoutMs, 'Pub/Sub', 'connecting the publisher').then(
      (ready) => {
        if (connection === attempt) opened = ready;
        return ready;
      },
      (error: unknown) => {
        if (connection === attempt) connection = undefined;
        void opening.then((late) => late.close()).catch(() => undefined);
        throw error;
      },
    );
    return attempt;
  }

  /**
   * Sends what is still waiting, lets every request settle (each has its deadline), then closes
   * the connection: at most the publish deadline, then a call's (the connection's graceful close).
   */
  async function closeOnce(): Promise<void> {
    for (const batch of [...open.values()]) send(batch);
    await Promise.allSettled([...inFlight]);
    closed = true;
    const pending = connection;
    const ready = opened;
    connection = undefined;
    opened = undefined;
    if (ready) await ready.close();
    // A connect still under way is closed when it completes, within its own deadline; the close does not wait on it.
    else void pending?.then((late) => late.close()).catch(() => undefined);
  }

  const topicPath = (name: string) => (name.includes('/') ? name : `projects/${options.projectId}/topics/${name}`);

  /** Sends the batch now if a request is free or it is full; else it goes when one comes back. */
  function release(batch: Batch): void {
    batch.due = true;
    if (inFlight.size < maxInFlight || isFull(batch)) send(batch);
  }

  function send(batch: Batch): void {
    if (open.get(batch.topic) === batch) open.delete(batch.topic);
    clearTimeout(batch.timer);
    const sent = publishBatch(batch).finally(() => {
      inFlight.delete(sent);
      for (const waiting of open.values()) {
        if (inFlight.size >= maxInFlight) break;
        if (waiting.due) send(waiting);
      }
    });
    inFlight.add(sent);
  }

  async function publishBatch(batch: Batch): Promise<void> {
    const deadlineAt = batch.openedAt + timeoutMs;
    const remainingMs = () => Math.floor(deadlineAt - performance.now());
    let timer: NodeJS.Timeout | undefined;
    // The bound of the whole publish, the connect it may wait on included.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError('Pub/Sub', timeoutMs, 'publish')), Math.max(0, remainingMs()));
    });
    /** Waits before the next attempt, or throws `error` when it is not worth one or no time is left for it. */
    const backOff = async (error: unknown, attempt: number, retryable: boolean) => {
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** attempt);
      if (!retryable || remainingMs() <= delayMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    };
    const rpc = async () => {
      for (let attempt = 0; ; attempt++) {
        // A timer may fire late on a busy loop: the deadline is checked again after every wait.
        if (remainingMs() <= 0) throw new DeadlineError('Pub/Sub', timeoutMs, 'publish');
        let ready: PublishConnection;
        try {
          ready = await connect();
        } catch (error) {
          // Refused or reset is worth another try; a host that said nothing within the connect's deadline is not.
          await backOff(error, attempt, error instanceof PublishAttemptError && error.retryable);
          continue;
        }
        // What is left once connected is all this attempt (and the generated client's own retries) may take.
        const leftMs = remainingMs();
        if (leftMs <= 0) throw new DeadlineError('Pub/Sub', timeoutMs, 'publish');
        try {
          return await ready.publish(batch.topic, batch.messages, leftMs);
        } catch (error) {
          await backOff(error, attempt, isRetryable(error));
        }
      }
    };
    try {
      if (remainingMs() <= 0) throw new TransientError(`Pub/Sub did not take the message within ${timeoutMs} ms`);
      const ids = await Promise.race([rpc(), deadline]);
      if (ids.length !== batch.waiters.length) throw new TransientError(`Pub/Sub acknowledged ${ids.length} of ${batch.waiters.length} messages`);
      batch.waiters.forEach((waiter, i) => waiter.resolve(ids[i] as string));
    } catch (error) {
      const failure = error instanceof TransientError ? error : new TransientError('Pub/Sub publish failed', { cause: error });
      for (const waiter of batch.waiters) waiter.reject(failure);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    publish(topicName, data, attributes) {
      // Nothing would send it, and a connection opened now would never be closed.
      if (closing) return Promise.reject(new TransientError('the Pub/Sub publisher is closed'));
      return new Promise<string>((resolve, reject) => {
        const topic = topicPath(topicName);
        let batch = open.get(topic);
        if (!batch) {
          batch = { topic, messages: [], waiters: [], bytes: 0, timer: undefined, openedAt: performance.now(), due: false };
          const opened = batch;
          batch.timer = setTimeout(() => release(opened), batchMaxMs);
          open.set(topic, batch);
        }
        batch.messages.push({ data, attributes });
        batch.waiters.push({ resolve, reject });
        batch.bytes += data.length + attributesSize(attributes);
        if (isFull(batch)) send(batch);
      });
    },
    close() {
      closing ??= closeOnce();
      return closing;
    },
  };
}

/**
 * How much longer than the connect's deadline the channel itself is waited for: the caller sees
 * the connect's DeadlineError (a timeout, as /healthz counts them), and the wait then ends.
 */
const CHANNEL_WAIT_GRACE_MS = 1_000;

const isFull = (batch: Batch) => batch.messages.length >= MAX_BATCH_MESSAGES || batch.bytes >= MAX_BATCH_BYTES;

/** An attempt that failed in a way another attempt may not: a refusal, or the generated client's own retries spent. */
function isRetryable(error: unknown): boolean {
  return error instanceof DeadlineError || (error instanceof PublishAttemptError && error.retryable);
}

/**
 * @google-cloud/pubsub's generated client, with its credentials and a ready channel by
 * `channelDeadline`: the client itself would only connect within the first request, whose
 * deadline starts once credentials are in. The client computes the project's settings
 * (endpoint, emulator, credentials) once. Its own retries run within each call's time, so the
 * batch never retries on top of them.
 */
async function openClientConnection(options: PubsubPublisherOptions, channelDeadline: Date, rpcTimeoutMs: number): Promise<PublishConnection> {
  const callOptions = (remainingMs: number) => ({
    timeout: remainingMs,
    // The generated client would otherwise bundle again, with its own 10 ms window.
    isBundling: false,
    retry: {
      retryCodes: RETRY_CODES,
      backoffSettings: {
        initialRetryDelayMillis: 50,
        retryDelayMultiplier: 2,
        maxRetryDelayMillis: 1_000,
        initialRpcTimeoutMillis: Math.min(rpcTimeoutMs, remainingMs),
        rpcTimeoutMultiplier: 1,
        maxRpcTimeoutMillis: Math.min(rpcTimeoutMs, remainingMs),
        totalTimeoutMillis: remainingMs,
      },
    },
  });
  const { PubSub, v1 } = await import('@google-cloud/pubsub');
  const pubsub = new PubSub({
    projectId: options.projectId,
    ...(options.emulatorHost ? { apiEndpoint: `http://${options.emulatorHost}`, emulatorMode: true } : {}),
  });
  // As the client builds its own: `new v1.PublisherClient(await pubsub.getClientConfig())`; the
  // port may come back as the string an endpoint was parsed from.
  const { port, ...config } = await pubsub.getClientConfig();
  const publisher: v1.PublisherClient = new v1.PublisherClient({
    ...config,
    ...(port === undefined ? {} : { port: Number(port) }),
    // A connection opened afresh gets a TCP connection of its own: from grpc-js's process-wide
    // pool it would share the one of the attempt it replaces, which may be stuck on a silent host.
    'grpc.use_local_subchannel_pool': 1,
  });
  const connection: PublishConnection = {
    usable: true,
    async publish(topic, messages, timeoutMs) {
      const [response] = await publisher.publish({ topic, messages }, callOptions(timeoutMs));
      return response.messageIds ?? [];
    },
    async close() {
      await publisher.close();
      await pubsub.close();
    },
  };
  try {
    await waitForChannel(await publisher.initialize(), channelDeadline);
    return connection;
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
}

/** The signature of grpc-js `Client.waitForReady`, which the generated client's stub is. */
type WaitForReady = (deadline: Date, callback: (error?: Error) => void) => void;

/** Resolves once the stub's channel is ready; a stub without a channel (the REST fallback) is ready as it is. */
function waitForChannel(stub: object, deadline: Date): Promise<void> {
  const waitForReady = (stub as { waitForReady?: WaitForReady }).waitForReady;
  if (typeof waitForReady !== 'function') return Promise.resolve();
  return new Promise((resolve, reject) => waitForReady.call(stub, deadline, (error) => (error ? reject(error) : resolve())));
}

/** The attributes' size in UTF-16 units: it bounds the batch, it is not the exact wire size. */
function attributesSize(attributes: Record<string, string>): number {
  let size = 0;
  for (const key in attributes) size += key.length + (attributes[key] as string).length;
  return size;
}
