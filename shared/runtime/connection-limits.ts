/**
 * The limits every listener of the project sets, in one place: how long a client may take to
 * send its headers and its whole request, how long an idle keep-alive connection stays, and
 * how long a connection may stay open without sending a single byte. Node closes slow
 * headers and bodies itself, but a connection that never starts a request is on no timer of
 * its own (it never enters the server's list of active requests), so enough silent clients
 * would exhaust file descriptors; the idle timer below closes them.
 * @see https://nodejs.org/api/http.html#serverheaderstimeout
 */
import type { Server } from 'node:http';

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
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersMs: 10_000,
  requestMs: 60_000,
  // Outlives the load balancer's idle timeout, so that it, not we, closes idle connections.
  keepAliveMs: 65_000,
  silentMs: 10_000,
  checkIntervalMs: 1_000,
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
  server.on('request', (req) => req.socket.setTimeout(0));
}
