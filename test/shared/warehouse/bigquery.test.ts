/**
 * The BigQuery sink, with the real @google-cloud/bigquery client talking to the local REST
 * stand-in (no BigQuery emulator exists; the client's `apiEndpoint` points it here); and its
 * insertAll client alone, against the stand-in and small servers that answer what BigQuery never
 * should (credentials that cannot be found, a proxy in the way, a body that is not JSON, an
 * answer far too large).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { bigQueryMeasurementsTable } from '../../../schemas/columns.ts';
import type { MeasurementRow } from '../../../schemas/tables.ts';
import { TransientError } from '../../../shared/errors.ts';
import { createLogger } from '../../../shared/log.ts';
import { createBigQuerySink, splitRequests, type BigQuerySinkOptions } from '../../../shared/warehouse/bigquery.ts';
import { createInsertAllClient, type InsertAllClient } from '../../../shared/warehouse/insert-all-client.ts';
import { createBigQueryRowEncoder, measurementKeyOf } from '../../../shared/warehouse/measurement-encoding.ts';
import type { WarehouseSink } from '../../../shared/warehouse/sink.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from '../../support/bigquery-standin.ts';
import { makeMeasurementRow, makeMeasurementRows } from '../../support/measurement-rows.ts';
import { PROXY_REFUSAL, startForwardProxy, startStubbornProxy } from '../../support/net.ts';
import { startTcpProxy } from '../../support/tcp-proxy.ts';

const DATASET = 'telemetry';
const TABLE = 'measurements';
let standIn: BigQueryStandIn;
let sinks: WarehouseSink[] = [];

beforeAll(async () => {
  standIn = await startBigQueryStandIn();
});
afterAll(async () => {
  await standIn.close();
});
beforeEach(() => {
  // A fresh table, request log and fault script per test.
  standIn.reset();
  standIn.createTable(DATASET, TABLE, bigQueryMeasurementsTable());
});
afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  sinks = [];
});

function makeSink(options: Partial<BigQuerySinkOptions> = {}): WarehouseSink {
  const sink = createBigQuerySink({
    projectId: 'local-project',
    dataset: DATASET,
    logger: createLogger({ level: 'error' }),
    apiEndpoint: standIn.url,
    authClient: standInAuth(),
    initialDelayMs: 1,
    maxDelayMs: 5,
    ...options,
  });
  sinks.push(sink);
  return sink;
}

const insertIdsOf = (request: { rows: { insertId?: string }[] } | undefined) => request?.rows.map((r) => r.insertId) ?? [];
const stored = () => standIn.storedRows(DATASET, TABLE);
/**
 * A row BigQuery refuses: a boolean where the schema has a STRING (BigQuery answers `invalid`
 * for it, saying it cannot convert a bool to a string, and `stopped` for the request's other rows).
 */
const badRow = (i: number): MeasurementRow => makeMeasurementRow(i, { device_id: true as unknown as string });

