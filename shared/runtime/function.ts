/**
 * What a function module exports: a name and a factory that builds its request listener
 * from the platform. The runner (serve.ts) alone listens, answers /healthz and drains.
 */
import type { RequestListener } from 'node:http';
import type { HealthStatus } from '../deadline.ts';
import type { InProcessHandler } from './http.ts';
import type { Platform } from './platform.ts';

export interface FunctionInstance {
  listener: RequestListener;
  /**
   * The same handler for a caller in this process, without HTTP: the local stack's Pub/Sub
   * hands its pushes to ingest and deadletter this way (docs/architecture.md).
   */
  inProcess?: InProcessHandler;
  /** Finishes in-flight work (e.g. pending group-commit batches). Called on SIGTERM. */
  drain?(): Promise<void>;
  /** Whether the function can make progress (e.g. no write stuck past its deadline); /healthz reports it. */
  health?(): HealthStatus;
}

export interface FunctionModule {
  name: string;
  /**
   * The stores the function cannot work without (default: the database). A production bundle
   * has no embedded stores, so it refuses to start unless these are configured.
   */
  stores?: readonly ('database' | 'warehouse')[];
  create(platform: Platform): FunctionInstance | Promise<FunctionInstance>;
}

export const defineFunction = (module: FunctionModule): FunctionModule => module;
