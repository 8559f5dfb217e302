/**
 * A benchmark run's own database: the test kit's fresh database (test/support/database.ts)
 * under a `bench_<name>` prefix, so runs never see each other's rows.
 */
import { createFreshDatabase, type FreshDatabase } from '../../test/support/database.ts';

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function createBenchDatabase(prefix: string): Promise<FreshDatabase> {
  // Set-up fills millions of rows in one statement: longer than a request's statement deadline.
  return createFreshDatabase({ adminUrl: ADMIN_URL, prefix: `bench_${prefix}`, env: { PG_STATEMENT_TIMEOUT_MS: String(30 * 60_000) } });
}