describe('BigQuery sink against the insertAll stand-in', () => {
  it('sends raw rows with one stable insertId per metric row and every column encoded', async () => {
    const rows = makeMeasurementRows(4);
    expect(await makeSink().write(rows)).toEqual({ refused: [] });

    const requests = standIn.requests.filter((r) => r.path.includes('/insertAll'));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.path.split('?')[0]).toBe(`/bigquery/v2/projects/local-project/datasets/${DATASET}/tables/${TABLE}/insertAll`);
    expect(requests[0]?.headers.authorization).toBe('Bearer stand-in');
    const body = standIn.insertAllRequests()[0];
    expect(body?.skipInvalidRows).toBe(false);
    expect(body?.ignoreUnknownValues).toBe(false);
    expect(insertIdsOf(body)).toEqual(['r-00000000:temp', 'r-00000000:humidity', 'r-00000000:door.open', 'r-00000000:status']);
    const columns = bigQueryMeasurementsTable().schema.fields.map((f) => f.name);
    expect(Object.keys(body?.rows[0]?.json ?? {})).toEqual(columns);
    expect(body?.rows[0]?.json).toMatchObject({
      reading_id: 'r-00000000',
      event_ts: '2026-11-01T00:00:00.000Z',
      ingested_at: '2026-11-01T00:00:00.120Z',
      tags: '{"line":"0"}',
      value: 20,
      value_bool: null,
      seq: 0,
    });
    expect(stored()).toHaveLength(4);
  });

  it('lands the same rows once: duplicates in a call are sent once, a second call is deduped by insertId', async () => {
    const sink = makeSink();
    const rows = makeMeasurementRows(6);
    await sink.write([...rows, ...rows.slice(0, 2)]);
    await sink.write(rows);
    const [first, second] = standIn.insertAllRequests();
    expect(first?.rows).toHaveLength(6);
    expect(insertIdsOf(second)).toEqual(insertIdsOf(first));
    expect(stored()).toHaveLength(6);
  });

  it('refuses invalid rows without retrying them, and resends only the stopped ones', async () => {
    const rows = [makeMeasurementRow(0), badRow(1), makeMeasurementRow(2), badRow(3)];
    const { refused } = await makeSink().write(rows);

    expect(refused.map((r) => [measurementKeyOf(r.row), r.reason])).toEqual([
      [measurementKeyOf(rows[1]!), 'invalid'],
      [measurementKeyOf(rows[3]!), 'invalid'],
    ]);
    expect(refused[0]?.message).toMatch(/device_id/);
    const requests = standIn.insertAllRequests();
    expect(requests.map(insertIdsOf)).toEqual([rows.map(measurementKeyOf), [rows[0], rows[2]].map((r) => measurementKeyOf(r!))]);
    expect(stored().map((r) => `${String(r.reading_id)}:${String(r.metric)}`)).toEqual([rows[0], rows[2]].map((r) => measurementKeyOf(r!)));
  });

  it('stores NaN and the infinities of FLOAT columns as they are, not as null (both warehouses keep them)', async () => {
    const rows = [makeMeasurementRow(0, { value: Number.NaN, lat: Infinity, lon: -Infinity }), makeMeasurementRow(4)];
    expect(await makeSink().write(rows)).toEqual({ refused: [] });
    expect(stored()[0]).toMatchObject({ value: 'NaN', lat: 'Infinity', lon: '-Infinity' });
    expect(stored()).toHaveLength(2);
  });

  it('retries only the rows that failed for a transient reason', async () => {
    const rows = makeMeasurementRows(8);
    const flaky = new Set([measurementKeyOf(rows[2]!), measurementKeyOf(rows[5]!)]);
    standIn.failNext(
      { kind: 'rowErrors', reason: 'backendError', match: (id) => flaky.has(id) },
      { kind: 'rowErrors', reason: 'timeout', match: (id) => id === measurementKeyOf(rows[5]!) },
    );
    expect(await makeSink().write(rows)).toEqual({ refused: [] });
    expect(standIn.insertAllRequests().map(insertIdsOf)).toEqual([rows.map(measurementKeyOf), [...flaky], [measurementKeyOf(rows[5]!)]]);
    expect(stored()).toHaveLength(8);
  });

  it('retries the whole request after 5xx, 429 and a dropped connection, then succeeds', async () => {
    standIn.failNext({ kind: 'status', status: 503 }, { kind: 'status', status: 429 }, { kind: 'hangUp' }, { kind: 'status', status: 500 });
    const rows = makeMeasurementRows(3);
    expect(await makeSink().write(rows)).toEqual({ refused: [] });
    const requests = standIn.insertAllRequests();
    expect(requests).toHaveLength(5);
    for (const request of requests) expect(insertIdsOf(request)).toEqual(rows.map(measurementKeyOf));
    expect(stored()).toHaveLength(3);
  });

  it("retries a request refused for BigQuery's rate limits or quotas (403 rateLimitExceeded, quotaExceeded), then succeeds", async () => {
    standIn.failNext({ kind: 'status', status: 403, reason: 'rateLimitExceeded' }, { kind: 'status', status: 403, reason: 'quotaExceeded' });
    const rows = makeMeasurementRows(3);
    expect(await makeSink().write(rows)).toEqual({ refused: [] });
    expect(standIn.insertAllRequests()).toHaveLength(3);
    expect(stored()).toHaveLength(3);
  });

  it('does not retry a 403 that is not a limit (accessDenied): TransientError at once, for Pub/Sub to redeliver', async () => {
    standIn.failNext({ kind: 'status', status: 403, reason: 'accessDenied' });
    const failing = makeSink().write(makeMeasurementRows(2));
    await expect(failing).rejects.toBeInstanceOf(TransientError);
    await expect(failing).rejects.toThrow(/403 scripted failure/);
    expect(standIn.insertAllRequests()).toHaveLength(1);
  });

  it('throws TransientError after bounded attempts when BigQuery stays down', async () => {
    standIn.failNext(...Array.from({ length: 10 }, () => ({ kind: 'status' as const, status: 503 })));
    const failing = makeSink({ maxRetries: 2 }).write(makeMeasurementRows(2));
    await expect(failing).rejects.toBeInstanceOf(TransientError);
    await expect(failing).rejects.toThrow(/2 rows not written after 3 attempts/);
    expect(standIn.insertAllRequests()).toHaveLength(3);
  });

  it('throws TransientError when rows keep failing for a transient reason', async () => {
    const rows = makeMeasurementRows(3);
    const stuck = measurementKeyOf(rows[1]!);
    standIn.failNext(...Array.from({ length: 3 }, () => ({ kind: 'rowErrors' as const, reason: 'backendError', match: (id: string) => id === stuck })));
    await expect(makeSink({ maxRetries: 2 }).write(rows)).rejects.toThrow(/1 rows not written/);
    expect(standIn.insertAllRequests().map((r) => r.rows.length)).toEqual([3, 1, 1]);
  });

  it("answers TransientError (not a crash) when the table does not exist, naming BigQuery's status and message", async () => {
    const failing = makeSink({ table: 'missing' }).write(makeMeasurementRows(1));
    await expect(failing).rejects.toThrow(TransientError);
    await expect(failing).rejects.toThrow(/404 Not found: Table local-project:telemetry\.missing/);
  });

  it('turns a BigQuery that goes silent into TransientError within its request deadline, then writes once it answers again', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(standIn.url).port) });
    try {
      const sink = makeSink({ apiEndpoint: `http://127.0.0.1:${proxy.port}`, timeoutMs: 300, maxRetries: 1 });
      // A first write opens the kept-alive connection that then goes silent under it.
      await sink.write(makeMeasurementRows(1));
      proxy.silence();
      const started = Date.now();
      await expect(sink.write(makeMeasurementRows(2))).rejects.toThrow(TransientError);
      // Two attempts of 300 ms and one short backoff: seconds, never a wait for the socket to die.
      expect(Date.now() - started).toBeLessThan(5_000);
      await proxy.restore();
      const rows = makeMeasurementRows(3);
      expect(await sink.write(rows)).toEqual({ refused: [] });
      expect(stored().map((r) => `${String(r.reading_id)}:${String(r.metric)}`)).toEqual(expect.arrayContaining(rows.map(measurementKeyOf)));
    } finally {
      await proxy.close();
    }
  });

  it('splits 1,200 rows into requests of at most 500', async () => {
    const rows = makeMeasurementRows(1200);
    await makeSink().write(rows);
    const sizes = standIn
      .insertAllRequests()
      .map((r) => r.rows.length)
      .sort((a, b) => b - a);
    expect(sizes).toEqual([500, 500, 200]);
    expect(new Set(standIn.insertAllRequests().flatMap(insertIdsOf))).toEqual(new Set(rows.map(measurementKeyOf)));
    expect(stored()).toHaveLength(1200);
  });

  it('splits by bytes as well as by rows', () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: i, pad: 'x'.repeat(90) }));
    const chunks = splitRequests(rows, 500, 350);
    expect(chunks.map((c) => c.length)).toEqual([3, 3, 3, 1]);
    expect(splitRequests([{ pad: 'x'.repeat(1000) }], 500, 10)).toHaveLength(1);
  });

  it('creates the dataset and the partitioned, clustered table when asked', async () => {
    const sink = makeSink({ dataset: 'fresh_dataset', createTable: true });
    await sink.write(makeMeasurementRows(2));
    const table = standIn.table('fresh_dataset', TABLE);
    expect(table).toMatchObject({
      timePartitioning: { type: 'DAY', field: 'event_ts' },
      clustering: { fields: ['device_id', 'metric'] },
      requirePartitionFilter: true,
      schema: bigQueryMeasurementsTable().schema,
    });
    expect(standIn.storedRows('fresh_dataset', TABLE)).toHaveLength(2);
  });
});

