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
  /** Ingest group commit: rows per batch, wait for company, concurrent batch writes. Off = one write per request. */
  ingestBatch: { enabled: boolean; maxRows: number; maxWaitMs: number; concurrency: number };
  /** readings: bearer secret for applications (ADMIN_TOKEN is accepted too). */
  readToken?: string;
  /** readings: the local stack's port (READINGS_PORT, default 8084). */
  readingsPort: number;
  /** readings: every query is cancelled after this long (READINGS_STATEMENT_TIMEOUT_MS, default 5000). */
  readingsStatementTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

const nonNegative = (v: string | undefined, fallback: number): number => {
  const n = Number(nonEmpty(v) ?? fallback);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** A whole number in [min, max], or start-up stops naming the variable. */
function boundedInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw} must be a whole number from ${min} to ${max}`);
  return n;
}

/** A bearer secret: printable ASCII without spaces (it travels in an Authorization header). */
function bearerSecret(env: Env, name: string): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw !== undefined && !/^[\x21-\x7e]{16,512}$/.test(raw)) throw new Error(`${name} must be 16 to 512 printable ASCII characters without spaces`);
  return raw;
}

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
    ingestBatch: {
      enabled: env.INGEST_GROUP_COMMIT !== 'off',
      maxRows: Number(nonEmpty(env.INGEST_BATCH_MAX_ROWS) ?? 1000),
      maxWaitMs: Number(nonEmpty(env.INGEST_BATCH_WAIT_MS) ?? 5),
      concurrency: Number(nonEmpty(env.INGEST_BATCH_CONCURRENCY) ?? 4),
    },
    readToken: bearerSecret(env, 'READ_TOKEN'),
    readingsPort: boundedInteger(env, 'READINGS_PORT', 8084, 0, 65535),
    readingsStatementTimeoutMs: boundedInteger(env, 'READINGS_STATEMENT_TIMEOUT_MS', 5_000, 1, 600_000),
  };
}
