/**
 * The insertAll client on its own, against the REST stand-in and small servers that answer what
 * BigQuery never should: credentials that cannot be found, a proxy in the way, a body that is not
 * JSON, an answer far too large.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bigQueryMeasurementsTable } from '../../../schemas/columns.ts';
import { TransientError } from '../../../shared/errors.ts';
import { createLogger } from '../../../shared/log.ts';
import { createBigQuerySink } from '../../../shared/warehouse/bigquery.ts';
import { createInsertAllClient, type InsertAllClient } from '../../../shared/warehouse/insert-all-client.ts';
import { createBigQueryRowEncoder } from '../../../shared/warehouse/measurement-encoding.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from '../../support/bigquery-standin.ts';
import { makeMeasurementRow, makeMeasurementRows } from '../../support/measurement-rows.ts';

const DATASET = 'telemetry';
const TABLE = 'measurements';
/** One valid row, as the sink encodes it. */
const BODY = `{"kind":"bigquery#tableDataInsertAllRequest","rows":[${createBigQueryRowEncoder()(makeMeasurementRow(0)).text}]}`;
let standIn: BigQueryStandIn;
let servers: Server[] = [];
let clients: InsertAllClient[] = [];

beforeAll(async () => {
  standIn = await startBigQueryStandIn();
});
afterAll(async () => {
  await standIn.close();
});
beforeEach(() => {
  standIn.reset();
  standIn.createTable(DATASET, TABLE, bigQueryMeasurementsTable());
});
afterEach(async () => {
  for (const client of clients) client.close();
  clients = [];
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  servers = [];
});

const insertAllUrl = (base: string) => `${base}/bigquery/v2/projects/local-project/datasets/${DATASET}/tables/${TABLE}/insertAll`;

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

describe('insertAll client', () => {
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
    const proxied: string[] = [];
    // A forward proxy for plain HTTP: the request line carries the whole target URL.
    const proxy = await serve((req, res) => {
      proxied.push(req.url ?? '');
      const upstream = request(req.url ?? '', { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    const url = insertAllUrl(standIn.url);
    expect(await client(url, { proxyEnv: { HTTP_PROXY: proxy } }).post(BODY)).toEqual({ kind: 'bigquery#tableDataInsertAllResponse' });
    expect(proxied).toEqual([url]);
    expect(standIn.insertAllRequests()).toHaveLength(1);
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
