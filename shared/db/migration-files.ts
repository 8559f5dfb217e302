/**
 * The SQL files of schemas/migrations/, in file-name order. From source they are read from
 * disk; a production bundle replaces this module with one that holds their text (see
 * scripts/build.ts), so that `node dist/<function>/index.mjs` migrates with nothing beside it.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MigrationFile {
  /** The file name without `.sql`, e.g. `001_initial`. */
  version: string;
  sql: string;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../schemas/migrations/', import.meta.url));

export async function readMigrationFiles(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(files.map(async (f) => ({ version: f.replace(/\.sql$/, ''), sql: await readFile(path.join(dir, f), 'utf8') })));
}
