/**
 * The stack's internal API on a loopback-only port, behind the admin token:
 * - `POST /internal/query {"sql", "db"?: "warehouse"|"postgres", "timeoutMs"?}` → `{columns, rows}`:
 *   analyst SQL on the stores the stack holds open (DuckDB lets one process write a file, PGlite
 *   lives in this process, so `npm run query` asks the stack), sandboxed and read-only on
 *   connections of its own, never the writer's (shared/warehouse/duckdb-analyst.ts,
 *   scripts/query/postgres.ts);
 * - `POST /internal/warehouse {"paused"}`: hold DuckDB writes back (ingest answers 503, Pub/Sub
 *   keeps the messages) while an operator works on the file, and let them go again;
 * - `GET /internal/stats`: the local Pub/Sub's counters.
 * Rejected messages are replayed through the registry's `POST /v1/rejected:replay`
 * (`npm run replay`), which publishes through this same platform's publisher.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { bearerChecker } from '../../shared/auth/bearer.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { HttpError } from '../../shared/errors.ts';
import {
  answeredByLimits,
  applyConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  serverOptions,
  type ConnectionLimits,
} from '../../shared/runtime/connection-limits.ts';
import { createListener, type RequestHead, type WireRequest, type WireResponse } from '../../shared/runtime/http.ts';
import { parseJsonBody } from './json-body.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { AnalystSqlError, MAX_QUERY_TIMEOUT_MS } from '../../shared/warehouse/duckdb-analyst.ts';
import type { DuckDbSink } from '../../shared/warehouse/duckdb-sink.ts';
import { queryPostgresReadOnly } from '../../scripts/query/postgres.ts';

export interface InternalApiOptions {
  platform: Platform;
  adminToken: string;
  port?: number;
  stats?: () => unknown;
  /** Slow- and silent-client limits, as every listener has them; tests shorten them. */
  timeouts?: Partial<ConnectionLimits>;
}

/** A query or a pause switch; SQL longer than this is not an analyst's. */
const BODY_LIMIT_BYTES = 1024 * 1024;

const QueryBody = z.object({
  sql: z.string().min(1),
  db: z.enum(['warehouse', 'postgres']).default('warehouse'),
  timeoutMs: z.number().int().positive().max(MAX_QUERY_TIMEOUT_MS).optional(),
});
const WarehouseBody = z.object({ paused: z.boolean() });

export async function startInternalApi(options: InternalApiOptions): Promise<{ url: string; server: Server; stop(): Promise<void> }> {
  const { platform } = options;
  const isAdmin = bearerChecker(options.adminToken);
  const admit = ({ headers }: RequestHead) => {
    if (!isAdmin(headers.authorization))
      throw new HttpError(401, 'unauthenticated', 'send Authorization: Bearer $ADMIN_TOKEN', { headers: { 'WWW-Authenticate': 'Bearer' } });
  };
  const listener = createListener((req) => route(options, req), {
    logger: platform.logger,
    projectId: platform.config.projectId,
    body: { limitBytes: BODY_LIMIT_BYTES },
    admit,
  });
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.timeouts };
  const server = createServer(serverOptions(limits), (req, res) => {
    if (!answeredByLimits(res)) listener(req, res);
  });
  applyConnectionLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(options: InternalApiOptions, req: WireRequest): Promise<WireResponse> {
  const { platform } = options;
  const call = `${req.method} ${req.path}`;
  if (call === 'GET /internal/stats') return { status: 200, body: options.stats?.() ?? {} };
  if (call === 'POST /internal/query') {
    const { sql, db, timeoutMs } = parseJsonBody(QueryBody, req);
    try {
      if (db === 'postgres') return { status: 200, body: await queryPostgresReadOnly(await platform.database(), sql, { timeoutMs }) };
      return { status: 200, body: await duckDb(await platform.warehouse()).query(sql, { timeoutMs }) };
    } catch (error) {
      // SQL that may not or cannot run is the caller's to fix; any other failure is not.
      if (error instanceof AnalystSqlError) throw new HttpError(400, 'invalid_sql', error.message);
      throw error instanceof HttpError ? error : classifyDbError(error, db);
    }
  }
  if (call === 'POST /internal/warehouse') {
    const { paused } = parseJsonBody(WarehouseBody, req);
    duckDb(await platform.warehouse()).setPaused(paused);
    return { status: 200, body: { paused } };
  }
  throw new HttpError(404, 'not_found', `no route for ${call}`);
}

/** The stack's DuckDB warehouse; another warehouse is queried and paused with its own tools. */
function duckDb(warehouse: { kind: string }): DuckDbSink {
  if (warehouse.kind !== 'duckdb') throw new HttpError(400, 'failed_precondition', `the warehouse is ${warehouse.kind}; query it with its own tools`);
  return warehouse as DuckDbSink;
}
