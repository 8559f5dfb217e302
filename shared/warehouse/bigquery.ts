/**
 * The production warehouse: BigQuery `measurements` through tabledata.insertAll.
 *
 * Every row carries its stable `insertId` (reading_id:metric) so BigQuery drops a re-sent
 * row (best effort; the dedupe view in schemas/queries does the rest). A response can fail
 * some rows only: rows BigQuery calls `invalid` are refused for good (they go to `rejected`);
 * the others (`stopped` because an invalid row sank the request, `backendError`, `timeout`…)
 * are sent again, alone, with backoff. A whole request is sent again after 5xx, 429, 408 and
 * BigQuery's rate limits and quotas (403 with reason `rateLimitExceeded`, `quotaExceeded`). The client library is imported on first write, since
 * loading it costs ~200 ms of cold start.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll
 * @see https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#dataconsistency
 * @see https://cloud.google.com/bigquery/quotas#streaming_inserts
 */
import type { BigQuery, BigQueryOptions, Table } from '@google-cloud/bigquery';
import { bigQueryMeasurementsTable } from '../../schemas/columns.ts';
import type { MeasurementRow } from '../../schemas/tables.ts';
import { exponentialDelayMs, jittered } from '../backoff.ts';
import { isProgrammingError, TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createBigQueryRowEncoder, type BigQueryRawRow } from './measurement-encoding.ts';
import { createInsertAllClient, InsertAllHttpError, type InsertAllClient } from './insert-all-client.ts';
import type { RefusedRow, WarehouseSink } from './sink.ts';

export interface BigQuerySinkOptions {
  projectId: string;
  dataset: string;
  /** Defaults to `measurements`. */
  table?: string;
  logger: Logger;
  /** Another endpoint than bigquery.googleapis.com, e.g. a local stand-in in tests. */
  apiEndpoint?: string;
  /** Credentials other than Application Default Credentials (BigQueryOptions' authClient). */
  authClient?: BigQueryOptions['authClient'];
  /** Retries of a request or of its failed rows before TransientError (default 4). */
  maxRetries?: number;
  /** First backoff delay; doubles per retry up to `maxDelayMs` (defaults 200 ms and 5 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Create the dataset and table when missing (off by default: deployments own them). */
  createTable?: boolean;
  /** Bounds of one insertAll request (defaults 500 rows, 9 MB; BigQuery allows 50k / 10 MB). */
  maxRowsPerRequest?: number;
  maxBytesPerRequest?: number;
  /** BIGQUERY_PARTITION_EXPIRATION_DAYS: set on the table when it is created here. */
  partitionExpirationDays?: number;
  /** HTTPS_PROXY, NO_PROXY… for the insertAll requests, as the client's own requests honour them. */
  proxyEnv?: Record<string, string | undefined>;
}

/** Row-level reasons that retrying the same row cannot fix. */
const PERMANENT_ROW_REASONS = new Set(['invalid']);
/** HTTP statuses worth retrying: overload and server-side failures. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/**
 * BigQuery answers its rate limits and quotas with 403, the status of a refused permission
 * too: only the reason tells them apart. Both limits are per second or minute, so they pass.
 * @see https://cloud.google.com/bigquery/docs/error-messages
 * @see https://cloud.google.com/bigquery/docs/troubleshoot-quotas
 */
const RETRYABLE_403_REASONS = new Set(['rateLimitExceeded', 'quotaExceeded']);

/**
 * Creates the BigQuery sink; no client is loaded and no request made until the first write.
 * @see ../../docs/data-model.md: the warehouse and its identity rule
 */
