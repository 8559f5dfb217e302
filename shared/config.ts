/**
 * Configuration, from environment variables only (DESIGN.md "Running it").
 */
import path from 'node:path';

export interface Config {
  projectId: string;
  telemetryTopic: string;
  deadLetterTopic: string;
  bigQueryDataset: string;
  /** True when BigQuery, rather than the embedded DuckDB, is the warehouse. */
  useBigQuery: boolean;
  databaseUrl?: string;
  instanceConnectionName?: string;
  dataDir: string;
  adminToken?: string;
  deviceRateLimit?: string;
  logLevel: string;
  pubsubEmulatorHost?: string;
  /** Pool size per instance; keep pool × max instances under the server's connection limit. */
  pgPoolMax: number;
  /** Production mode: verify the OIDC token on Pub/Sub pushes. */
  production: boolean;
  /** Apply migrations on first database use (off in production: `npm run migrate` does it once). */
  migrateOnStart: boolean;
  /** Cloud SQL connector: IAM database user (DB_USER), database (DB_NAME), PRIVATE or PUBLIC IP. */
  cloudSql: { user?: string; database: string; ipType: 'PUBLIC' | 'PRIVATE' };
  /** How long the bridge trusts cached device credentials: a blocked device is refused within it. */
  credentialCacheTtlMs: number;
  /** IoT Core state notifications (`setState`) go to this topic (STATE_TOPIC). */
  stateTopic: string;
  /** How often, at most, the bridge asks which device configs changed (CONFIG_REFRESH_MS). */
  configRefreshMs: number;
  /** Ingest group commit: rows per batch, wait for company, concurrent batch writes. Off = one write per request. */
  ingestBatch: { enabled: boolean; maxRows: number; maxWaitMs: number; concurrency: number };
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

const nonNegative = (v: string | undefined, fallback: number): number => {
  const n = Number(nonEmpty(v) ?? fallback);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

export function loadConfig(env: Env = process.env): Config {
  const projectId = nonEmpty(env.GOOGLE_CLOUD_PROJECT) ?? 'local-project';
  const dataset = nonEmpty(env.BIGQUERY_DATASET);
  return {
    projectId,
    telemetryTopic: nonEmpty(env.TELEMETRY_TOPIC) ?? 'telemetry',
    deadLetterTopic: nonEmpty(env.DEAD_LETTER_TOPIC) ?? 'telemetry-dead-letter',
    bigQueryDataset: dataset ?? 'telemetry',
    useBigQuery: dataset !== undefined && nonEmpty(env.GOOGLE_CLOUD_PROJECT) !== undefined,
    databaseUrl: nonEmpty(env.DATABASE_URL),
    instanceConnectionName: nonEmpty(env.INSTANCE_CONNECTION_NAME),
    dataDir: path.resolve(nonEmpty(env.DATA_DIR) ?? '.data'),
    adminToken: nonEmpty(env.ADMIN_TOKEN),
    deviceRateLimit: nonEmpty(env.DEVICE_RATE_LIMIT),
    logLevel: nonEmpty(env.LOG_LEVEL) ?? 'info',
    pubsubEmulatorHost: nonEmpty(env.PUBSUB_EMULATOR_HOST),
    pgPoolMax: Number(nonEmpty(env.PG_POOL_MAX) ?? 5),
    production: env.NODE_ENV === 'production' || nonEmpty(env.K_SERVICE) !== undefined,
    migrateOnStart: env.MIGRATE_ON_START !== 'false',
    cloudSql: {
      user: nonEmpty(env.DB_USER),
      database: nonEmpty(env.DB_NAME) ?? 'telemetry',
      ipType: env.CLOUD_SQL_IP_TYPE === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC',
    },
    credentialCacheTtlMs: nonNegative(env.CREDENTIAL_CACHE_TTL_MS, 5_000),
    stateTopic: nonEmpty(env.STATE_TOPIC) ?? 'device-state',
    configRefreshMs: nonNegative(env.CONFIG_REFRESH_MS, 1_000),
    ingestBatch: {
      enabled: env.INGEST_GROUP_COMMIT !== 'off',
      maxRows: Number(nonEmpty(env.INGEST_BATCH_MAX_ROWS) ?? 1000),
      maxWaitMs: Number(nonEmpty(env.INGEST_BATCH_WAIT_MS) ?? 5),
      concurrency: Number(nonEmpty(env.INGEST_BATCH_CONCURRENCY) ?? 4),
    },
  };
}
