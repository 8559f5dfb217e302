/**
 * The one request layer over node:http, for every function and the stack's internal API:
 * admit the caller, read the body under a limit, call the handler, map errors in one place,
 * write JSON, log one line per request with its latency and trace.
 */
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { errorResponse, HttpError } from '../errors.ts';
import type { LogFields, Logger } from '../log.ts';
import { traceFields } from '../log.ts';
import type { BodyOptions } from './body.ts';
import { readBody, tooLarge } from './body.ts';
import { logFailure, logRequest } from './access-log.ts';

export interface WireRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Epoch ms when the request arrived. */
  receivedAt: number;
  log: Logger;
}

export interface WireResponse {
  status: number;
  body?: unknown;
  /** Bytes sent as they are (pages, scripts), instead of `body` as JSON; set content-type in `headers`. */
  raw?: Buffer;
  headers?: Record<string, string>;
  /** Extra fields for this request's log line (never secrets). */
  log?: LogFields;
}

/** A function's handler; `admitted` is what the listener's admission returned for this request. */
export type WireHandler<A = void> = (req: WireRequest, admitted: A) => Promise<WireResponse>;

/** What is known of a request before its body is read. */
export interface RequestHead extends Pick<WireRequest, 'method' | 'path' | 'headers'> {
  /** The body's size when known before it is read (a valid `Content-Length`, or a body handed over in process). */
  bodyBytes: number | undefined;
}

export interface ListenerOptions<A = void> {
  logger: Logger;
  projectId: string;
  /** The body limit, or the one for what admission found (a route may take larger bodies than another). */
  body: BodyOptions | ((admitted: A) => BodyOptions);
  /** Log successful requests at DEBUG instead of INFO (high-rate Pub/Sub pushes). */
  quietSuccess?: boolean;
  /**
   * Checks the caller before the body is read (throw to refuse), so that only an admitted
   * caller can make the function read a body up to its limit; what it returns (the device it
   * authenticated, say) is handed to the handler.
   */
  admit?: (head: RequestHead) => A | Promise<A>;
  /** Called once the request is answered, with what `admit` returned: gives back what admission took. */
  release?: (admitted: A) => void;
  /** Answers some errors (body limits, encodings, …) in another shape than `errorResponse`'s. */
  mapError?: (error: unknown, path: string) => WireResponse | undefined;
}

/** A refused request's body up to this size is read and dropped, keeping the connection. */
const DRAINED_REST_BYTES = 64 * 1024;

/**
 * Whether Node can drop the unread rest of a request's body itself: none at all (neither a
 * length nor chunks: a bodiless OPTIONS or DELETE), or a declared length up to DRAINED_REST_BYTES.
 */
function restIsSmall(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length === undefined) return req.headers['transfer-encoding'] === undefined;
  return Number(length) <= DRAINED_REST_BYTES;
}

/** The request listener running `handler` behind admission, the body limit, the error mapping and the access log. */
export function createListener<A = void>(handler: WireHandler<A>, options: ListenerOptions<A>): RequestListener {
  return (req, res) => {
    void handleRequest(handler, options, req, res);
  };
}

async function handleRequest<A>(handler: WireHandler<A>, options: ListenerOptions<A>, req: IncomingMessage, res: ServerResponse) {
  const started = performance.now();
  const target = splitTarget(req.url ?? '/');
  const { path } = target;
  // Built on first use: most requests at a quiet log level never need their own logger.
  let log: Logger | undefined;
  const requestLog = () => (log ??= options.logger.child(traceFields(req.headers, options.projectId)));
  let response: WireResponse;
  // What admission returned, to give back once answered (locals: nothing allocated per request).
  let admitted: A | undefined;
  let wasAdmitted = false;
  try {
    admitted = (await options.admit?.({ method: req.method ?? 'GET', path, headers: req.headers, bodyBytes: declaredBytes(req) })) as A;
    wasAdmitted = true;
    const body = await readBody(req, bodyOptions(options, admitted));
    response = await handler(new ArrivedRequest(req.method ?? 'GET', target, req.headers, body, requestLog), admitted);
  } catch (error) {
    response = failureResponse(error, options, path, requestLog);
  }
  if (wasAdmitted) options.release?.(admitted as A);
  // Answered before the whole body came (refused unread: its size, its encoding, its caller).
  // Node reads and drops the rest before the next request; a small rest, declared, is left to
  // it. Else the connection closes: a client that declared a gigabyte would be read on for a
  // minute, then answered a second time (a 408 after the 413).
  if (!req.complete && !restIsSmall(req)) res.setHeader('connection', 'close');
  try {
    send(res, response);
  } catch (error) {
    // The handler's answer cannot be written (a body JSON cannot hold, a header value Node
    // refuses): nothing went out yet, so the caller still hears why rather than a hung socket.
    // Node may have set the answer's valid headers before refusing one (it does once a header is
    // already set, as the drain's `connection`): they must not ride on the 500 (a cacheable error).
    for (const name of res.getHeaderNames()) if (name !== 'connection') res.removeHeader(name);
    response = failureResponse(error, options, path, requestLog);
    try {
      send(res, response);
    } catch {
      res.destroy();
    }
  }
  logRequest(options.logger, requestLog, { method: req.method, path, status: response.status, startedAt: started, fields: response.log }, options);
}

