/**
 * One HTTP/2 connection to Pub/Sub carrying its gRPC `Publish` call, written here over
 * `node:http2` rather than through grpc-js: the generated client's call layers, channel and
 * protobuf objects cost the bridge 17–18 µs of CPU a request where its own work costs 25, and
 * this call 40 % less a message than they do (docs/performance.md). What a publish needs of gRPC
 * is small: one unary method, its frame, its status in the trailers, its deadline header.
 *
 * Real Pub/Sub is `https://pubsub.googleapis.com` with an OAuth token from the environment's
 * credentials (google-auth-library's Application Default Credentials, refreshed by the
 * library, once per process); the emulator is cleartext HTTP/2 without credentials. A
 * connection takes new calls until its server sends GOAWAY, it closes or errs, a call on it goes
 * unanswered past its deadline, or it idles a minute (so that a connection the network dropped
 * meanwhile is never the one a device waits on). Retired, it is closed gracefully: the calls
 * still on it finish or meet their own deadlines, and only then is it destroyed.
 * @see https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 * @see https://cloud.google.com/pubsub/docs/reference/service_apis_overview#service_endpoints
 * @see ../../docs/architecture.md "Publishing"
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { DeadlineError, withDeadline } from '../deadline.ts';
import { PublishAttemptError, type PublishConnection } from './publish-connection.ts';
import { decodePublishResponse, encodePublishRequest } from './publish-wire.ts';

export const PUBSUB_ENDPOINT = 'https://pubsub.googleapis.com';
const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';
const PUBLISH_PATH = '/google.pubsub.v1.Publisher/Publish';
/** A PublishResponse for 1,000 messages is ~20 KB; anything near this is not one. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const IDLE_CLOSE_MS = 60_000;
/**
 * How long past its `grpc-timeout` a call waits for the server's own answer (DEADLINE_EXCEEDED
 * from a server that is alive) before it counts the connection as silent.
 */
const ANSWER_GRACE_MS = 250;
const NO_HEADERS: Record<string, string> = {};

/** gRPC status codes by name, as the trailers carry them. */
const status = {
  OK: 0,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The headers that authenticate a call, current at each call. */
export type RequestHeaders = () => Promise<Record<string, string>>;

export interface GrpcConnectionOptions {
  /** `host:port` of an emulator: cleartext, no credentials. Else real Pub/Sub. */
  emulatorHost?: string;
  /**
   * A server standing in for real Pub/Sub over TLS (tests): its `https://` URL, the CA that
   * signed its certificate, the headers that authenticate to it.
   */
  server?: { url: string; ca?: string | Buffer; credentials: RequestHeaders };
  /** The connection must be up (the server's HTTP/2 settings received) by then, or it is destroyed. */
  connectDeadline: Date;
  /** Upper bound for one attempt of a call (the batch's deadline may cut it shorter). */
  attemptTimeoutMs: number;
}

/** Opens the connection, and the credentials that go with it; resolves once the server has spoken HTTP/2. */
export async function openGrpcConnection(options: GrpcConnectionOptions): Promise<PublishConnection> {
  const { emulatorHost, server } = options;
  const authority = emulatorHost ? `http://${emulatorHost}` : (server?.url ?? PUBSUB_ENDPOINT);
  // The emulator takes calls without credentials: none are asked for, and no deadline is set for them.
  const credentials = emulatorHost ? undefined : (server?.credentials ?? (await googleCredentials()));
  // A graceful close lets the calls on it run to their deadlines, and no longer.
  const closeGraceMs = options.attemptTimeoutMs + ANSWER_GRACE_MS;
  const session = connect(authority, { settings: { enablePush: false }, ...(server?.ca ? { ca: server.ca } : {}) });
  let usable = true;
  const retire = () => (usable = false);
  session.on('goaway', retire);
  session.on('close', retire);
  // Errors reach the streams on it as well; here they only end its use.
  session.on('error', retire);
  session.setTimeout(IDLE_CLOSE_MS, () => {
    retire();
    session.close();
  });
  // TCP keepalive under the idle close: a peer gone without a word is found even between calls.
  session.once('connect', (_session: ClientHttp2Session, socket: { setKeepAlive(enable: boolean, delayMs: number): unknown }) =>
    socket.setKeepAlive(true, 30_000),
  );
  await untilSettled(session, options.connectDeadline);

  return {
    get usable() {
      return usable && !session.closed && !session.destroyed;
    },
    async publish(topic, messages, timeoutMs) {
      const attemptMs = Math.max(1, Math.min(options.attemptTimeoutMs, timeoutMs));
      const startedAt = performance.now();
      const headers = credentials ? await withDeadline(credentials(), attemptMs, 'Pub/Sub', 'getting credentials') : NO_HEADERS;
      const leftMs = Math.max(1, Math.floor(attemptMs - (performance.now() - startedAt)));
      try {
        return await call(session, topic, encodePublishRequest(topic, messages), headers, leftMs);
      } catch (error) {
        // No answer, not even the server's own DEADLINE_EXCEEDED: the next attempt goes on a
        // connection of its own. The other call on this one keeps its chance (it may be answered).
        if (error instanceof DeadlineError) retire();
        throw error;
      }
    },
    async close() {
      retire();
      if (session.destroyed) return;
      await new Promise<void>((resolve) => {
        const destroyLater = setTimeout(() => session.destroy(), closeGraceMs);
        session.once('close', () => {
          clearTimeout(destroyLater);
          resolve();
        });
        // After a GOAWAY the session is closing already, and close() would not call back.
        if (!session.closed) session.close();
      });
    },
  };
}

let processCredentials: Promise<RequestHeaders> | undefined;

/**
 * Application Default Credentials, loaded once per process so that a new connection keeps the
 * token in hand; each call gives the current headers (the library refreshes the token).
 */
function googleCredentials(): Promise<RequestHeaders> {
  processCredentials ??= import('google-auth-library').then(({ GoogleAuth }) => {
    const auth = new GoogleAuth({ scopes: [PUBSUB_SCOPE] });
    return async () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of await auth.getRequestHeaders()) headers[name] = value;
      return headers;
    };
  });
  return processCredentials;
}