export function createBigQuerySink(options: BigQuerySinkOptions): WarehouseSink {
  const settings = {
    table: options.table ?? 'measurements',
    maxRetries: options.maxRetries ?? 4,
    initialDelayMs: options.initialDelayMs ?? 200,
    maxDelayMs: options.maxDelayMs ?? 5_000,
    maxRows: options.maxRowsPerRequest ?? 500,
    maxBytes: options.maxBytesPerRequest ?? 9_000_000,
  };
  const logger = options.logger.child({ warehouse: 'bigquery', dataset: options.dataset, table: settings.table });
  let table: Promise<OpenTable> | undefined;
  const getTable = (): Promise<OpenTable> => {
    table ??= openTable(options, settings.table).catch((error: unknown) => {
      table = undefined;
      throw toTransient('BigQuery table could not be opened', error);
    });
    return table;
  };

  const insertChunk = async (chunk: BigQueryRawRow[], byInsertId: Map<string, MeasurementRow>): Promise<RefusedRow[]> => {
    const target = await getTable();
    const refused: RefusedRow[] = [];
    let pending = chunk;
    let failure: unknown;
    for (let attempt = 0; attempt <= settings.maxRetries; attempt++) {
      let wait = true;
      try {
        const partial = await insertAll(target.inserts, pending);
        if (partial.length === 0) return refused;
        failure = new Error(`BigQuery failed ${partial.length} rows`);
        const retry: { row: BigQueryRawRow; stopped: boolean }[] = [];
        for (const { row, errors } of partial) {
          const invalid = errors.find((e) => PERMANENT_ROW_REASONS.has(e.reason ?? ''));
          const measurement = byInsertId.get(row.insertId);
          if (invalid && measurement) refused.push({ row: measurement, reason: 'invalid', message: invalid.message ?? '' });
          else retry.push({ row, stopped: errors.every((e) => e.reason === 'stopped') });
        }
        logger.warn('BigQuery failed some rows', { refused: refused.length, retrying: retry.length, attempt });
        if (retry.length === 0) return refused;
        pending = retry.map((r) => r.row);
        // Rows stopped only because an invalid row sank the request can go again at once.
        wait = !retry.every((r) => r.stopped);
      } catch (error) {
        // A bug fails the same way on every retry: it is not BigQuery being unavailable.
        if (isProgrammingError(error)) throw error;
        failure = error;
        if (!isRetryable(error)) throw toTransient(`BigQuery insertAll failed (${describe(error)})`, error);
        logger.warn('BigQuery insertAll failed, retrying', { error: describe(error), rows: pending.length, attempt });
      }
      if (wait && attempt < settings.maxRetries) await sleep(jittered(exponentialDelayMs(attempt, settings.initialDelayMs, settings.maxDelayMs), 0, 1));
    }
    throw toTransient(`BigQuery insertAll: ${pending.length} rows not written after ${settings.maxRetries + 1} attempts`, failure);
  };

  return {
    kind: 'bigquery',
    async write(rows) {
      if (rows.length === 0) return { refused: [] };
      const byInsertId = new Map<string, MeasurementRow>();
      const raw: BigQueryRawRow[] = [];
      const encode = createBigQueryRowEncoder();
      for (const row of rows) {
        const encoded = encode(row);
        // The same row twice in one call is one row; sending it once saves BigQuery the dedupe.
        if (byInsertId.has(encoded.insertId)) continue;
        byInsertId.set(encoded.insertId, row);
        raw.push(encoded);
      }
      const chunks = splitRequests(raw, settings.maxRows, settings.maxBytes, (r) => Buffer.byteLength(r.text) + 1);
      const settled = await Promise.allSettled(chunks.map((chunk) => insertChunk(chunk, byInsertId)));
      const refused: RefusedRow[] = [];
      for (const outcome of settled) {
        if (outcome.status === 'rejected') throw outcome.reason;
        for (const row of outcome.value) refused.push(row);
      }
      return { refused };
    },
    async applyRetention(days) {
      const { table: target } = await getTable();
      const [metadata] = (await target.getMetadata()) as [{ timePartitioning?: Record<string, unknown> }, ...unknown[]];
      const expirationMs = String(days * 86_400_000);
      const current = metadata.timePartitioning ?? { type: 'DAY', field: 'event_ts' };
      if (String(current.expirationMs ?? '') === expirationMs)
        return `BigQuery ${options.dataset}.${settings.table}: partitions already expire after ${days} days`;
      // tables.patch with the whole timePartitioning: the fields sent replace the table's.
      await target.setMetadata({ timePartitioning: { ...current, expirationMs } });
      logger.info('BigQuery partition expiration set', { days });
      return `BigQuery ${options.dataset}.${settings.table}: partitions now expire after ${days} days (was ${current.expirationMs === undefined ? 'never' : `${Number(current.expirationMs) / 86_400_000} days`})`;
    },
    async close() {
      // Nothing is buffered here (a write returns once BigQuery answered); only sockets to close.
      const open = table;
      table = undefined;
      (await open?.catch(() => undefined))?.inserts.close();
    },
  };
}

/** The client's table (creation, metadata) and the lean path its rows are inserted through. */
interface OpenTable {
  table: Table;
  inserts: InsertAllClient;
}

