/**
 * PostgreSQL through a small `pg` pool, or through the Cloud SQL Node connector with IAM
 * database authentication when INSTANCE_CONNECTION_NAME is set.
 *
 * Every call has a deadline (docs/reliability.md "Deadlines and liveness"): connecting (and
 * waiting for a pooled connection), each statement on the server (`statement_timeout`), and
 * each reply on the client (`query_timeout`), which is what notices a server that keeps the
 * connection open but stopped answering (a failover, a dropped NAT mapping). A connection
 * that failed or timed out is discarded, never handed to the next caller.
 * @see https://github.com/GoogleCloudPlatform/cloud-sql-nodejs-connector
 * @see https://www.postgresql.org/docs/15/runtime-config-client.html (statement_timeout)
 */
import pg from 'pg';
import type { Config } from '../config.ts';
import { withDeadline } from '../deadline.ts';
import type { Database, QueryOptions, QueryResult, Sql } from './database.ts';

// int8 (counts, identities) as JS numbers: the values here stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export async function openPostgres(config: Config): Promise<Database> {
  const { pgConnectMs, pgStatementMs, pgQueryMs } = config.deadlines;
  const poolConfig: pg.PoolConfig = {
    max: config.pgPoolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: pgConnectMs,
    statement_timeout: pgStatementMs,
    lock_timeout: pgStatementMs,
    query_timeout: pgQueryMs,
    // A transaction left open by a client that vanished must not hold its locks for long.
    idle_in_transaction_session_timeout: pgQueryMs * 2,
    // Dead peers (a host gone without a FIN) are noticed by the kernel, not after hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // Scale-to-zero: let an idle instance hold no connections.
    allowExitOnIdle: true,
  };
  let closeConnector: (() => void) | undefined;
  if (config.instanceConnectionName && !config.databaseUrl) {
    const { Connector, AuthTypes, IpAddressTypes } = await import('@google-cloud/cloud-sql-connector');
    const connector = new Connector();
    // The connector asks the Cloud SQL Admin API for the instance's address and certificate.
    const options = await withDeadline(
      connector.getOptions({
        instanceConnectionName: config.instanceConnectionName,
        authType: AuthTypes.IAM,
        ipType: config.cloudSql.ipType === 'PRIVATE' ? IpAddressTypes.PRIVATE : IpAddressTypes.PUBLIC,
      }),
      pgConnectMs * 4,
      'database',
      'Cloud SQL connector',
    ).catch((error: unknown) => {
      connector.close();
      throw error;
    });
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

  async query<R>(text: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    const result = await this.pool.query({ text, values: params, name: options?.name });
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const tx: Sql = {
        query: async <R>(text: string, params?: unknown[], options?: QueryOptions) => {
          const r = await client.query({ text, values: params, name: options?.name });
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
      // A server error leaves a live connection to roll back; anything else (a timeout, a
      // dropped socket) leaves one that cannot be trusted: it is discarded below, and the
      // server aborts the transaction when the connection goes.
      if (isServerError(error)) await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      // A client whose connection failed or timed out is dropped rather than returned to the pool.
      client.release(broken !== undefined && !isServerError(broken) ? asError(broken) : undefined);
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

/** An error PostgreSQL itself sent (it carries a severity): the connection is still sound. */
const isServerError = (error: unknown): boolean => error instanceof Error && 'severity' in error;
const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
