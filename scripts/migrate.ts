/**
 * `npm run migrate`: applies the PostgreSQL migrations to DATABASE_URL (or the Cloud SQL
 * instance, or the local PGlite). Idempotent.
 */
import { loadConfig } from '../shared/config.ts';
import { openDatabase } from '../shared/db/database.ts';
import { migrate } from '../shared/db/migrate.ts';

const config = loadConfig();
// A migration may rewrite a large table or wait for another migrator's lock: it gets an hour,
// not the few seconds a request's statement gets.
const MIGRATION_MS = 60 * 60 * 1000;
const db = await openDatabase({ ...config, deadlines: { ...config.deadlines, pgStatementMs: MIGRATION_MS, pgQueryMs: MIGRATION_MS + 2_000 } });
try {
  const applied = await migrate(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
} finally {
  await db.close();
}
