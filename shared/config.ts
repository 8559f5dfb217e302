/**
 * Configuration, from environment variables only (docs/architecture.md).
 */
import { isIP } from 'node:net';
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
  /**
   * HOST: the interface servers listen on. Unset, the local stack keeps to loopback and a
   * function run alone listens on all interfaces (Knative and Cloud Run need that).
   */
  host?: string;
  /** Deadlines of dependency calls, in ms (docs/reliability.md "Deadlines and liveness"). */
  deadlines: DependencyDeadlines;
  /**
   * The local stack's push delivery (in-process Pub/Sub or emulator): exponential backoff
   * between attempts and attempts before the dead-letter topic. The defaults span ~14 min
   * (at least ~10.5 min with jitter), so a store down for minutes dead-letters nothing.
   * @see ../docs/reliability.md "Retry windows"
   */
  pubsubDelivery: { minBackoffMs: number; maxBackoffMs: number; maxDeliveryAttempts: number };
  /** readings: bearer secret for applications (ADMIN_TOKEN is accepted too). */
  readToken?: string;
  /** readings: the local stack's port (READINGS_PORT, default 8084). */
  readingsPort: number;
  /** readings: every query is cancelled after this long (READINGS_STATEMENT_TIMEOUT_MS, default 5000). */
  readingsStatementTimeoutMs: number;
  /** What `npm run maintain` keeps, in whole days (docs/lifecycle.md). */
  retention: { readingsDays: number; rejectedDays: number; bigQueryPartitionExpirationDays?: number };
  /**
   * Who may call the registry's POST /v1/maintenance:run with a Google-signed OIDC token
   * instead of the admin token (Cloud Scheduler): MAINTENANCE_AUTH_AUDIENCE and
   * MAINTENANCE_AUTH_EMAILS (comma list), both or neither; MAINTENANCE_AUTH_CERTS_URL for tests.
   */
  maintenanceAuth?: { audience: string; allowedEmails: string[]; certsUrl?: string };
}

export interface DependencyDeadlines {
  /** PG_CONNECT_TIMEOUT_MS: opening a PostgreSQL connection (and waiting for a pooled one). */
  pgConnectMs: number;
  /** PG_STATEMENT_TIMEOUT_MS: the server cancels a statement running longer (statement_timeout). */
  pgStatementMs: number;
  /** The client gives up on a reply this long after sending (a server that went silent). */
  pgQueryMs: number;
  /** INGEST_FLUSH_TIMEOUT_MS: one group-commit batch, both stores; a slot is never held longer. */
  batchFlushMs: number;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

const nonNegative = (v: string | undefined, fallback: number): number => {
  const n = Number(nonEmpty(v) ?? fallback);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** A duration in ms from `name`, or `fallback` when unset; anything else stops start-up. */
function durationMs(env: Env, name: string, fallback: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw} is not a positive number of milliseconds`);
  return n;
}

/** HOST: an IP address or a host name; anything else stops start-up naming the variable. */
function parseHost(raw: string | undefined): string | undefined {
  const host = nonEmpty(raw)?.trim();
  if (host === undefined) return undefined;
  if (isIP(host) || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) return host;
  throw new Error(`HOST=${raw} is not an IP address or host name (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)`);
}

/** An integer setting within bounds; anything else stops start-up naming the variable. */
function boundedInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = nonEmpty(env[name]);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${text} must be an integer from ${min} to ${max}`);
  return n;
}

/** A bearer secret: printable ASCII without spaces (it travels in an Authorization header). */
function bearerSecret(env: Env, name: string): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw !== undefined && !/^[\x21-\x7e]{16,512}$/.test(raw)) throw new Error(`${name} must be 16 to 512 printable ASCII characters without spaces`);
  return raw;
}

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
  const pgStatementMs = durationMs(env, 'PG_STATEMENT_TIMEOUT_MS', 10_000);
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
    host: parseHost(env.HOST),
    deadlines: {
      pgConnectMs: durationMs(env, 'PG_CONNECT_TIMEOUT_MS', 5_000),
      pgStatementMs,
      // Past the server's own cancel, so that a live server answers with its error first.
      pgQueryMs: pgStatementMs + 2_000,
      batchFlushMs: durationMs(env, 'INGEST_FLUSH_TIMEOUT_MS', 30_000),
    },
    // Pub/Sub's own bounds: backoff 0..600 s, 5..100 delivery attempts.
    pubsubDelivery: {
      minBackoffMs: boundedInt(env, 'PUBSUB_MIN_BACKOFF_MS', 2_000, 0, 600_000),
      maxBackoffMs: boundedInt(env, 'PUBSUB_MAX_BACKOFF_MS', 120_000, 0, 600_000),
      maxDeliveryAttempts: boundedInt(env, 'PUBSUB_MAX_DELIVERY_ATTEMPTS', 13, 5, 100),
    },
    readToken: bearerSecret(env, 'READ_TOKEN'),
    readingsPort: boundedInt(env, 'READINGS_PORT', 8084, 0, 65535),
    readingsStatementTimeoutMs: boundedInt(env, 'READINGS_STATEMENT_TIMEOUT_MS', 5_000, 1, 600_000),
    retention: {
      readingsDays: days(env, 'READINGS_RETENTION_DAYS', 30),
      rejectedDays: days(env, 'REJECTED_RETENTION_DAYS', 30),
      bigQueryPartitionExpirationDays: days(env, 'BIGQUERY_PARTITION_EXPIRATION_DAYS'),
    },
    maintenanceAuth: maintenanceAuth(env),
  };
}
