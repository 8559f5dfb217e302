/**
 * A fresh PostgreSQL database on the machine's server, migrated unless asked otherwise, and
 * dropped afterwards, so that no test file or benchmark run sees another's rows. The one
 * place that creates databases for test/ (through kit.ts) and bench/ (bench/lib/database.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../shared/config.ts';
import type { Database } from '../../shared/db/database.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { openPostgres } from '../../shared/db/postgres.ts';

/** CREATE and DROP DATABASE wait for the server's checkpoint: slow on a loaded machine, never this slow. */
const ADMIN_DEADLINE_MS = 60_000;

export interface FreshDatabase {
  url: string;
  name: string;
  db: Database;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

export interface FreshDatabaseOptions {
  /** A superuser connection to the server, e.g. `postgres://postgres@127.0.0.1:5432/postgres`. */
  adminUrl: string;
  /** The database's name is `<prefix>_<random>`. */
  prefix: string;
  /** Apply the migrations (the default). */
  migrate?: boolean;
  /** Configuration variables for the pool, as a function would read them (DATA_DIR, deadlines). */
  env?: Record<string, string | undefined>;
}

async function asAdmin(adminUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000, query_timeout: ADMIN_DEADLINE_MS });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

export async function createFreshDatabase(options: FreshDatabaseOptions): Promise<FreshDatabase> {
  const name = `${options.prefix}_${randomBytes(6).toString('hex')}`;
  await asAdmin(options.adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(options.adminUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres(loadConfig({ ...options.env, DATABASE_URL: url.toString() }));
  if (options.migrate !== false) await migrate(db);
  return {
    url: url.toString(),
    name,
    db,
    async drop() {
      await db.close();
      await asAdmin(options.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
