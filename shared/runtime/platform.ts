/**
 * The clients a function uses, created lazily on first use and shared by every function in a
 * process (STYLE.md rule 2). `npm start` builds one Platform for all four functions; a single
 * deployed function builds its own from the environment.
 */
import type { Config } from '../config.ts';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { createLogger } from '../log.ts';
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
    return createBigQuerySink({ projectId: config.projectId, dataset: config.bigQueryDataset, logger, partitionExpirationDays: config.retention.bigQueryPartitionExpirationDays });
  }
  const { openDuckDbSink } = await import('../warehouse/duckdb.ts');
  return openDuckDbSink(`${config.dataDir}/warehouse.duckdb`);
}

async function defaultPublisher(config: Config): Promise<Publisher> {
  const { createPubsubPublisher } = await import('../pubsub/google-publisher.ts');
  return createPubsubPublisher({ projectId: config.projectId });
}

export function createPlatform(options: { config?: Config; logger?: Logger; providers?: Partial<Providers> } = {}): Platform {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = lazy(options.providers?.database ?? (() => defaultDatabase(config)));
  const warehouse = lazy(options.providers?.warehouse ?? (() => defaultWarehouse(config, logger)));
  const publisher = lazy(options.providers?.publisher ?? (() => defaultPublisher(config)));
  return {
    config,
    logger,
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
