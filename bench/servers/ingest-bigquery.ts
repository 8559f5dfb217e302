/**
 * The ingest as deployed (BigQuery as its warehouse) for the throughput benchmark: the
 * BigQuery sink points at the stand-in given by BIGQUERY_API_ENDPOINT, with a fixed token so
 * no credentials are looked up. Everything else comes from the environment as usual.
 * Run by bench/ingest.ts for its BigQuery-sink rounds.
 */
import { standInAuth } from '../../test/support/bigquery-standin.ts';
import ingest from '../../functions/ingest/index.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { createPlatform } from '../../shared/runtime/platform.ts';
import { exitOnSignals, serveFunction } from '../../shared/runtime/serve.ts';
import { createBigQuerySink } from '../../shared/warehouse/bigquery.ts';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel });
const endpoint = process.env.BIGQUERY_API_ENDPOINT;
if (!endpoint) throw new Error('BIGQUERY_API_ENDPOINT is required');
const authClient = standInAuth();
const warehouse = createBigQuerySink({ projectId: config.projectId, dataset: config.bigQueryDataset, logger, apiEndpoint: endpoint, authClient });
const platform = createPlatform({ config, logger, providers: { warehouse: () => Promise.resolve(warehouse) } });
exitOnSignals([await serveFunction(ingest, platform, { port: Number(process.env.PORT), host: '127.0.0.1' })], platform);
