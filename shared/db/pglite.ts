/**
 * PGlite: PostgreSQL compiled to WebAssembly, in process. The embedded default for
 * `npm start`; never part of a production bundle.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Database, QueryResult, Sql } from './database.ts';

export async function openPglite(dir?: string): Promise<Database> {
  if (dir) mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  return new PgliteDatabase(db);
}

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  private readonly db: PGlite;
  constructor(db: PGlite) {
    this.db = db;
  }

  async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    const result = await this.db.query<R>(text, params);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      fn({
        query: async <R>(text: string, params?: unknown[]) => {
          const result = await tx.query<R>(text, params);
          return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
        },
        exec: async (text: string) => {
          await tx.exec(text);
        },
      }),
    );
  }

  async exec(text: string): Promise<void> {
    await this.db.exec(text);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
