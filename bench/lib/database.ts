/**
 * A fresh, migrated PostgreSQL database per benchmark run on the machine's server, dropped
 * afterwards, so runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../shared/config.ts';
import type { Database } from '../../shared/db/database.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { openPostgres } from '../../shared/db/postgres.ts';

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  db: Database;
  drop(): Promise<void>;
}

export async function createBenchDatabase(prefix: string): Promise<BenchDatabase> {
  const name = `bench_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  // Set-up fills millions of rows in one statement: longer than a request's statement deadline.
  const db = await openPostgres(loadConfig({ DATABASE_URL: url.toString(), PG_STATEMENT_TIMEOUT_MS: String(30 * 60_000) }));
  await migrate(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
