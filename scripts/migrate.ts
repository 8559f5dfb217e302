/**
 * `npm run migrate`: applies the PostgreSQL migrations (schemas/migrations/, in file-name
 * order, each once) to the database the environment names. Idempotent; safe to run while the
 * functions serve. For Cloud SQL on a private IP with IAM database authentication, either
 * through the Cloud SQL Node connector or through the Cloud SQL Auth Proxy's local port.
 * @see ../docs/deploy.md
 */
import { loadConfig } from '../shared/config.ts';
import { openDatabase } from '../shared/db/database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { runCli, usageFailure } from './cli.ts';

const spec = {
  command: 'npm run migrate',
  synopsis: '',
  description: [
    'Applies the PostgreSQL migrations (schemas/migrations/) that the database has not seen yet;',
    'running it again changes nothing. The database is the one the environment names (below).',
  ].join('\n'),
  options: {},
  notes: [
    'environment:',
    "  DATABASE_URL               postgres://USER[:PASSWORD]@HOST:PORT/DB (e.g. the Cloud SQL Auth Proxy's port)",
    '  INSTANCE_CONNECTION_NAME   PROJECT:REGION:INSTANCE, through the Cloud SQL Node connector with IAM auth',
    '    DB_USER                  the IAM database user (a service account without .gserviceaccount.com)',
    '    DB_NAME                  the database (default: telemetry)',
    '    CLOUD_SQL_IP_TYPE        PRIVATE for a private-IP instance (default: PUBLIC)',
    '  neither                    the embedded PGlite under DATA_DIR (default: .data/)',
    '',
    'Cloud SQL with a private IP and IAM auth, from a machine in its VPC (Cloud Shell, a VM, a Cloud Build private pool):',
    '  INSTANCE_CONNECTION_NAME=PROJECT:REGION:INSTANCE DB_USER=migrator@PROJECT.iam CLOUD_SQL_IP_TYPE=PRIVATE npm run migrate',
    'or through the Cloud SQL Auth Proxy (https://cloud.google.com/sql/docs/postgres/sql-proxy):',
    '  cloud-sql-proxy --private-ip --auto-iam-authn --port 5433 PROJECT:REGION:INSTANCE &',
    '  DATABASE_URL=postgres://migrator%40PROJECT.iam@127.0.0.1:5433/telemetry npm run migrate',
  ],
} as const;

runCli(spec);
const config = loadConfig();
// A migration may rewrite a large table or wait for another migrator's lock: it gets an hour,
// not the few seconds a request's statement gets.
const MIGRATION_MS = 60 * 60 * 1000;
if (config.instanceConnectionName && !config.databaseUrl && !config.cloudSql.user) {
  usageFailure(spec, 'INSTANCE_CONNECTION_NAME needs DB_USER, the IAM database user to connect as');
}
const hostOf = (url: string) => URL.parse(url)?.host ?? 'unparsable URL';
const target = config.databaseUrl
  ? `DATABASE_URL (${hostOf(config.databaseUrl)})`
  : config.instanceConnectionName
    ? `Cloud SQL ${config.instanceConnectionName} (${config.cloudSql.ipType} IP, IAM user ${config.cloudSql.user ?? ''}, database ${config.cloudSql.database})`
    : `the embedded PGlite in ${config.dataDir}/pglite`;
try {
  const db = await openDatabase({ ...config, deadlines: { ...config.deadlines, pgStatementMs: MIGRATION_MS, pgQueryMs: MIGRATION_MS + 2_000 } });
  try {
    const applied = await migrate(db);
    console.log(applied.length ? `applied to ${target}: ${applied.join(', ')}` : `${target} is up to date`);
  } finally {
    await db.close();
  }
} catch (error) {
  process.stderr.write(`npm run migrate: could not migrate ${target}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
