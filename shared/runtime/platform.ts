/**
 * The clients a function uses, created lazily on first use and shared by every function in a
 * process. `npm start` builds one Platform for all four functions; a single
 * deployed function builds its own from the environment.
 */
import type { Config } from '../config.ts';
import { loadConfig } from '../config.ts';
import type { Database, QueryOptions, Sql } from '../db/database.ts';
import { DependencyHealth } from '../deadline.ts';
import type { Logger } from '../log.ts';
import { createLogger } from '../log.ts';
import { openPublisher } from '../pubsub/open-publisher.ts';
import type { Publisher } from '../pubsub/publisher.ts';
import type { WarehouseSink } from '../warehouse/sink.ts';

export interface Providers {
  database: () => Promise<Database>;
  warehouse: () => Promise<WarehouseSink>;
  publisher: () => Promise<Publisher>;
}

export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  database(): Promise<Database>;
  warehouse(): Promise<WarehouseSink>;
  publisher(): Promise<Publisher>;
  /** Timeouts of the clients above, as `/healthz` reports them. */
  readonly health: DependencyHealth;
  /** Closes every client that was created. */
  close(): Promise<void>;
}

/** Memoises an async factory; a failed creation is retried on the next call. */
export function lazy<T>(create: () => Promise<T>): { get: () => Promise<T>; peek: () => Promise<T> | undefined } {
  let value: Promise<T> | undefined;
  return {
    get: () => {
      value ??= create().catch((error: unknown) => {
        value = undefined;
        throw error;
      });
      return value;
    },
    peek: () => value,
  };
}

async function defaultDatabase(config: Config): Promise<Database> {
  const { openDatabase } = await import('../db/database.ts');
  const db = await openDatabase(config);
  if (db.kind === 'pglite' || config.migrateOnStart) {
    const { migrate } = await import('../db/migrate.ts');
    await migrate(db);
  }
  return db;
}

async function defaultWarehouse(config: Config, logger: Logger): Promise<WarehouseSink> {
  if (config.useBigQuery) {
    const { createBigQuerySink } = await import('../warehouse/bigquery.ts');
    return createBigQuerySink({
      projectId: config.projectId,
      dataset: config.bigQueryDataset,
      logger,
      partitionExpirationDays: config.retention.bigQueryPartitionExpirationDays,
      proxyEnv: config.proxyEnv,
    });
  }
  const { openDuckDbSink } = await import('../warehouse/duckdb-sink.ts');
  return openDuckDbSink(`${config.dataDir}/warehouse.duckdb`, { logger });
}

/** The database with every call's outcome reported to `health` (a timeout makes /healthz fail). */
function observeDatabase(db: Database, health: DependencyHealth): Database {
  return {
    kind: db.kind,
    query: <R>(text: string, params?: unknown[], options?: QueryOptions) => health.observe('database', db.query<R>(text, params, options)),
    exec: (text: string) => health.observe('database', db.exec(text)),
    transaction: <T>(fn: (tx: Sql) => Promise<T>) => health.observe('database', db.transaction<T>(fn)),
    close: () => db.close(),
  };
}

function observePublisher(publisher: Publisher, health: DependencyHealth): Publisher {
  return {
    publish: (topic, data, attributes) => health.observe('pubsub', publisher.publish(topic, data, attributes)),
    close: () => publisher.close(),
  };
}

export interface PlatformOptions {
  config?: Config;
  logger?: Logger;
  /** The local stack's in-process Pub/Sub, which it opens and closes (see openPublisher). */
  localBroker?: Publisher;
  /** Stand-ins for tests and benchmarks. */
  providers?: Partial<Providers>;
}

export function createPlatform(options: PlatformOptions = {}): Platform {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const health = new DependencyHealth();
  const openDb = options.providers?.database ?? (() => defaultDatabase(config));
  const database = lazy(async () => observeDatabase(await openDb(), health));
  const warehouse = lazy(options.providers?.warehouse ?? (() => defaultWarehouse(config, logger)));
  const localBroker = options.localBroker;
  const connect = options.providers?.publisher ?? (() => openPublisher(config, localBroker ? { localBroker } : {}));
  const publisher = lazy(async () => observePublisher(await connect(), health));
  return {
    config,
    logger,
    health,
    database: database.get,
    warehouse: warehouse.get,
    publisher: publisher.get,
    async close() {
      const closing = [publisher, warehouse, database].map(async (client) => {
        const created = client.peek();
        if (created) await (await created.catch(() => undefined))?.close();
      });
      await Promise.allSettled(closing);
    },
  };
}
