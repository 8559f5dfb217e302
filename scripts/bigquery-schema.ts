/**
 * Writes `schemas/bigquery/measurements.json`, the BigQuery table resource derived from the
 * zod row schema, for `bq mk --table --schema` and deployment tooling. A test fails when the
 * committed file drifts from the schema: run `npm run schemas:bigquery` and commit.
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#Table
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import { runCli } from './cli.ts';

/** The committed file's text: the table resource as stable, two-space JSON. */
export function renderMeasurementsTable(): string {
  return JSON.stringify(bigQueryMeasurementsTable(), null, 2) + '\n';
}

export const MEASUREMENTS_TABLE_FILE = fileURLToPath(new URL('../schemas/bigquery/measurements.json', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCli({
    command: 'npm run schemas:bigquery',
    synopsis: '',
    description:
      'Writes schemas/bigquery/measurements.json, the BigQuery table resource derived from the zod row\nschema (schemas/columns.ts). Commit the result; a test fails when it drifts.',
    options: {},
  });
  await writeFile(MEASUREMENTS_TABLE_FILE, renderMeasurementsTable());
  console.log(`wrote ${MEASUREMENTS_TABLE_FILE}`);
}
