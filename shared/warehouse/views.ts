/**
 * The analyst views shipped in `schemas/queries/`, rendered for one warehouse.
 */
import { readFile } from 'node:fs/promises';

export type WarehouseEngine = 'bigquery' | 'duckdb';

const QUERIES = new URL('../../schemas/queries/', import.meta.url);

/**
 * The `CREATE OR REPLACE VIEW measurements_dedup` statement for an engine, with `{{name}}`
 * placeholders filled in; a placeholder left without a value is an error, not an empty name.
 * @see ../../schemas/queries/dedupe-view.bigquery.sql
 */
export async function renderDedupeView(engine: WarehouseEngine, values: Record<string, string> = {}): Promise<string> {
  const template = await readFile(new URL(`dedupe-view.${engine}.sql`, QUERIES), 'utf8');
  const missing = new Set<string>();
  const sql = template.replace(/\{\{(\w+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) missing.add(name);
    return value ?? '';
  });
  if (missing.size > 0) throw new Error(`dedupe view for ${engine} needs a value for: ${[...missing].join(', ')}`);
  return sql;
}
