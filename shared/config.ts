/**
 * Configuration, from environment variables only (docs/architecture.md).
 */
import path from 'node:path';
import {
  days,
  durationMs,
  parseRateLimit,
  type RateLimit,
  MAX_TIMER_MS,
  emails,
  flag,
  host,
  hostAndPort,
  httpUrl,
  integer,
  list,
  matching,
  oneOf,
  optional,
  port,
  postgresUrl,
  secret,
  type Env,
} from './config-values.ts';
import type { PublishTransport } from './pubsub/google-publisher.ts';
import { LOCAL_DELIVERY } from './pubsub/topology.ts';

export interface Config {
  /** GOOGLE_CLOUD_PROJECT, or `local-project` when unset. */
  projectId: string;
  /** GOOGLE_CLOUD_PROJECT as set; undefined locally (the wiring then asks gcloud). */
  googleCloudProject?: string;
  telemetryTopic: string;
  deadLetterTopic: string;
  bigQueryDataset: string;
  /** True when BigQuery, rather than the embedded DuckDB, is the warehouse. */
  useBigQuery: boolean;
  databaseUrl?: string;
  instanceConnectionName?: string;
  dataDir: string;
  adminToken?: string;
  deviceRateLimit?: RateLimit;
  logLevel: 'debug' | 'info' | 'warn' | 'warning' | 'error';
  pubsubEmulatorHost?: string;
  /** What carries publishes to Google Pub/Sub (PUBSUB_PUBLISHER): the project's own gRPC call, or @google-cloud/pubsub's client. */
  pubsubPublisher: PublishTransport;
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
   * The outbound proxy settings Google's clients honour (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, in
   * either case; grpc_proxy, which grpc-js reads), handed to this project's own HTTP clients so
   * that they go the same way.
   */
  proxyEnv: Partial<Record<(typeof PROXY_VARIABLES)[number], string>>;
  /**
   * HOST: the interface servers listen on. Unset, the local stack keeps to loopback and a
   * function run alone listens on all interfaces (Knative and Cloud Run need that).
   */
  host?: string;
  /** PORT: a function run alone (its container, `npm run serve`). */
  port: number;
  /** The local stack's ports (BRIDGE_PORT ... READINGS_PORT, STACK_INTERNAL_PORT). */
  stackPorts: StackPorts;
  /** Deadlines of dependency calls, in ms (docs/reliability.md "Deadlines and liveness"). */
  deadlines: DependencyDeadlines;
  /**
   * The local stack's push delivery (in-process Pub/Sub or emulator): exponential backoff
   * between attempts and attempts before the dead-letter topic. The defaults span ~14 min
   * (at least ~10.5 min with jitter), so a store down for minutes dead-letters nothing.
   * @see ../docs/reliability.md "Retry windows"
   */
  pubsubDelivery: { minBackoffMs: number; maxBackoffMs: number; maxDeliveryAttempts: number };
  /** Pub/Sub push token check (PUSH_AUTH_*), on in production mode. */
  pushAuth: PushAuthConfig;
  /** readings: bearer secret for applications (ADMIN_TOKEN is accepted too). */
  readToken?: string;
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

/** The local stack's ports (docs/architecture.md); 0 picks a free port. */
export interface StackPorts {
  bridge: number;
  ingest: number;
  registry: number;
  deadletter: number;
  readings: number;
  /** The loopback-only internal API (STACK_INTERNAL_PORT, default: a free port). */
  internal: number;
}

/** How ingest and deadletter check the OIDC token on a Pub/Sub push (shared/auth/oidc.ts). */
export interface PushAuthConfig {
  /** PUSH_AUTH_DISABLED=true: no check even in production (Eventarc to GKE sends no token). */
  disabled: boolean;
  /** PUSH_AUTH_AUDIENCE: the audience the subscription signs for. */
  audience?: string;
  /** PUSH_AUTH_ALLOWED_EMAILS: the service accounts allowed to push. */
  allowedEmails: string[];
  /** PUSH_AUTH_CERTS_URL: where the signing certificates are fetched (tests); Google's when unset. */
  certsUrl?: string;
  /** PUSH_AUTH_ISSUERS: accepted `iss` values (tests); Google's when unset. */
  issuers?: string[];
}

