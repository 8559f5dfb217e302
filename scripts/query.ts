/**
 * `npm run query -- [--json] [--file query.sql] "SQL"`: analyst SQL on the local warehouse.
 * While `npm start` runs it holds the DuckDB file (one writer process at a time), so the
 * query goes through the stack's loopback internal API; otherwise the file is opened
 * read-only. A readable table by default, JSON rows with --json.
 * @see ../docs/architecture.md
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { queryDuckDb, type QueryResult } from '../shared/warehouse/duckdb.ts';
import { readStackState } from './stack/state-file.ts';
import { formatTable } from './query/table.ts';
import { exitAfterOutput } from '../shared/exit.ts';

const USAGE = 'usage: npm run query -- [--json] [--file path.sql] "SQL"';

/** Runs SQL on the running stack's warehouse, or on the file when no stack runs. */
export async function runQuery(sql: string, dataDir: string): Promise<QueryResult> {
  const stack = await readStackState(dataDir);
  if (stack) {
    const response = await fetch(`${stack.internalUrl}/internal/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql }),
    });
    const body = (await response.json()) as QueryResult & { message?: string; issues?: unknown };
    if (!response.ok) throw new Error(body.message ?? JSON.stringify(body.issues ?? body));
    return body;
  }
  const file = join(dataDir, 'warehouse.duckdb');
  if (!existsSync(file)) throw new Error(`no warehouse at ${file}: run npm start first (or set DATA_DIR)`);
  return queryDuckDb(file, sql);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { json: { type: 'boolean' }, file: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const sql = values.file ? await readFile(values.file, 'utf8') : positionals.join(' ');
  if (sql.trim() === '') {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const result = await runQuery(sql, loadConfig().dataDir);
  if (values.json) {
    const objects = result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
    process.stdout.write(JSON.stringify(objects, null, 2) + '\n');
  } else {
    process.stdout.write(formatTable(result) + '\n');
  }
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => exitAfterOutput(code),
    (error: unknown) => {
      process.stderr.write(`query failed: ${error instanceof Error ? error.message : String(error)}\n`);
      exitAfterOutput(1);
    },
  );
}
