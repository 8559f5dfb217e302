/**
 * The limits every listener of the project sets, in one place: how long a client may take to
 * send its headers and its whole request, how long an idle keep-alive connection stays, and
 * how long a connection may stay open without sending a single byte. Node closes slow
 * headers and bodies itself, but a connection that never starts a request is on no timer of
 * its own (it never enters the server's list of active requests), so enough silent clients
 * would exhaust file descriptors; the idle timer below closes them. Nor does Node bound HTTP/1.1
 * pipelining: it parses every request a client writes ahead and starts each handler at once, so
 * one connection writing 20,000 requests unread held them all in memory until the heap ran out;
 * a connection stops being read at `pipelinedMax` unanswered requests. Node still parses the
 * rest of the read it is in (64 KiB, thousands of small requests): past four times the bound, a
 * request is answered 503 at once, in its turn, and is not handed to the function
 * (`answeredByLimits`), so it was never run and its retry is safe. The connection stays open:
 * closing it with the client's requests unread would reset it, and lose the answers of requests
 * that did run.
 * @see https://nodejs.org/api/http.html#serverheaderstimeout
 */
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Until the request's headers are complete. */
  headersMs: number;
  /** Until the whole request (headers and body) is in. */
  requestMs: number;
  /** An idle keep-alive connection, after an answer. */
  keepAliveMs: number;
  /** A new connection that sends nothing at all. */
  silentMs: number;
  /** How often node checks headersMs/requestMs (30 s by default, too coarse). */
  checkIntervalMs: number;
  /** Requests one connection may have unanswered (pipelined) before it is no longer read. */
  pipelinedMax: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersMs: 10_000,
  requestMs: 60_000,
  // Outlives the load balancer's idle timeout, so that it, not we, closes idle connections.
  keepAliveMs: 65_000,
  silentMs: 10_000,
  checkIntervalMs: 1_000,
  // Devices and browsers send one request at a time; a client that pipelines still may, a few deep.
  pipelinedMax: 16,
};

/** The options `createServer` needs for these limits (the check interval is fixed at creation). */
export const serverOptions = (limits: ConnectionLimits) => ({
  connectionsCheckingInterval: limits.checkIntervalMs,
  requestTimeout: limits.requestMs,
  headersTimeout: limits.headersMs,
  keepAliveTimeout: limits.keepAliveMs,
});

/** Applies the limits to a server created with `serverOptions(limits)`. */
export function applyConnectionLimits(server: Server, limits: ConnectionLimits): void {
  server.headersTimeout = limits.headersMs;
  server.requestTimeout = limits.requestMs;
  server.keepAliveTimeout = limits.keepAliveMs;
  server.maxHeadersCount = 200;
  // A socket timeout with no 'timeout' listener makes node destroy the socket.
  server.on('connection', (socket) => socket.setTimeout(limits.silentMs));
  // Once a request has begun, headersMs/requestMs bound the client, and the handler's own
  // deadlines bound the answer; after it, node arms keepAliveMs on the socket.
  // First of the request listeners, so that the function's listener finds a request pipelined
  // too deep already answered, and skips it.
  server.prependListener('request', (req, res) => {
    req.socket.setTimeout(0);
    boundPipelining(req.socket, res, limits.pipelinedMax);
  });
}

/** The request was answered by these limits (pipelined too deep): not for the function. */
export const answeredByLimits = (res: ServerResponse): boolean => res.writableEnded;

/** The connection's count, on its socket and on each response; a property, not a WeakMap and a closure per request. */
const PIPELINE = Symbol('pipeline');
type CountedResponse = ServerResponse & { [PIPELINE]?: Pipeline };

interface Pipeline {
  socket: HttpSocket;
  max: number;
  unanswered: number;
  /** Paused by us rather than by Node. */
  held: boolean;
  waitingForDrain: boolean;
}

/**
 * Node's own hold on a connection whose answers back up (lib/_http_server.js): while `_paused`
 * is set, Node neither reads the socket on after each request, as it otherwise does, nor lets
 * its parser run past the current read. A plain `pause()` is undone by the next request parsed.
 */
type HttpSocket = Socket & { _paused?: boolean; parser?: { resume(): void } | null; [PIPELINE]?: Pipeline };

/** Counts the connection's unanswered requests: stops reading it at `max`, answers 503 past `4 × max`. */
function boundPipelining(socket: HttpSocket, res: CountedResponse, max: number): void {
  const pipeline = (socket[PIPELINE] ??= { socket, max, unanswered: 0, held: false, waitingForDrain: false });
  pipeline.unanswered += 1;
  res[PIPELINE] = pipeline;
  res.on('close', answered);
  if (pipeline.unanswered > 4 * max) {
    // The rest of one read, already parsed: more than a client waiting for its answers sends.
    const body = JSON.stringify({ error: 'unavailable', message: `more than ${4 * max} requests pipelined on one connection; not run, send it again` });
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'retry-after': '1' });
    res.end(body);
  } else if (pipeline.unanswered >= max && !socket._paused) {
    pipeline.held = true;
    socket._paused = true;
    socket.pause();
  }
}

function answered(this: CountedResponse): void {
  const pipeline = this[PIPELINE];
  if (!pipeline) return;
  pipeline.unanswered -= 1;
  release(pipeline);
}

function release(pipeline: Pipeline): void {
  const { socket } = pipeline;
  if (!pipeline.held || pipeline.unanswered >= pipeline.max || socket.destroyed) return;
  // Answers still waiting to be written: read on once they are (a client that does not read
  // its answers must not make us buffer them without end).
  if (socket.writableNeedDrain) {
    if (!pipeline.waitingForDrain) {
      pipeline.waitingForDrain = true;
      socket.once('drain', () => {
        pipeline.waitingForDrain = false;
        release(pipeline);
      });
    }
    return;
  }
  pipeline.held = false;
  // As Node resumes a connection it held itself (socketOnDrain); should Node still need it held,
  // it holds it again at the next request.
  if (socket._paused) {
    socket._paused = false;
    socket.parser?.resume();
    socket.resume();
  }
}
