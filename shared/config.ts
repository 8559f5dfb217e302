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
  /** What `npm run maintain` keeps, in whole days (docs/lifecycle.md). */
  retention: { readingsDays: number; rejectedDays: number; bigQueryPartitionExpirationDays?: number };
  /**
   * Who may call the registry's POST /v1/maintenance:run with a Google-signed OIDC token
   * instead of the admin token (Cloud Scheduler): MAINTENANCE_AUTH_AUDIENCE and
   * MAINTENANCE_AUTH_EMAILS (comma list), both or neither; MAINTENANCE_AUTH_CERTS_URL for tests.
   */
  maintenanceAuth?: { audience: string; allowedEmails: string[]; certsUrl?: string };
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

const nonNegative = (v: string | undefined, fallback: number): number => {
  const n = Number(nonEmpty(v) ?? fallback);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** A whole number of days (at least 1), or a start-up error naming the variable. */
function days(env: Env, name: string, fallback: number): number;
function days(env: Env, name: string, fallback?: number): number | undefined;
function days(env: Env, name: string, fallback?: number): number | undefined {
  const value = nonEmpty(env[name]);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${value} is not a whole number of days (1 or more)`);
  return n;
}

function maintenanceAuth(env: Env): Config['maintenanceAuth'] {
  const audience = nonEmpty(env.MAINTENANCE_AUTH_AUDIENCE)?.trim();
  const allowedEmails = (env.MAINTENANCE_AUTH_EMAILS ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  if (audience === undefined && allowedEmails.length === 0) return undefined;
  if (audience === undefined) throw new Error('MAINTENANCE_AUTH_EMAILS is set without MAINTENANCE_AUTH_AUDIENCE');
  if (allowedEmails.length === 0) throw new Error('MAINTENANCE_AUTH_AUDIENCE is set without MAINTENANCE_AUTH_EMAILS');
  const certsUrl = nonEmpty(env.MAINTENANCE_AUTH_CERTS_URL);
  return { audience, allowedEmails, ...(certsUrl ? { certsUrl } : {}) };
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
    retention: {
      readingsDays: days(env, 'READINGS_RETENTION_DAYS', 30),
      rejectedDays: days(env, 'REJECTED_RETENTION_DAYS', 30),
      bigQueryPartitionExpirationDays: days(env, 'BIGQUERY_PARTITION_EXPIRATION_DAYS'),
    },
    maintenanceAuth: maintenanceAuth(env),
  };
}
