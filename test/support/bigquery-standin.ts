/**
 * A local stand-in for the BigQuery REST endpoints the Node client calls to stream rows and
 * set up the warehouse: datasets get/insert, tables get/insert/patch/update and
 * tabledata.insertAll. There is no BigQuery
 * emulator on these machines, so the real client is pointed here through `apiEndpoint`.
 *
 * It records every request, keeps rows deduplicated by `insertId`, checks rows against the
 * table schema the way BigQuery answers (`invalid` for the bad row, `stopped` for the rest of
 * the request unless `skipInvalidRows`), and can be scripted to fail.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll
 * @see https://cloud.google.com/bigquery/docs/error-messages
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
}

export interface InsertAllBody {
  rows: { insertId?: string; json: Record<string, unknown> }[];
  skipInvalidRows?: boolean;
  ignoreUnknownValues?: boolean;
  [key: string]: unknown;
}

/** What the next insertAll request gets instead of the normal answer. */
export type ScriptedFault =
  { kind: 'status'; status: number } | { kind: 'rowErrors'; reason: string; match: (insertId: string) => boolean } | { kind: 'hangUp' };

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
    return handleInsertAll(state, body as unknown as InsertAllBody, res);
  };

  const handleInsertAll = (state: TableState, body: InsertAllBody, res: ServerResponse): void => {
    const fault = faults.shift();
    if (fault?.kind === 'status') return answerError(res, fault.status, fault.status === 429 ? 'rateLimitExceeded' : 'backendError', 'scripted failure');
    if (fault?.kind === 'hangUp') {
      res.socket?.destroy();
      return;
    }
    const rows = Array.isArray(body.rows) ? body.rows : [];
    if (rows.length === 0) return answerError(res, 400, 'invalid', 'No rows present in the request.');
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
      (body) => {
        const recorded: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body };
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

function fitsType(type: string, value: unknown): boolean {
  switch (type) {
    case 'STRING':
      return typeof value === 'string';
    case 'INTEGER':
      return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
    case 'FLOAT':
      return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)));
    case 'BOOLEAN':
      return typeof value === 'boolean';
    case 'TIMESTAMP':
      return typeof value === 'number' || (typeof value === 'string' && !Number.isNaN(Date.parse(value)));
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

/** The error envelope of Google APIs, which the client turns into an ApiError with `code`. */
function answerError(res: ServerResponse, status: number, reason: string, message: string): void {
  answer(res, status, { error: { code: status, message, errors: [{ reason, message, domain: 'global' }], status: reason } });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}