async function openTable(options: BigQuerySinkOptions, tableId: string): Promise<OpenTable> {
  const { BigQuery: Client } = await import('@google-cloud/bigquery');
  const client: BigQuery = new Client({
    projectId: options.projectId,
    ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
    ...(options.authClient ? { authClient: options.authClient } : {}),
    // Retries are ours: per row and bounded, so the client must not retry whole requests too.
    autoRetry: false,
    timeout: options.timeoutMs ?? 30_000,
  } as BigQueryOptions);
  const dataset = client.dataset(options.dataset);
  const table = dataset.table(tableId);
  if (options.createTable) await ensureTable(dataset, table, options.partitionExpirationDays);
  // The client keeps BIGQUERY_EMULATOR_HOST as given; a trailing slash would double here.
  const url = `${client.baseUrl.replace(/\/+$/, '')}/projects/${encodeURIComponent(options.projectId)}/datasets/${encodeURIComponent(options.dataset)}/tables/${encodeURIComponent(tableId)}/insertAll`;
  const inserts = createInsertAllClient({
    url,
    // The client's own credentials (ADC, or the auth client given), token cached and refreshed there.
    authHeaders: (target) => client.authClient.getRequestHeaders(target),
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.proxyEnv ? { proxyEnv: options.proxyEnv } : {}),
  });
  return { table, inserts };
}

/** Creates the dataset and the partitioned, clustered table when missing. */
async function ensureTable(dataset: ReturnType<BigQuery['dataset']>, table: Table, partitionExpirationDays?: number): Promise<void> {
  const [datasetExists] = await dataset.exists();
  if (!datasetExists) await ignoreConflict(dataset.create());
  const [tableExists] = await table.exists();
  if (!tableExists) await ignoreConflict(table.create(bigQueryMeasurementsTable({ partitionExpirationDays })));
}

/** Another instance may have created it first: 409 is success here. */
async function ignoreConflict(creating: Promise<unknown>): Promise<void> {
  try {
    await creating;
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
}

/**
 * Splits rows into insertAll requests within the row and byte bounds.
 * @see https://cloud.google.com/bigquery/quotas#streaming_inserts
 */
export function splitRequests<T>(
  rows: readonly T[],
  maxRows: number,
  maxBytes: number,
  // +1 for the comma between rows; the envelope is a few bytes more, within the margin.
  sizeOf: (row: T) => number = (row) => Buffer.byteLength(JSON.stringify(row)) + 1,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = sizeOf(row);
    if (current.length > 0 && (current.length >= maxRows || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

interface PartialFailure {
  row: BigQueryRawRow;
  errors: { reason?: string; message?: string }[];
}

/**
 * One tabledata.insertAll call, the body serialised once here from the rows' encoded text.
 * (`Table.insert` would deep-copy every row and walk it for `{{projectId}}` tokens to replace,
 * which also rewrote a device's text value that happened to contain one.)
 * @returns the rows that failed, with BigQuery's reasons (empty when all were inserted).
 */
async function insertAll(inserts: InsertAllClient, rows: BigQueryRawRow[]): Promise<PartialFailure[]> {
  const body = `{"kind":"bigquery#tableDataInsertAllRequest","skipInvalidRows":false,"ignoreUnknownValues":false,"rows":[${rows.map((r) => r.text).join(',')}]}`;
  const response = await inserts.post(body);
  return (response.insertErrors ?? []).flatMap(({ index, errors }) => {
    const row = rows[index];
    return row ? [{ row, errors: errors ?? [] }] : [];
  });
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * 5xx, 429 and 408, BigQuery's rate limits and quotas (403 `rateLimitExceeded`,
 * `quotaExceeded`), and errors without an HTTP status (refused, reset, timed out). Other
 * statuses (400 on the request, 403 `accessDenied`, 404) are not retried here but still end as
 * a TransientError: they mean a table or permission the deployment must fix, and the messages
 * wait in Pub/Sub (then in `rejected`, replayable) until it is fixed.
 */
function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  if (status === 403) return error instanceof InsertAllHttpError && RETRYABLE_403_REASONS.has(error.reason ?? '');
  return status === undefined || RETRYABLE_STATUS.has(status);
}

function describe(error: unknown): string {
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `${status} ${message}`;
}

function toTransient(message: string, cause: unknown): TransientError {
  return cause instanceof TransientError ? cause : new TransientError(message, { cause });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
