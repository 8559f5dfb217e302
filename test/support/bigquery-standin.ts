/**
 * A local stand-in for the BigQuery REST endpoints the Node client calls to stream rows and
 * set up the warehouse: datasets get/insert, tables get/insert/patch/update and
 * tabledata.insertAll. There is no BigQuery
 * emulator on these machines, so the real client is pointed here through `apiEndpoint`.
 *
 * It records every request, keeps rows deduplicated by `insertId`, checks rows against the
 * table schema the way BigQuery answers (`invalid` for the bad row, `stopped` for the rest of
 * the request unless `skipInvalidRows`), refuses a whole request past BigQuery's documented
 * streaming limits, answers errors in the Google APIs envelope, and can be scripted to fail.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll
 * @see https://cloud.google.com/bigquery/docs/error-messages
 * @see https://cloud.google.com/bigquery/quotas#streaming_inserts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';

/** Credentials the stand-in accepts: a client with a token already in hand, so no metadata server or key file is asked. */
export function standInAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'stand-in', expiry_date: Date.now() + 24 * 3_600_000 });
  return auth;
}

export interface StandInField {
  name: string;
  type: string;
  mode?: string;
}

export interface StandInTable {
  schema: { fields: StandInField[] };
  [key: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The body's size on the wire. */
  bytes: number;
}

export interface InsertAllBody {
  rows: { insertId?: string; json: Record<string, unknown> }[];
  skipInvalidRows?: boolean;
  ignoreUnknownValues?: boolean;
  [key: string]: unknown;
}

/**
 * What the next insertAll request gets instead of the normal answer. A status fault carries
 * the reason BigQuery gives with that status unless one is named: BigQuery answers its rate
 * limits and quotas with 403 (`rateLimitExceeded`, `quotaExceeded`), not 429.
 */
export type ScriptedFault =
  { kind: 'status'; status: number; reason?: string } | { kind: 'rowErrors'; reason: string; match: (insertId: string) => boolean } | { kind: 'hangUp' };

/**
 * The documented limits of one insertAll request: past either, BigQuery refuses the whole
 * request with 400 `invalid` and stores none of its rows.
 * @see https://cloud.google.com/bigquery/quotas#streaming_inserts
 */
export const INSERT_ALL_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
export const INSERT_ALL_MAX_ROWS = 50_000;

interface InsertError {
  index: number;
  errors: { reason: string; location: string; debugInfo: string; message: string }[];
}

export interface BigQueryStandIn {
  /** For the client's `apiEndpoint`: `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The bodies of every insertAll request, in arrival order. */
  insertAllRequests(): InsertAllBody[];
  /** Rows stored in a table, one per insertId (rows without an insertId are all kept). */
  storedRows(dataset: string, table: string): Record<string, unknown>[];
  createDataset(dataset: string): void;
  createTable(dataset: string, table: string, resource: StandInTable): void;
  table(dataset: string, table: string): StandInTable | undefined;
  /** Queues faults for the coming insertAll requests, one request each. */
  failNext(...faults: ScriptedFault[]): void;
  /** Forgets every dataset, table, recorded request and unused fault. */
  reset(): void;
  close(): Promise<void>;
}

interface TableState {
  resource: StandInTable;
  rows: Map<string, Record<string, unknown>>;
  unkeyed: Record<string, unknown>[];
}

const ROUTE = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets(?:\/([^/]+)(?:\/tables(?:\/([^/]+)(?:\/(insertAll))?)?)?)?$/;

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startBigQueryStandIn(): Promise<BigQueryStandIn> {
  const requests: RecordedRequest[] = [];
  const datasets = new Map<string, Map<string, TableState>>();
  const faults: ScriptedFault[] = [];

  const handle = (request: RecordedRequest, res: ServerResponse): void => {
    const url = new URL(request.path, 'http://stand-in');
    const match = ROUTE.exec(url.pathname);
    if (!match) return answerError(res, 404, 'notFound', `no route ${request.method} ${url.pathname}`);
    const [, project = '', dataset, table, insertAll] = match;
    const body = (request.body ?? {}) as Record<string, unknown>;

    if (!dataset) {
      if (request.method !== 'POST') return answerError(res, 405, 'invalid', 'method not allowed');
      const reference = body.datasetReference as { datasetId?: string } | undefined;
      const id = reference?.datasetId ?? '';
      if (datasets.has(id)) return answerError(res, 409, 'duplicate', `Already Exists: Dataset ${project}:${id}`);
      datasets.set(id, new Map());
      return answer(res, 200, { kind: 'bigquery#dataset', id: `${project}:${id}`, datasetReference: { projectId: project, datasetId: id } });
    }
    const tables = datasets.get(dataset);
    if (!tables) return answerError(res, 404, 'notFound', `Not found: Dataset ${project}:${dataset}`);
    if (!table) {
      if (request.method === 'GET') return answer(res, 200, { kind: 'bigquery#dataset', id: `${project}:${dataset}` });
      if (request.method !== 'POST') return answerError(res, 405, 'invalid', 'method not allowed');
      const id = (body.tableReference as { tableId?: string } | undefined)?.tableId ?? '';
      if (tables.has(id)) return answerError(res, 409, 'duplicate', `Already Exists: Table ${project}:${dataset}.${id}`);
      tables.set(id, { resource: body as unknown as StandInTable, rows: new Map(), unkeyed: [] });
      return answer(res, 200, { kind: 'bigquery#table', ...body });
    }
    const state = tables.get(table);
    if (!state) return answerError(res, 404, 'notFound', `Not found: Table ${project}:${dataset}.${table}`);
    if (!insertAll && (request.method === 'PATCH' || request.method === 'PUT')) {
      // tables.patch merges the fields sent; tables.update replaces the resource.
      state.resource = (request.method === 'PATCH' ? { ...state.resource, ...body } : body) as unknown as StandInTable;
      return answer(res, 200, { kind: 'bigquery#table', id: `${project}:${dataset}.${table}`, ...state.resource });
    }
    if (!insertAll) return answer(res, 200, { kind: 'bigquery#table', id: `${project}:${dataset}.${table}`, ...state.resource });
    return handleInsertAll(state, body as unknown as InsertAllBody, request.bytes, res);
  };

  const handleInsertAll = (state: TableState, body: InsertAllBody, bytes: number, res: ServerResponse): void => {
    const fault = faults.shift();
    if (fault?.kind === 'status') return answerError(res, fault.status, fault.reason ?? defaultReason(fault.status), 'scripted failure');
    if (fault?.kind === 'hangUp') {
      res.socket?.destroy();
      return;
    }
    const rows = Array.isArray(body.rows) ? body.rows : [];
    if (rows.length === 0) return answerError(res, 400, 'invalid', 'No rows present in the request.');
    // The request limits hold for the request as a whole: nothing of it is stored.
    if (bytes > INSERT_ALL_MAX_REQUEST_BYTES)
      return answerError(res, 400, 'invalid', `Request payload size exceeds the limit: ${INSERT_ALL_MAX_REQUEST_BYTES} bytes.`);
    if (rows.length > INSERT_ALL_MAX_ROWS)
      return answerError(res, 400, 'invalid', `too many rows present in the request, limit: ${INSERT_ALL_MAX_ROWS} row count: ${rows.length}.`);
    const insertErrors: InsertError[] = [];
    const failed = new Set<number>();
    rows.forEach((row, index) => {
      const problems = validateRow(state.resource.schema.fields, row.json, body.ignoreUnknownValues === true);
      if (problems.length > 0) {
        failed.add(index);
        insertErrors.push({ index, errors: problems.map((message) => rowError('invalid', message)) });
      }
    });
    if (failed.size > 0 && body.skipInvalidRows !== true) {
      // BigQuery rejects the whole request then, and says so of every other row.
      rows.forEach((_row, index) => {
        if (!failed.has(index)) insertErrors.push({ index, errors: [rowError('stopped', '')] });
      });
      return answer(res, 200, { kind: 'bigquery#tableDataInsertAllResponse', insertErrors });
    }
    if (fault?.kind === 'rowErrors') {
      rows.forEach((row, index) => {
        if (!failed.has(index) && row.insertId !== undefined && fault.match(row.insertId)) {
          failed.add(index);
          insertErrors.push({ index, errors: [rowError(fault.reason, 'scripted row failure')] });
        }
      });
    }
    rows.forEach((row, index) => {
      if (failed.has(index)) return;
      if (row.insertId === undefined) state.unkeyed.push(row.json);
      else if (!state.rows.has(row.insertId)) state.rows.set(row.insertId, row.json);
    });
    answer(res, 200, { kind: 'bigquery#tableDataInsertAllResponse', ...(insertErrors.length > 0 ? { insertErrors } : {}) });
  };

  const server = createServer((req, res) => {
    void readJson(req).then(
      ({ body, bytes }) => {
        const recorded: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body, bytes };
        requests.push(recorded);
        handle(recorded, res);
      },
      () => answerError(res, 400, 'parseError', 'request body is not JSON'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const tableState = (dataset: string, table: string) => datasets.get(dataset)?.get(table);
  const createDataset = (dataset: string) => {
    if (!datasets.has(dataset)) datasets.set(dataset, new Map());
  };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    insertAllRequests: () => requests.filter((r) => r.method === 'POST' && r.path.split('?')[0]?.endsWith('/insertAll')).map((r) => r.body as InsertAllBody),
    storedRows(dataset, table) {
      const state = tableState(dataset, table);
      return state ? [...state.rows.values(), ...state.unkeyed] : [];
    },
    createDataset,
    createTable(dataset, table, resource) {
      createDataset(dataset);
      datasets.get(dataset)?.set(table, { resource, rows: new Map(), unkeyed: [] });
    },
    table: (dataset, table) => tableState(dataset, table)?.resource,
    failNext: (...more) => {
      faults.push(...more);
    },
    reset: () => {
      datasets.clear();
      requests.length = 0;
      faults.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Every reason a row does not fit the schema, as BigQuery would name them. */
function validateRow(fields: readonly StandInField[], json: Record<string, unknown> | undefined, ignoreUnknown: boolean): string[] {
  if (typeof json !== 'object' || json === null) return ['row has no json object'];
  const problems: string[] = [];
  const known = new Set(fields.map((f) => f.name));
  for (const field of fields) {
    const value = json[field.name];
    if (value === null || value === undefined) {
      if (field.mode === 'REQUIRED') problems.push(`Missing required field: ${field.name}.`);
      continue;
    }
    if (!fitsType(field.type, value)) problems.push(`Cannot convert value to ${field.type.toLowerCase()}: ${field.name}.`);
  }
  if (!ignoreUnknown) {
    for (const name of Object.keys(json)) if (!known.has(name)) problems.push(`no such field: ${name}.`);
  }
  return problems;
}

/**
 * FLOAT64 holds NaN and the infinities, which a JSON number cannot spell: insertAll takes them
 * as the strings below (the Go and Python clients send them so).
 */
const NON_FINITE_FLOAT_TEXT = new Set(['NaN', 'Infinity', '-Infinity']);
/** TIMESTAMP's range, 0001-01-01 to 9999-12-31 (UTC), in epoch milliseconds. */
const EARLIEST_TIMESTAMP_MS = new Date(0).setUTCFullYear(1, 0, 1);
const LATEST_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function fitsType(type: string, value: unknown): boolean {
  switch (type) {
    case 'STRING':
      return typeof value === 'string';
    case 'INTEGER':
      return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
    case 'FLOAT':
      if (typeof value === 'number') return true;
      if (typeof value !== 'string') return false;
      return NON_FINITE_FLOAT_TEXT.has(value) || (value.trim() !== '' && Number.isFinite(Number(value)));
    case 'BOOLEAN':
      return typeof value === 'boolean';
    case 'TIMESTAMP': {
      // A number is seconds since the epoch; text is a date and time. Either within the type's range.
      const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : Number.NaN;
      return ms >= EARLIEST_TIMESTAMP_MS && ms <= LATEST_TIMESTAMP_MS;
    }
    case 'JSON':
      if (typeof value !== 'string') return true;
      try {
        JSON.parse(value);
        return true;
      } catch {
        return false;
      }
    default:
      return true;
  }
}

function rowError(reason: string, message: string) {
  return { reason, location: '', debugInfo: '', message };
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

/** BigQuery's reason for a status when a scripted fault names none (its error table). */
function defaultReason(status: number): string {
  if (status === 400) return 'invalid';
  if (status === 403) return 'accessDenied';
  if (status === 404) return 'notFound';
  if (status === 429) return 'rateLimitExceeded';
  return 'backendError';
}

/** The canonical status name Google APIs put beside the HTTP code (google.rpc.Code). */
const CANONICAL_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * The error envelope of Google APIs, which the client turns into an ApiError with `code`:
 * `{error: {code, message, errors: [{reason, message, domain}], status}}`, where `status` is
 * the canonical status name and the BigQuery reason is in `errors[].reason`.
 * @see https://cloud.google.com/apis/design/errors#http_mapping
 */
function answerError(res: ServerResponse, status: number, reason: string, message: string): void {
  answer(res, status, { error: { code: status, message, errors: [{ reason, message, domain: 'global' }], status: CANONICAL_STATUS[status] ?? 'UNKNOWN' } });
}

async function readJson(req: IncomingMessage): Promise<{ body: unknown; bytes: number }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const text = raw.toString('utf8');
  return { body: text === '' ? undefined : (JSON.parse(text) as unknown), bytes: raw.length };
}
