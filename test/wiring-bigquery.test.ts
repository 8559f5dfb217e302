/**
 * `npm run wiring` creates the warehouse objects through the real @google-cloud/bigquery client,
 * here pointed at the local BigQuery stand-in: the dataset in its location, the measurements
 * table from schemas/bigquery/measurements.json (partitioned by DATE(event_ts), clustered by
 * device_id, metric), the dedupe view; a second run changes nothing. Its dry run prints the
 * plan, and it refuses to wire a push subscription without the function's URL.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBigQueryStandIn, type BigQueryStandIn } from './support/bigquery-standin.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
let standIn: BigQueryStandIn;
const gcloudConfig = mkdtempSync(path.join(tmpdir(), 'wiring-gcloud-config-'));

beforeAll(async () => {
  standIn = await startBigQueryStandIn();
});
afterAll(async () => {
  await standIn?.close();
  rmSync(gcloudConfig, { recursive: true, force: true });
});

/** Spawned asynchronously: the stand-in answers from this process's event loop. */
function wiring(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // An empty gcloud configuration: nothing of the machine's own settings leaks in.
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'pubsub-wiring.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, GOOGLE_CLOUD_PROJECT: '', CLOUDSDK_CONFIG: gcloudConfig, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

const apply = ['--apply', '--bigquery-only', '--project', 'demo-wiring', '--region', 'europe-west1', '--dataset', 'telemetry_wiring'];

describe('npm run wiring --apply --bigquery-only', () => {
  it('creates the dataset, the partitioned and clustered table and the dedupe view, then finds them', async () => {
    const first = await wiring([...apply, '--bigquery-endpoint', standIn.url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/created dataset telemetry_wiring \(europe-west1\)/);
    expect(first.stdout).toMatch(/created table measurements/);
    expect(first.stdout).toMatch(/created view measurements_dedup/);

    const datasetInsert = standIn.requests.find((r) => r.method === 'POST' && /\/projects\/demo-wiring\/datasets$/.test(r.path.split('?')[0]!));
    expect(datasetInsert?.body).toMatchObject({ datasetReference: { datasetId: 'telemetry_wiring' }, location: 'europe-west1' });
    const committed = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'bigquery', 'measurements.json'), 'utf8')) as Record<string, unknown>;
    const table = standIn.table('telemetry_wiring', 'measurements');
    expect(table).toMatchObject({ timePartitioning: { type: 'DAY', field: 'event_ts' }, clustering: { fields: ['device_id', 'metric'] } });
    expect(table?.schema).toEqual(committed.schema);
    const view = standIn.table('telemetry_wiring', 'measurements_dedup') as { view?: { query: string; useLegacySql: boolean } } | undefined;
    expect(view?.view?.useLegacySql).toBe(false);
    expect(view?.view?.query).toMatch(/^SELECT \* EXCEPT \([^)]*\bdedup_rank\b[^)]*\)[\s\S]*FROM `demo-wiring\.telemetry_wiring\.measurements`/);

    const second = await wiring([...apply, '--bigquery-endpoint', standIn.url]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/dataset telemetry_wiring exists/);
    expect(second.stdout).toMatch(/table measurements exists/);
    expect(second.stdout).toMatch(/view measurements_dedup updated/);
    expect(second.stdout).not.toMatch(/created/);
  });
});

describe('npm run wiring (dry run)', () => {
  it('prints the BigQuery objects it would create after the gcloud commands', async () => {
    const run = await wiring([
      '--project',
      'demo-wiring',
      '--region',
      'europe-west1',
      '--ingest-url',
      'https://ingest-1.europe-west1.run.app/',
      '--deadletter-url',
      'https://deadletter-1.europe-west1.run.app/',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^bq mk --dataset --location=europe-west1 demo-wiring:telemetry$/m);
    expect(run.stdout).toMatch(
      /^bq mk --table .*--time_partitioning_field=event_ts .*--clustering_fields=device_id,metric demo-wiring:telemetry\.measurements$/m,
    );
    expect(run.stdout).toMatch(/measurements_dedup$/m);
    expect(run.stdout).toMatch(/--push-endpoint=https:\/\/ingest-1\.europe-west1\.run\.app\//);
  });

  it('refuses to wire push subscriptions without the ingest URL', async () => {
    const run = await wiring(['--apply', '--project', 'demo-wiring', '--skip-bigquery']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no URL for ingest: pass --ingest-url, or deploy it first/);
  });
});