describe('the stand-in answers insertAll as BigQuery documents it', () => {
  it('answers errors in the Google APIs envelope: the HTTP code, the canonical status name, the BigQuery reason', async () => {
    const res = await fetch(insertAllUrl(standIn.url).replace(`/tables/${TABLE}/`, '/tables/missing/'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 404,
        message: 'Not found: Table local-project:telemetry.missing',
        errors: [{ reason: 'notFound', message: 'Not found: Table local-project:telemetry.missing', domain: 'global' }],
        status: 'NOT_FOUND',
      },
    });
  });

  it('refuses a whole request over 10 MB with 400 invalid and stores none of it; the sink keeps its requests under it', async () => {
    // 24 rows of ~500 kB: 12 MB in all.
    const rows = Array.from({ length: 24 }, (_, i) => makeMeasurementRow(i * 4 + 3, { value_text: 'x'.repeat(500_000) }));
    const oversized = makeSink({ maxBytesPerRequest: 20_000_000, maxRetries: 0 }).write(rows);
    await expect(oversized).rejects.toThrow(TransientError);
    await expect(oversized).rejects.toThrow(/400 Request payload size exceeds the limit: 10485760 bytes/);
    expect(stored()).toHaveLength(0);

    expect(await makeSink().write(rows)).toEqual({ refused: [] });
    // The refused request, then the sink's own: concurrent, so in any order.
    const [refused, ...sent] = standIn.insertAllRequests().map((r) => r.rows.length);
    expect(refused).toBe(24);
    expect(sent.sort((a, b) => b - a)).toEqual([17, 7]);
    expect(stored()).toHaveLength(24);
  });
});

