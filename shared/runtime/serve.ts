/**
 * The one place that listens (as functions-framework's main does): starts a function's
 * server, answers GET /healthz, and on SIGTERM stops accepting, drains in-flight work,
 * closes clients and exits.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthStatus } from '../deadline.ts';
import { answeredByLimits, applyConnectionLimits, DEFAULT_CONNECTION_LIMITS, serverOptions, type ConnectionLimits } from './connection-limits.ts';
import type { FunctionModule } from './function.ts';
import type { InProcessHandler, InProcessRequest } from './http.ts';
import type { Platform } from './platform.ts';

export interface RunningFunction {
  name: string;
  server: Server;
  port: number;
  url: string;
  /** The function's handler for callers in this process, when it has one (FunctionInstance.inProcess). */
  inProcess?: InProcessHandler;
  /** Stop accepting, finish in-flight requests and batches. Does not close the platform. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Slow- and silent-client limits; the defaults suit production, tests shorten them. */
  timeouts?: Partial<ConnectionLimits>;
}

const HEALTHZ = '{"status":"ok"}';

/** Ready unless draining, a dependency timed out recently, or the function reports being stuck. */
function healthOf(draining: boolean, platform: Platform, own: HealthStatus | undefined): HealthStatus {
  if (draining) return { ok: false, problems: ['draining'] };
  const dependencies = platform.health.status();
  if (dependencies.ok && (own?.ok ?? true)) return dependencies;
  return { ok: false, problems: [...dependencies.problems, ...(own?.problems ?? [])] };
}

export async function serveFunction(module: FunctionModule, platform: Platform, options: ServeOptions = {}): Promise<RunningFunction> {
  const instance = await module.create(platform);
  let draining = false;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.timeouts };
  const server = createServer(serverOptions(limits), (req, res) => {
    if (answeredByLimits(res)) return;
    if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const health = healthOf(draining, platform, instance.health?.());
      const body = health.ok ? HEALTHZ : JSON.stringify({ status: 'unavailable', problems: health.problems });
      res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    // While draining, answers close their connection so that keep-alive clients let go.
    if (draining) res.setHeader('connection', 'close');
    instance.listener(req, res);
  });
  // Slow or silent clients must not hold sockets open forever (slowloris, idle floods).
  applyConnectionLimits(server, limits);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  const { inProcess } = instance;
  return {
    name: module.name,
    server,
    port,
    url: `http://${urlHost(options.host ?? '0.0.0.0')}:${port}`,
    // Once stopping, the in-process door refuses as the closed port does: nothing new is taken.
    ...(inProcess
      ? {
          inProcess: (req: InProcessRequest) =>
            stopped ? Promise.resolve({ status: 503, body: { error: 'unavailable', message: `${module.name} has stopped` } }) : inProcess(req),
        }
      : {}),
    async stop() {
      draining = true;
      // The listener stops taking connections now, and the in-process door new requests.
      stopped = true;
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

/** How this machine reaches a server bound to `host`: loopback for the wildcard addresses. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
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