/** A request handed to a function in process, without a socket: what a local caller sends. */
export interface InProcessRequest {
  method: string;
  /** The path, with its query string if any, as in a request line. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type InProcessHandler = (req: InProcessRequest) => Promise<WireResponse>;

/**
 * `handler` behind the same admission, body limit, error mapping and access log as
 * `createListener`'s, for a caller in the same process (the local Pub/Sub pushing to the stack's
 * own ingest): what it skips is only the socket and the HTTP parsing. The body arrives whole,
 * so it must come unencoded (else 415, as the listener answers an encoding it does not take) and
 * only its size is checked; an answer the listener could not write is a 500 here too.
 */
export function createInProcessHandler<A = void>(handler: WireHandler<A>, options: ListenerOptions<A>): InProcessHandler {
  return async (req) => {
    const started = performance.now();
    const target = splitTarget(req.path);
    const { path } = target;
    let log: Logger | undefined;
    const requestLog = () => (log ??= options.logger.child(traceFields(req.headers, options.projectId)));
    let response: WireResponse;
    let admitted: A | undefined;
    let wasAdmitted = false;
    try {
      admitted = (await options.admit?.({ method: req.method, path, headers: req.headers, bodyBytes: req.body.length })) as A;
      wasAdmitted = true;
      const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      if (encoding !== 'identity') throw new HttpError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported in process`);
      const { limitBytes } = bodyOptions(options, admitted);
      if (req.body.length > limitBytes) throw tooLarge(limitBytes);
      response = await handler(new ArrivedRequest(req.method, target, req.headers, req.body, requestLog), admitted);
      // As `send` would fail on it over HTTP.
      if (response.raw === undefined && response.body !== undefined) JSON.stringify(response.body);
    } catch (error) {
      response = failureResponse(error, options, path, requestLog);
    }
    if (wasAdmitted) options.release?.(admitted as A);
    logRequest(options.logger, requestLog, { method: req.method, path, status: response.status, startedAt: started, fields: response.log }, options);
    return response;
  };
}

/** `Content-Length`, which Node has already checked is a decimal count; undefined for a chunked body. */
function declaredBytes(req: IncomingMessage): number | undefined {
  const length = req.headers['content-length'];
  return length === undefined ? undefined : Number(length);
}

const bodyOptions = <A>(options: ListenerOptions<A>, admitted: A): BodyOptions => (typeof options.body === 'function' ? options.body(admitted) : options.body);

/**
 * The request a handler sees. A class, not an object literal with `get query()` and `get log()`:
 * a literal's accessors are new closures every time, and V8 allocates each object's accessor pair
 * in old space, where it pointed at that request's closures and through them at the request.
 * Scavenges treat old-space pointers as roots, so every request's objects survived until a full
 * collection: under load about a sixth of everything a request allocated was copied and promoted
 * (25–40 ms pauses, the bridge's p99).
 */
class ArrivedRequest implements WireRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly receivedAt = Date.now();
  readonly #rawQuery: string;
  readonly #requestLog: () => Logger;
  #query: URLSearchParams | undefined;

  constructor(method: string, target: RequestTarget, headers: IncomingHttpHeaders, body: Buffer, requestLog: () => Logger) {
    this.method = method;
    this.path = target.path;
    this.headers = headers;
    this.body = body;
    this.#rawQuery = target.rawQuery;
    this.#requestLog = requestLog;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.#rawQuery));
  }

  get log(): Logger {
    return this.#requestLog();
  }
}

/** A request line's target: the path, and the query string after `?` (not parsed until asked for). */
interface RequestTarget {
  path: string;
  rawQuery: string;
}

function splitTarget(target: string): RequestTarget {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, rawQuery: '' } : { path: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

/** The answer to a request that failed, from the one error mapping, logged when it is the server's fault. */
function failureResponse<A>(error: unknown, options: ListenerOptions<A>, path: string, requestLog: () => Logger): WireResponse {
  const mapped = errorResponse(error);
  logFailure(requestLog(), mapped.status, error, { path });
  return options.mapError?.(error, path) ?? { ...mapped, log: { error: mapped.body.error } };
}

const NOT_MODIFIED = 304;

/** Writes `response` (JSON unless `raw`), unless an answer already went out; throws when it cannot be serialised or its headers are invalid. */
export function send(res: ServerResponse, response: WireResponse): void {
  if (res.headersSent) return;
  const payload = response.raw ?? (response.body === undefined ? '' : JSON.stringify(response.body));
  res.writeHead(response.status, {
    ...(payload.length > 0 && response.raw === undefined ? { 'content-type': 'application/json' } : {}),
    // A 304 has no content, and a Content-Length in it would have to be the 200's (RFC 9110 §8.6), not 0.
    ...(response.status === NOT_MODIFIED ? {} : { 'content-length': Buffer.byteLength(payload) }),
    ...response.headers,
  });
  res.end(payload);
}
