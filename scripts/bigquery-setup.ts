/**
 * The warehouse objects in BigQuery, created by the project rather than by hand: the dataset,
 * the `measurements` table (schemas/bigquery/measurements.json: partitioned by DATE(event_ts),
 * clustered by device_id, metric) and the views of schemas/queries/*view.bigquery.sql (the
 * dedupe view). Idempotent: what exists is left as is, except views, whose query is brought up
 * to date. `npm run wiring` runs it; its dry run prints the plan.
 * @see https://cloud.google.com/bigquery/docs/creating-partitioned-tables
 * @see https://cloud.google.com/bigquery/docs/views
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BigQuery, BigQueryOptions } from '@google-cloud/bigquery';
import type { AuthClient } from 'google-auth-library';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';

const QUERIES_DIR = fileURLToPath(new URL('../schemas/queries/', import.meta.url));
export const MEASUREMENTS_TABLE = 'measurements';

export interface WarehouseTarget {
  project: string;
  dataset: string;
  /** The dataset's location, e.g. the deployment's region. */
  location: string;
}

export interface WarehouseView {
  name: string;
  /** Standard SQL, the view's SELECT. */
  query: string;
}

/** The views shipped in schemas/queries/, for this project and dataset. */
export function warehouseViews(target: WarehouseTarget, dir = QUERIES_DIR): WarehouseView[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('view.bigquery.sql'))
    .sort()
    .map((file) => {
      const sql = readFileSync(path.join(dir, file), 'utf8')
        .replace(/\{\{project\}\}/g, target.project)
        .replace(/\{\{dataset\}\}/g, target.dataset);
      const match = /CREATE\s+OR\s+REPLACE\s+VIEW\s+`[^`]*\.([A-Za-z_][\w]*)`\s+AS\s+([\s\S]*)$/i.exec(sql);
      if (!match) throw new Error(`${file} is not a CREATE OR REPLACE VIEW statement`);
      return { name: match[1]!, query: match[2]!.trim() };
    });
}

/** What setUpWarehouse does, as lines for a dry run. */
export function describeWarehouseSetup(target: WarehouseTarget): string[] {
  const table = bigQueryMeasurementsTable() as { timePartitioning?: { field?: string }; clustering?: { fields?: string[] } };
  return [
    `# BigQuery: dataset, measurements table and views (created through the BigQuery API; existing ones are kept, views updated)`,
    `bq mk --dataset --location=${target.location} ${target.project}:${target.dataset}`,
    `bq mk --table --schema=schemas/bigquery/measurements.json --time_partitioning_field=${table.timePartitioning?.field ?? 'event_ts'} --time_partitioning_type=DAY --clustering_fields=${(table.clustering?.fields ?? []).join(',')} ${target.project}:${target.dataset}.${MEASUREMENTS_TABLE}`,
    ...warehouseViews(target).map((v) => `bq mk --use_legacy_sql=false --view='<schemas/queries: ${v.name}>' ${target.project}:${target.dataset}.${v.name}`),
  ];
}

export interface BigQueryConnection {
  /** A BigQuery-compatible endpoint instead of Google's (tests, emulators). */
  apiEndpoint?: string;
  authClient?: AuthClient;
  timeoutMs?: number;
}

const statusOf = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
};

/** Creates what is missing; returns one line per object saying what happened. */
export async function setUpWarehouse(target: WarehouseTarget, connection: BigQueryConnection = {}): Promise<string[]> {
  const { BigQuery: Client } = await import('@google-cloud/bigquery');
  const client: BigQuery = new Client({
    projectId: target.project,
    ...(connection.apiEndpoint ? { apiEndpoint: connection.apiEndpoint } : {}),
    ...(connection.authClient ? { authClient: connection.authClient } : {}),
    timeout: connection.timeoutMs ?? 30_000,
  } as BigQueryOptions);
  const done: string[] = [];
  const dataset = client.dataset(target.dataset, { location: target.location });
  const create = async (what: string, creating: () => Promise<unknown>) => {
    try {
      await creating();
      done.push(`created ${what}`);
    } catch (error) {
      // Another run may have created it in between: that is the state we want.
      if (statusOf(error) !== 409) throw error;
      done.push(`${what} exists`);
    }
  };
  const [datasetExists] = await dataset.exists();
  if (datasetExists) done.push(`dataset ${target.dataset} exists`);
  else await create(`dataset ${target.dataset} (${target.location})`, () => dataset.create({ location: target.location }));

  const table = dataset.table(MEASUREMENTS_TABLE);
  const [tableExists] = await table.exists();
  if (tableExists) done.push(`table ${MEASUREMENTS_TABLE} exists`);
  else
    await create(`table ${MEASUREMENTS_TABLE}, partitioned by DATE(event_ts), clustered by device_id, metric`, () => table.create(bigQueryMeasurementsTable()));

  for (const view of warehouseViews(target)) {
    const resource = { view: { query: view.query, useLegacySql: false } };
    const existing = dataset.table(view.name);
    const [viewExists] = await existing.exists();
    if (viewExists) {
      await existing.setMetadata(resource);
      done.push(`view ${view.name} updated`);
    } else await create(`view ${view.name}`, () => existing.create(resource));
  }
  return done;
}
