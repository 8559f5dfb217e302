/**
 * `npm run query -- [--json] [--db warehouse|postgres] [--timeout S] [--file path.sql | "SQL"]`:
 * read-only analyst SQL on the local stores, whether or not the stack runs.
 * - warehouse (default): DuckDB `measurements`. While `npm start` runs it holds the file (one
 *   writer process at a time), so the query goes through the stack's loopback internal API,
 *   which runs it on a sandboxed connection of its own; otherwise the file is opened
 *   read-only and sandboxed here (shared/warehouse/duckdb-analyst.ts).
 * - postgres: readings, device_state, rejected, in a read-only transaction
 *   (scripts/query/postgres.ts): through the stack when it runs; else DATABASE_URL directly,
 *   or a copy of the embedded PGlite directory, so nothing ever opens the live one twice.
 * A readable table by default, JSON rows with --json. SQL may start with a `--` comment.
 * @see ../docs/reliability.md "Analyst SQL"
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../shared/config.ts';
import { openDatabase } from '../shared/db/database.ts';
import { DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS, queryDuckDb, type AnalystResult } from '../shared/warehouse/duckdb-analyst.ts';
import { readStackState } from '../local/stack/state-file.ts';
import { formatTable } from './query/table.ts';
import { queryPostgresReadOnly } from './query/postgres.ts';
import { exitAfterOutput } from './exit.ts';

export type QueryTarget = 'warehouse' | 'postgres';

const USAGE = `usage: npm run query -- [options] "SQL"
       npm run query -- [options] --file path.sql

Read-only analyst SQL on the local stores, also while \`npm start\` runs. One statement: a
SELECT (SHOW, DESCRIBE and SUMMARIZE too on the warehouse); writes, transactions, SET,
ATTACH, COPY and file or extension access are refused. SQL may start with a -- comment.

options:
  --db warehouse|postgres  which store (default: warehouse, the DuckDB measurements table;
                           postgres: readings, device_state, rejected)
  --file path.sql          read the SQL from a file
  --json                   JSON rows instead of a table
  --timeout SECONDS        stop the query after this long (default ${DEFAULT_QUERY_TIMEOUT_MS / 1000}, at most ${MAX_QUERY_TIMEOUT_MS / 1000})
  --help                   this text
Results are cut at 100,000 rows. DATA_DIR (default .data/) says where the stores are.`;

export interface QueryArgs {
  json: boolean;
  help: boolean;
  db: QueryTarget;
  file?: string;
  timeoutMs: number;
  sql: string;
}

/**
 * Parses the arguments by hand: node's parseArgs takes SQL that starts with a `--` comment
 * for an unknown option. Anything that is not one of the options is SQL.
 */
export function parseQueryArgs(argv: readonly string[]): QueryArgs {
  const args: QueryArgs = { json: false, help: false, db: 'warehouse', timeoutMs: DEFAULT_QUERY_TIMEOUT_MS, sql: '' };
  const sql: string[] = [];
  const valueOf = (name: string, i: number): [string, number] => {
    const arg = argv[i] as string;
    if (arg.startsWith(`${name}=`)) return [arg.slice(name.length + 1), i];
    const next = argv[i + 1];
    if (next === undefined) throw new Error(`${name} needs a value`);
    return [next, i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const name = arg.split('=')[0];
    if (arg === '--json') args.json = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (name === '--file') [args.file, i] = valueOf('--file', i);
    else if (name === '--db') {
      let value: string;
      [value, i] = valueOf('--db', i);
      if (value !== 'warehouse' && value !== 'postgres') throw new Error(`--db ${value}: use warehouse or postgres`);
      args.db = value;
    } else if (name === '--timeout') {
      let value: string;
      [value, i] = valueOf('--timeout', i);
      const seconds = Number(value);
      if (!(seconds > 0) || seconds * 1000 > MAX_QUERY_TIMEOUT_MS)
        throw new Error(`--timeout ${value}: give seconds, more than 0 and at most ${MAX_QUERY_TIMEOUT_MS / 1000}`);
      args.timeoutMs = Math.round(seconds * 1000);
    } else sql.push(arg);
  }
  args.sql = sql.join(' ');
  return args;
}

/** Runs read-only SQL on the running stack's stores, or on the files when no stack runs. */
export async function runQuery(sql: string, dataDir: string, options: { db?: QueryTarget; timeoutMs?: number; config?: Config } = {}): Promise<AnalystResult> {
  const db = options.db ?? 'warehouse';
  const stack = await readStackState(dataDir);
  if (stack) {
    const response = await fetch(`${stack.internalUrl}/internal/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql, db, timeoutMs: options.timeoutMs }),
      signal: AbortSignal.timeout((options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS) + 10_000),
    });
    const body = (await response.json()) as AnalystResult & { message?: string; issues?: unknown };
    if (!response.ok) throw new Error(body.message ?? JSON.stringify(body.issues ?? body));
    return body;
  }
  if (db === 'postgres') return queryPostgresDirectly(sql, dataDir, options);
  const file = join(dataDir, 'warehouse.duckdb');
  if (!existsSync(file)) throw new Error(`no warehouse at ${file}: run npm start first (or set DATA_DIR)`);
  return queryDuckDb(file, sql, { timeoutMs: options.timeoutMs });
}

/** No stack runs: DATABASE_URL as configured, or a throwaway copy of the PGlite directory. */
async function queryPostgresDirectly(sql: string, dataDir: string, options: { timeoutMs?: number; config?: Config }): Promise<AnalystResult> {
  const config = options.config ?? loadConfig();
  if (config.databaseUrl || config.instanceConnectionName) {
    const database = await openDatabase({ ...config, dataDir });
    try {
      return await queryPostgresReadOnly(database, sql, options);
    } finally {
      await database.close();
    }
  }
  const live = join(dataDir, 'pglite');
  if (!existsSync(live)) throw new Error(`no PostgreSQL data at ${live}: run npm start first (or set DATA_DIR or DATABASE_URL)`);
  const copy = await mkdtemp(join(tmpdir(), 'query-pglite-'));
  try {
    // A stack starting meanwhile could change the live directory under an open PGlite; a copy
    // is never written by anyone else.
    await cp(live, join(copy, 'pglite'), { recursive: true });
    const database = await openDatabase({ ...config, dataDir: copy });
    try {
      return await queryPostgresReadOnly(database, sql, options);
    } finally {
      await database.close();
    }
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const args = parseQueryArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const sql = args.file ? await readFile(args.file, 'utf8') : args.sql;
  if (sql.trim() === '') {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const config = loadConfig();
  const result = await runQuery(sql, config.dataDir, { db: args.db, timeoutMs: args.timeoutMs, config });
  if (args.json) {
    const objects = result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
    process.stdout.write(JSON.stringify(objects, null, 2) + '\n');
  } else {
    process.stdout.write(formatTable(result) + '\n');
  }
  if (result.truncated) process.stderr.write('(result cut at 100,000 rows)\n');
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
