/**
 * The one place that listens (as functions-framework's main does): starts a function's
 * server, answers GET /healthz, and on SIGTERM stops accepting, drains in-flight work,
 * closes clients and exits.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionModule } from './function.ts';
import type { Platform } from './platform.ts';

export interface RunningFunction {
  name: string;
  server: Server;
  port: number;
  url: string;
  /** Stop accepting, finish in-flight requests and batches. Does not close the platform. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Slow-client limits; the defaults suit production, tests shorten them. */
  timeouts?: { headersMs?: number; requestMs?: number; checkIntervalMs?: number };
}

const HEALTHZ = '{"status":"ok"}';

export async function serveFunction(module: FunctionModule, platform: Platform, options: ServeOptions = {}): Promise<RunningFunction> {
  const instance = await module.create(platform);
  let draining = false;
  // Node checks the timeouts below only every connectionsCheckingInterval (30 s by default).
  const server = createServer({ connectionsCheckingInterval: options.timeouts?.checkIntervalMs ?? 1_000 }, (req, res) => {
    if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': HEALTHZ.length });
      res.end(HEALTHZ);
      return;
    }
    // While draining, answers close their connection so that keep-alive clients let go.
    if (draining) res.setHeader('connection', 'close');
    instance.listener(req, res);
  });
  // Slow clients must not hold sockets open forever (slowloris); keep-alive outlives the
  // load balancer's idle timeout so that it, not we, closes idle connections.
  server.headersTimeout = options.timeouts?.headersMs ?? 10_000;
  server.requestTimeout = options.timeouts?.requestMs ?? 60_000;
  server.keepAliveTimeout = 65_000;
  server.maxHeadersCount = 200;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    name: module.name,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await instance.drain?.();
      // Sockets whose last answer went out during the drain are idle now.
      server.closeIdleConnections();
      const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      // Requests still running after the drain get a few seconds before their sockets go.
      const timer = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(timer);
      clearInterval(idleSweep);
    },
  };
}

/** Runs until SIGTERM/SIGINT, then drains and exits 0 (Knative/Cloud Run scale-down). */
export function exitOnSignals(running: RunningFunction[], platform: Platform): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    platform.logger.info('shutting down', { signal });
    await Promise.allSettled(running.map((r) => r.stop()));
    await platform.close();
    platform.logger.info('stopped', { signal });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
