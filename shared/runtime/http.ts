/**
 * A small, fast request layer over node:http for the hot-path functions (bridge, ingest,
 * deadletter): read the body under a limit, call the handler, map errors in one place,
 * write JSON, log one line per request with its latency and trace.
 */
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { errorResponse } from '../errors.ts';
import type { LogFields, Logger } from '../log.ts';
import { traceFields } from '../log.ts';
import type { BodyOptions } from './body.ts';
import { readBody } from './body.ts';

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

export type WireHandler = (req: WireRequest) => Promise<WireResponse>;

export interface ListenerOptions {
  logger: Logger;
  projectId: string;
  body: BodyOptions;
  /** Log successful requests at DEBUG instead of INFO (high-rate Pub/Sub pushes). */
  quietSuccess?: boolean;
  /** Answers errors raised before the handler (body limits, encodings) in another shape for some paths. */
  mapError?: (error: unknown, path: string) => WireResponse | undefined;
}

export function createListener(handler: WireHandler, options: ListenerOptions): RequestListener {
  return (req, res) => {
    void handleRequest(handler, options, req, res);
  };
}

async function handleRequest(handler: WireHandler, options: ListenerOptions, req: IncomingMessage, res: ServerResponse) {
  const started = performance.now();
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  // Built on first use: most requests at a quiet log level never need their own logger.
  let log: Logger | undefined;
  const requestLog = () => (log ??= options.logger.child(traceFields(req.headers, options.projectId)));
  let response: WireResponse;
  try {
    const body = await readBody(req, options.body);
    let query: URLSearchParams | undefined;
    response = await handler({
      method: req.method ?? 'GET',
      path,
      get query() {
        return (query ??= new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
      },
      headers: req.headers,
      body,
      receivedAt: Date.now(),
      get log() {
        return requestLog();
      },
    });
  } catch (error) {
    const mapped = errorResponse(error);
    if (mapped.status === 500) requestLog().error('request failed', { error, path });
    else if (mapped.status >= 500) requestLog().warn('request failed', { error, path });
    response = options.mapError?.(error, path) ?? { ...mapped, log: { error: mapped.body.error } };
  }
  send(res, response);
  const severity = response.status >= 500 ? 'WARNING' : options.quietSuccess && response.status < 300 ? 'DEBUG' : 'INFO';
  if (!options.logger.enabled(severity)) return;
  const latencyMs = Math.round((performance.now() - started) * 100) / 100;
  const fields = { method: req.method, path, status: response.status, latencyMs, ...response.log };
  if (severity === 'WARNING') requestLog().warn('request', fields);
  else if (severity === 'DEBUG') requestLog().debug('request', fields);
  else requestLog().info('request', fields);
}

export function send(res: ServerResponse, response: WireResponse): void {
  if (res.headersSent) return;
  const payload = response.raw ?? (response.body === undefined ? '' : JSON.stringify(response.body));
  res.writeHead(response.status, {
    ...(payload.length > 0 && response.raw === undefined ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(payload),
    ...response.headers,
  });
  res.end(payload);
}
