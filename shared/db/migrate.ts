/**
 * Applies the SQL files of schemas/migrations in order, each once, each in a transaction.
 * Safe to run concurrently (an advisory lock serialises migrators) and repeatedly.
 */
import type { Database } from './database.ts';
import { readMigrationFiles, type MigrationFile } from './migration-files.ts';

const LOCK_KEY = 7_204_118_003;

export type Migration = MigrationFile;

/** schemas/migrations/ from source, or the copy embedded in a production bundle. */
export const loadMigrations = (dir?: string): Promise<Migration[]> => readMigrationFiles(dir);

/** Returns the versions applied by this call. */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const applied: string[] = [];
    for (const m of all) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
      applied.push(m.version);
    }
    return applied;
  });
}