/** Resolves once the server's HTTP/2 settings arrived; destroys the session if that fails or misses the deadline. */
function untilSettled(session: ClientHttp2Session, deadline: Date): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(error);
    };
    const waitMs = Math.max(0, deadline.getTime() - Date.now());
    const timer = setTimeout(() => fail(new DeadlineError('Pub/Sub', waitMs, 'connecting the publisher')), waitMs);
    // Refused, reset or closed: UNAVAILABLE, worth another attempt within the publish's deadline.
    const failed = (error: Error) => fail(new PublishAttemptError(`could not connect to Pub/Sub: ${error.message}`, status.UNAVAILABLE, { cause: error }));
    const closed = () => fail(new PublishAttemptError('Pub/Sub closed the connection before it was up', status.UNAVAILABLE));
    session.once('remoteSettings', () => {
      clearTimeout(timer);
      session.off('error', failed);
      session.off('close', closed);
      resolve();
    });
    session.once('error', failed);
    session.once('close', closed);
  });
}

/** One unary call: the request frame out, the response frame and the status back, within `timeoutMs`. */
function call(session: ClientHttp2Session, topic: string, body: Buffer, credentials: Record<string, string>, timeoutMs: number): Promise<string[]> {
  const headers: OutgoingHttpHeaders = {
    ...credentials,
    ':method': 'POST',
    ':path': PUBLISH_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${timeoutMs}m`,
    // Routes the call to the topic's region, as Google's generated clients do.
    'x-goog-request-params': `topic=${encodeURIComponent(topic)}`,
  };
  return new Promise<string[]>((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (error) {
      // The session went away between the check and the request.
      reject(new PublishAttemptError('Pub/Sub connection closed', status.UNAVAILABLE, { cause: error }));
      return;
    }
    let settled = false;
    const settle = (error: Error | undefined, ids?: string[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(ids as string[]);
    };
    const timer = setTimeout(() => {
      stream.close(constants.NGHTTP2_CANCEL);
      settle(new DeadlineError('Pub/Sub', timeoutMs, 'publish'));
    }, timeoutMs + ANSWER_GRACE_MS);
    const chunks: Buffer[] = [];
    let received = 0;
    let response: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (answer) => (response = answer));
    stream.on('trailers', (answer) => (trailers = answer));
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_RESPONSE_BYTES) {
        stream.close(constants.NGHTTP2_CANCEL);
        settle(new PublishAttemptError(`Pub/Sub answered with more than ${MAX_RESPONSE_BYTES} bytes`, status.INTERNAL));
      } else chunks.push(chunk);
    });
    // Errors come again as the close that follows, with the stream's reset code.
    stream.on('error', () => undefined);
    stream.on('close', () => {
      const outcome = callOutcome(response, trailers, stream.rstCode);
      if (outcome) return settle(outcome);
      try {
        settle(undefined, decodePublishResponse(Buffer.concat(chunks, received)));
      } catch (error) {
        settle(new PublishAttemptError('Pub/Sub answered with a PublishResponse that does not parse', status.INTERNAL, { cause: error }));
      }
    });
    stream.end(body);
  });
}

/** The call's failure, if it failed: its gRPC status (trailers, or a trailers-only answer), else its HTTP status or reset. */
function callOutcome(response: IncomingHttpHeaders, trailers: IncomingHttpHeaders, rstCode: number | undefined): PublishAttemptError | undefined {
  const code = trailers['grpc-status'] ?? response['grpc-status'];
  if (code !== undefined) {
    const grpcStatus = Number(code);
    if (grpcStatus === status.OK) return undefined;
    const message = trailers['grpc-message'] ?? response['grpc-message'];
    return new PublishAttemptError(`Pub/Sub refused the publish: status ${grpcStatus}${message ? `, ${percentDecode(String(message))}` : ''}`, grpcStatus);
  }
  const httpStatus = Number(response[':status'] ?? 200);
  if (httpStatus !== 200) return new PublishAttemptError(`Pub/Sub answered HTTP ${httpStatus} without a gRPC status`, statusOfHttp(httpStatus));
  // A stream that ended with neither: reset (REFUSED_STREAM on a connection going away, say) or cut.
  return new PublishAttemptError(`the Pub/Sub call ended without a status (HTTP/2 code ${rstCode ?? 'none'})`, status.UNAVAILABLE);
}

/** The gRPC status a plain HTTP answer stands for. @see https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md */
function statusOfHttp(httpStatus: number): number {
  if (httpStatus === 400) return status.INTERNAL;
  if (httpStatus === 401) return status.UNAUTHENTICATED;
  if (httpStatus === 403) return status.PERMISSION_DENIED;
  if (httpStatus === 404) return status.UNIMPLEMENTED;
  if (httpStatus === 429 || httpStatus === 502 || httpStatus === 503 || httpStatus === 504) return status.UNAVAILABLE;
  return status.UNKNOWN;
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