/** A Pub/Sub topic name (3 to 255 characters, starting with a letter). */
const TOPIC = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const TOPIC_RULE = '3 to 255 letters, digits and - _ . ~ + %, starting with a letter (not "goog")';
/**
 * Bearer secrets travel in an Authorization header as one token68 (RFC 6750 §2.1), as
 * shared/auth/bearer.ts reads them: a secret with any other character could never be presented.
 */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const TOKEN68_RULE = 'letters, digits and - . _ ~ + / (then = padding), as a bearer token carries them';

function maintenanceAuth(env: Env): Config['maintenanceAuth'] {
  const audience = optional(env, 'MAINTENANCE_AUTH_AUDIENCE')?.trim();
  const allowedEmails = emails(env, 'MAINTENANCE_AUTH_EMAILS');
  const certsUrl = httpUrl(env, 'MAINTENANCE_AUTH_CERTS_URL');
  if (audience === undefined && allowedEmails.length === 0) return undefined;
  if (audience === undefined) throw new Error('MAINTENANCE_AUTH_EMAILS is set without MAINTENANCE_AUTH_AUDIENCE');
  if (allowedEmails.length === 0) throw new Error('MAINTENANCE_AUTH_AUDIENCE is set without MAINTENANCE_AUTH_EMAILS');
  return { audience, allowedEmails, ...(certsUrl ? { certsUrl } : {}) };
}

function pushAuth(env: Env): PushAuthConfig {
  const issuers = list(env, 'PUSH_AUTH_ISSUERS');
  const certsUrl = httpUrl(env, 'PUSH_AUTH_CERTS_URL');
  const audience = optional(env, 'PUSH_AUTH_AUDIENCE')?.trim();
  return {
    disabled: flag(env, 'PUSH_AUTH_DISABLED', false),
    ...(audience ? { audience } : {}),
    allowedEmails: emails(env, 'PUSH_AUTH_ALLOWED_EMAILS'),
    ...(certsUrl ? { certsUrl } : {}),
    ...(issuers.length > 0 ? { issuers } : {}),
  };
}

function stackPorts(env: Env): StackPorts {
  return {
    bridge: port(env, 'BRIDGE_PORT', 8080),
    ingest: port(env, 'INGEST_PORT', 8081),
    registry: port(env, 'REGISTRY_PORT', 8082),
    deadletter: port(env, 'DEADLETTER_PORT', 8083),
    readings: port(env, 'READINGS_PORT', 8084),
    internal: port(env, 'STACK_INTERNAL_PORT', 0),
  };
}

const topic = (env: Env, name: string, fallback: string): string => matching(env, name, TOPIC, TOPIC_RULE)?.trim() ?? fallback;

/** The outbound proxy variables Google's clients read, in both spellings. */
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'grpc_proxy'] as const;

/**
 * Every setting, parsed and checked at start-up: the one place that reads the environment
 * (process.env unless given). A bad value throws an error naming the variable.
 */
