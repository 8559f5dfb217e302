/**
 * The BigQuery insertAll stand-in (test support) in a process of its own, with the
 * measurements table created, so a benchmarked ingest can write to it over HTTP from the other
 * core. GET /healthz on PORT answers `{"url": <stand-in endpoint>}`.
 * Run: `PORT=n node bench/servers/bigquery-standin.ts`.
 */
import { createServer } from 'node:http';
import { bigQueryMeasurementsTable } from '../../schemas/columns.ts';
import { startBigQueryStandIn } from '../../test/support/bigquery-standin.ts';

const standIn = await startBigQueryStandIn();
standIn.createTable(process.env.BIGQUERY_DATASET ?? 'telemetry', 'measurements', bigQueryMeasurementsTable());
createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ url: standIn.url, insertAllRequests: standIn.insertAllRequests().length }));
}).listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
