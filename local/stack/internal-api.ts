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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { bearerChecker } from '../../shared/auth/bearer.ts';
import { toIssues } from '../../shared/errors.ts';
import { parseJson } from '../../shared/json.ts';
import { applyConnectionLimits, DEFAULT_CONNECTION_LIMITS, serverOptions, type ConnectionLimits } from '../../shared/runtime/connection-limits.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { MAX_QUERY_TIMEOUT_MS } from '../../shared/warehouse/duckdb-analyst.ts';
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

const QueryBody = z.object({
  sql: z.string().min(1),
  db: z.enum(['warehouse', 'postgres']).default('warehouse'),
  timeoutMs: z.number().int().positive().max(MAX_QUERY_TIMEOUT_MS).optional(),
});
const WarehouseBody = z.object({ paused: z.boolean() });

export async function startInternalApi(options: InternalApiOptions): Promise<{ url: string; server: Server; stop(): Promise<void> }> {
  const isAdmin = bearerChecker(options.adminToken);
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.timeouts };
  const server = createServer(serverOptions(limits), (req, res) => {
    if (!isAdmin(req.headers.authorization)) {
      send(res, 401, { error: 'unauthenticated', message: 'send Authorization: Bearer $ADMIN_TOKEN' });
      return;
    }
    void route(options, req, res).catch((error: unknown) => send(res, 400, { error: 'failed', message: error instanceof Error ? error.message : String(error) }));
  });
  applyConnectionLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function route(options: InternalApiOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { platform } = options;
  if (req.method === 'GET' && req.url === '/internal/stats') return send(res, 200, options.stats?.() ?? {});
  if (req.method !== 'POST') return send(res, 404, { error: 'not_found', message: `no route for ${req.method ?? ''} ${req.url ?? ''}` });
  const json = await readJson(req);
  if (req.url === '/internal/query') {
    const body = QueryBody.safeParse(json);
    if (!body.success) return send(res, 400, { error: 'invalid_argument', issues: toIssues(body.error.issues) });
    const { sql, db, timeoutMs } = body.data;
    if (db === 'postgres') return send(res, 200, await queryPostgresReadOnly(await platform.database(), sql, { timeoutMs }));
    const warehouse = await platform.warehouse();
    if (warehouse.kind !== 'duckdb') return send(res, 400, { error: 'failed_precondition', message: `the warehouse is ${warehouse.kind}; query it with its own tools` });
    return send(res, 200, await (warehouse as DuckDbSink).query(sql, { timeoutMs }));
  }
  if (req.url === '/internal/warehouse') {
    const body = WarehouseBody.safeParse(json);
    if (!body.success) return send(res, 400, { error: 'invalid_argument', issues: toIssues(body.error.issues) });
    const warehouse = await platform.warehouse();
    if (warehouse.kind !== 'duckdb') return send(res, 400, { error: 'failed_precondition', message: `the warehouse is ${warehouse.kind}` });
    (warehouse as DuckDbSink).setPaused(body.data.paused);
    return send(res, 200, { paused: body.data.paused });
  }
  return send(res, 404, { error: 'not_found', message: `no route for POST ${req.url ?? ''}` });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return parseJson(Buffer.concat(chunks), 'the request body');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
