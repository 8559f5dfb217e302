/**
 * PostgreSQL through a small `pg` pool, or through the Cloud SQL Node connector with IAM
 * database authentication when INSTANCE_CONNECTION_NAME is set.
 * @see https://github.com/GoogleCloudPlatform/cloud-sql-nodejs-connector
 */
import pg from 'pg';
import type { Config } from '../config.ts';
import type { Database, QueryResult, Sql } from './database.ts';

// int8 (counts, identities) as JS numbers: the values here stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export async function openPostgres(config: Config): Promise<Database> {
  const poolConfig: pg.PoolConfig = {
    max: config.pgPoolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    // Scale-to-zero: let an idle instance hold no connections.
    allowExitOnIdle: true,
  };
  let closeConnector: (() => void) | undefined;
  if (config.instanceConnectionName && !config.databaseUrl) {
    const { Connector, AuthTypes, IpAddressTypes } = await import('@google-cloud/cloud-sql-connector');
    const connector = new Connector();
    // The connector asks the Cloud SQL Admin API for the instance's address and certificate:
    // an outside call, so it gets a deadline like every other.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Cloud SQL connector: no answer about ${config.instanceConnectionName ?? ''} within 30 s`)), 30_000);
    });
    const options = await Promise.race([
      connector.getOptions({
        instanceConnectionName: config.instanceConnectionName,
        authType: AuthTypes.IAM,
        ipType: config.cloudSql.ipType === 'PRIVATE' ? IpAddressTypes.PRIVATE : IpAddressTypes.PUBLIC,
      }),
      deadline,
    ]).catch((error: unknown) => {
      connector.close();
      throw error;
    }).finally(() => clearTimeout(timer));
    Object.assign(poolConfig, options, { user: config.cloudSql.user, database: config.cloudSql.database });
    closeConnector = () => connector.close();
  } else {
    poolConfig.connectionString = config.databaseUrl;
  }
  const pool = new pg.Pool(poolConfig);
  // An idle client losing its server (a restart) must not crash the process.
  pool.on('error', () => {});
  return new PostgresDatabase(pool, closeConnector);
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly closeConnector?: () => void;
  constructor(pool: pg.Pool, closeConnector?: () => void) {
    this.pool = pool;
    this.closeConnector = closeConnector;
  }

  async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    const result = await this.pool.query(text, params);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const tx: Sql = {
        query: async <R>(text: string, params?: unknown[]) => {
          const r = await client.query(text, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
        exec: async (text: string) => {
          await client.query(text);
        },
      };
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = error;
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      // A client whose connection failed is dropped rather than returned to the pool.
      client.release(broken instanceof Error && !('severity' in broken) ? broken : undefined);
    }
  }

  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }

  async close(): Promise<void> {
    await this.pool.end();
    this.closeConnector?.();
  }
}