export function loadConfig(env: Env = process.env): Config {
  // pgQueryMs adds 2 s to it, and must still be a timer's delay.
  const pgStatementMs = durationMs(env, 'PG_STATEMENT_TIMEOUT_MS', 10_000, MAX_TIMER_MS - 2_000);
  const googleCloudProject = matching(env, 'GOOGLE_CLOUD_PROJECT', /^[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}$/, 'a project id (letters, digits, - . : _)')?.trim();
  // BigQuery itself takes no '-', but the image's compile-cache warm-up (Dockerfile) names its dataset `warm-up`.
  const dataset = matching(env, 'BIGQUERY_DATASET', /^\s*[\w-]{1,1024}\s*$/, 'letters, digits and underscores')?.trim();
  return {
    projectId: googleCloudProject ?? 'local-project',
    ...(googleCloudProject ? { googleCloudProject } : {}),
    telemetryTopic: topic(env, 'TELEMETRY_TOPIC', 'telemetry'),
    deadLetterTopic: topic(env, 'DEAD_LETTER_TOPIC', 'telemetry-dead-letter'),
    bigQueryDataset: dataset ?? 'telemetry',
    useBigQuery: dataset !== undefined && googleCloudProject !== undefined,
    proxyEnv: Object.fromEntries(PROXY_VARIABLES.flatMap((name) => (env[name] ? [[name, env[name]]] : []))),
    databaseUrl: postgresUrl(env, 'DATABASE_URL'),
    instanceConnectionName: matching(env, 'INSTANCE_CONNECTION_NAME', /^\S+:[^:\s]+:[^:\s]+$/, 'project:region:instance'),
    dataDir: path.resolve(optional(env, 'DATA_DIR') ?? '.data'),
    adminToken: secret(env, 'ADMIN_TOKEN', TOKEN68, TOKEN68_RULE),
    deviceRateLimit: optionalRateLimit(env),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'warning', 'error'], 'info'),
    pubsubEmulatorHost: hostAndPort(env, 'PUBSUB_EMULATOR_HOST'),
    pubsubPublisher: oneOf(env, 'PUBSUB_PUBLISHER', ['grpc', 'client'], 'grpc'),
    pgPoolMax: integer(env, 'PG_POOL_MAX', 5, 1, 1000),
    production: env.NODE_ENV === 'production' || optional(env, 'K_SERVICE') !== undefined,
    migrateOnStart: flag(env, 'MIGRATE_ON_START', true),
    cloudSql: {
      user: optional(env, 'DB_USER'),
      database: optional(env, 'DB_NAME') ?? 'telemetry',
      ipType: oneOf(env, 'CLOUD_SQL_IP_TYPE', ['PUBLIC', 'PRIVATE'], 'PUBLIC'),
    },
    credentialCacheTtlMs: integer(env, 'CREDENTIAL_CACHE_TTL_MS', 5_000, 0, 86_400_000),
    stateTopic: topic(env, 'STATE_TOPIC', 'device-state'),
    configRefreshMs: integer(env, 'CONFIG_REFRESH_MS', 1_000, 0, 86_400_000),
    ingestBatch: {
      enabled: oneOf(env, 'INGEST_GROUP_COMMIT', ['on', 'off'], 'on') === 'on',
      maxRows: integer(env, 'INGEST_BATCH_MAX_ROWS', 1000, 1, 100_000),
      maxWaitMs: integer(env, 'INGEST_BATCH_WAIT_MS', 5, 0, 60_000),
      concurrency: integer(env, 'INGEST_BATCH_CONCURRENCY', 4, 1, 1000),
    },
    host: host(env, 'HOST'),
    port: port(env, 'PORT', 8080),
    stackPorts: stackPorts(env),
    deadlines: {
      pgConnectMs: durationMs(env, 'PG_CONNECT_TIMEOUT_MS', 5_000),
      pgStatementMs,
      // Past the server's own cancel, so that a live server answers with its error first.
      pgQueryMs: pgStatementMs + 2_000,
      batchFlushMs: durationMs(env, 'INGEST_FLUSH_TIMEOUT_MS', 30_000),
    },
    pubsubDelivery: pubsubDelivery(env),
    pushAuth: pushAuth(env),
    readToken: secret(env, 'READ_TOKEN', /^(?=.{16,512}$)[A-Za-z0-9\-._~+/]+=*$/, `16 to 512 characters: ${TOKEN68_RULE}`),
    readingsStatementTimeoutMs: integer(env, 'READINGS_STATEMENT_TIMEOUT_MS', 5_000, 1, 600_000),
    retention: {
      readingsDays: days(env, 'READINGS_RETENTION_DAYS', 30),
      rejectedDays: days(env, 'REJECTED_RETENTION_DAYS', 30),
      bigQueryPartitionExpirationDays: days(env, 'BIGQUERY_PARTITION_EXPIRATION_DAYS'),
    },
    maintenanceAuth: maintenanceAuth(env),
  };
}

/** The local Pub/Sub's retry policy, within Pub/Sub's own bounds (backoff 0..600 s, 5..100 attempts). */
function pubsubDelivery(env: Env) {
  const minBackoffMs = integer(env, 'PUBSUB_MIN_BACKOFF_MS', LOCAL_DELIVERY.minBackoffMs, 0, 600_000);
  const maxBackoffMs = integer(env, 'PUBSUB_MAX_BACKOFF_MS', LOCAL_DELIVERY.maxBackoffMs, 0, 600_000);
  if (minBackoffMs > maxBackoffMs) throw new Error(`PUBSUB_MIN_BACKOFF_MS=${minBackoffMs} is more than PUBSUB_MAX_BACKOFF_MS=${maxBackoffMs}`);
  return { minBackoffMs, maxBackoffMs, maxDeliveryAttempts: integer(env, 'PUBSUB_MAX_DELIVERY_ATTEMPTS', LOCAL_DELIVERY.maxDeliveryAttempts, 5, 100) };
}

function optionalRateLimit(env: Env): RateLimit | undefined {
  const text = optional(env, 'DEVICE_RATE_LIMIT');
  return text === undefined ? undefined : parseRateLimit(text);
}