/** One valid row, as the sink encodes it. */
const BODY = `{"kind":"bigquery#tableDataInsertAllRequest","rows":[${createBigQueryRowEncoder()(makeMeasurementRow(0)).text}]}`;
const insertAllUrl = (base: string) => `${base}/bigquery/v2/projects/local-project/datasets/${DATASET}/tables/${TABLE}/insertAll`;

describe('insertAll client', () => {
  // Small servers that answer what BigQuery never should, and the clients pointed at them.
  let servers: Server[] = [];
  let clients: InsertAllClient[] = [];
  afterEach(async () => {
    for (const created of clients) created.close();
    clients = [];
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    servers = [];
  });

  function client(url: string, options: Partial<Parameters<typeof createInsertAllClient>[0]> = {}): InsertAllClient {
    const created = createInsertAllClient({ url, authHeaders: () => Promise.resolve({ authorization: 'Bearer stand-in' }), timeoutMs: 2_000, ...options });
    clients.push(created);
    return created;
  }

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('sends the request without credentials when none can be found, as the client library does', async () => {
    const noCredentials = () => Promise.reject(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication'));
    expect(await client(insertAllUrl(standIn.url), { authHeaders: noCredentials }).post(BODY)).toEqual({ kind: 'bigquery#tableDataInsertAllResponse' });
    expect(standIn.requests.at(-1)?.headers.authorization).toBeUndefined();
  });

  it('fails, naming the cause, when the credentials fail otherwise', async () => {
    const broken = () => Promise.reject(new Error('metadata server answered 500'));
    await expect(client(insertAllUrl(standIn.url), { authHeaders: broken }).post(BODY)).rejects.toThrow(/metadata server answered 500/);
    expect(standIn.requests).toHaveLength(0);
  });

  it('goes through the proxy the environment names', async () => {
    const proxy = await startForwardProxy();
    try {
      const url = insertAllUrl(standIn.url);
      expect(await client(url, { proxyEnv: { HTTP_PROXY: proxy.url } }).post(BODY)).toEqual({ kind: 'bigquery#tableDataInsertAllResponse' });
      expect(proxy.proxied).toEqual([url]);
      expect(standIn.insertAllRequests()).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it.each([
    { noProxy: '*', proxied: true },
    { noProxy: 'bigquery.example.test, 127.0.0.1', proxied: false },
    { noProxy: 'origin', proxied: false },
    { noProxy: '.0.0.1', proxied: false },
  ])('takes NO_PROXY as the Google clients take it: $noProxy, through the proxy: $proxied', async ({ noProxy, proxied }) => {
    const proxy = await startForwardProxy();
    try {
      const url = insertAllUrl(standIn.url);
      const rule = noProxy === 'origin' ? new URL(url).origin : noProxy;
      expect(await client(url, { proxyEnv: { HTTP_PROXY: proxy.url, NO_PROXY: rule } }).post(BODY)).toEqual({ kind: 'bigquery#tableDataInsertAllResponse' });
      expect(proxy.proxied).toEqual(proxied ? [url] : []);
    } finally {
      await proxy.close();
    }
  });

  it.each([
    { proxy: 'takes the CONNECT and says nothing', answer: '', error: /timeout|aborted/i },
    { proxy: 'refuses the CONNECT with 407 and keeps the connection', answer: PROXY_REFUSAL, error: /407/ },
  ])('fails within its deadline, and lets the tunnel go, when the proxy $proxy (HTTP_PROXY alone naming it)', async ({ answer, error }) => {
    const proxy = await startStubbornProxy(answer);
    try {
      const url = 'https://bigquery.example.test/bigquery/v2/projects/p/datasets/d/tables/t/insertAll';
      const proxied = client(url, { proxyEnv: { HTTP_PROXY: proxy.url }, timeoutMs: 300 });
      await expect(Promise.all([proxied.post(BODY), proxied.post(BODY)])).rejects.toThrow(error);
      await vi.waitFor(() => expect(proxy.requests).toEqual(Array.from({ length: 2 }, () => 'CONNECT bigquery.example.test:443 HTTP/1.1')));
      await vi.waitFor(() => expect(proxy.sockets.map((socket) => socket.closed || socket.readableEnded)).toEqual([true, true]));
    } finally {
      await proxy.close();
    }
  });

  it('refuses an answer far larger than BigQuery ever sends', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.alloc(9 * 1024 * 1024, 0x20));
    });
    await expect(client(insertAllUrl(base)).post(BODY)).rejects.toThrow(/over 8388608 bytes/);
  });

  it('a 2xx answer that is not JSON fails the write as transient (retried, then redelivered), never as bad rows', async () => {
    let posts = 0;
    const base = await serve((req, res) => {
      req.resume();
      if (req.method === 'POST') posts += 1;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>a captive portal</html>');
    });
    const sink = createBigQuerySink({
      projectId: 'local-project',
      dataset: DATASET,
      logger: createLogger({ level: 'error' }),
      apiEndpoint: base,
      authClient: standInAuth(),
      maxRetries: 1,
      initialDelayMs: 1,
    });
    try {
      const failing = sink.write(makeMeasurementRows(2));
      await expect(failing).rejects.toBeInstanceOf(TransientError);
      await expect(failing).rejects.toMatchObject({ cause: { message: expect.stringMatching(/answered 200 with a body that is not JSON/) } });
      expect(posts).toBe(2);
    } finally {
      await sink.close();
    }
  });
});
