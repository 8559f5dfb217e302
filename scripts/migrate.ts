/**
 * `npm run migrate`: applies the PostgreSQL migrations to DATABASE_URL (or the Cloud SQL
 * instance, or the local PGlite). Idempotent.
 */
import { loadConfig } from '../shared/config.ts';
import { openDatabase } from '../shared/db/database.ts';
import { migrate } from '../shared/db/migrate.ts';

const config = loadConfig();
const db = await openDatabase(config);
try {
  const applied = await migrate(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
} finally {
  await db.close();
}
