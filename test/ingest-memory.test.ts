/**
 * Ingest as its Knative manifest runs it (`NODE_OPTIONS` and its container's Node flags, so the
 * heap it gets in production) under a burst of the largest messages the bridge publishes: a
 * 256 KiB telemetry body of 90 readings with 256 metrics each, 23,040 warehouse rows a message.
 * Before the push budget (shared/runtime/work-budget.ts), 25 such pushes at once ran ingest out
 * of heap ("JavaScript heap out of memory"): the process died with every message in flight, and
 * again at each redelivery. Now ingest takes them a few at a time: a push that waits too long
 * for its turn is answered 429 and sent again, as Pub/Sub redelivers it; every push is answered
 * 200 in the end, every reading is stored, and ingest is still serving. Real PostgreSQL, and the production warehouse: the BigQuery sink (whose
 * rows cost more memory than DuckDB's appender) writing to the stand-in, as
 * bench/servers/ingest-bigquery.ts serves it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import { startBigQueryStandIn, type BigQueryStandIn } from './support/bigquery-standin.ts';
import { createDevice } from './support/devices.ts';
import { createTestDatabase, makePushBody, post, type HttpFixture, type TestDatabase } from './support/kit.ts';
import { startManifestProcess } from './support/manifest-process.ts';

const PUSHES = 25;
const READINGS = 90;
const METRICS = 256;

let tdb: TestDatabase;
let standIn: BigQueryStandIn;
const scratch = mkdtempSync(join(tmpdir(), 'ingest-memory-'));
beforeAll(async () => {
  tdb = await createTestDatabase();
  for (let i = 0; i < PUSHES; i++) await createDevice(tdb.db, { deviceId: `heavy-${i}` });
  standIn = await startBigQueryStandIn();
  standIn.createTable('telemetry', 'measurements', bigQueryMeasurementsTable());
});
afterAll(async () => {
  await standIn?.close();
  await tdb?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

/** One device's largest telemetry message: what the bridge publishes for a 256 KiB body of small metrics. */
function heaviestMessage(deviceId: string, base: number) {
  const metrics = Object.fromEntries(Array.from({ length: METRICS }, (_, k) => [`m${k}`, k + 0.5]));
  return { deviceId, readings: Array.from({ length: READINGS }, (_, i) => ({ ts: new Date(base + i * 1_000).toISOString(), metrics })) };
}

/** Pushes as Pub/Sub does: again after a 429, a few times; the last status, or why the push failed. */
async function deliver(url: string, body: HttpFixture): Promise<number | string> {
  for (let attempt = 1; ; attempt++) {
    const answer = await post(url, body).catch((error: unknown) => String(error));
    if (typeof answer === 'string' || answer.status !== 429 || attempt === 10) return typeof answer === 'string' ? answer : answer.status;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

it(`takes ${PUSHES} of the largest messages at once within the heap its manifest gives it`, async () => {
  const ingest = await startManifestProcess('ingest', ['bench/servers/ingest-bigquery.ts'], {
    BIGQUERY_API_ENDPOINT: standIn.url,
    DATABASE_URL: tdb.url,
    DATA_DIR: scratch,
    GOOGLE_CLOUD_PROJECT: 'local-project',
  });
  const { url } = ingest;
  try {
    const base = Date.now() - 3_600_000;
    const bodies = Array.from({ length: PUSHES }, (_, i) =>
      makePushBody({ data: heaviestMessage(`heavy-${i}`, base), messageId: `heavy-${i}`, attributes: { deviceId: `heavy-${i}` } }),
    );
    expect(Buffer.byteLength(bodies[0]?.body ?? '')).toBeGreaterThan(256 * 1024);
    const statuses = await Promise.all(bodies.map((body) => deliver(`${url}/`, body)));
    expect({ statuses, errors: ingest.errors() }).toEqual({ statuses: statuses.map(() => 200), errors: '' });
    const { rows } = await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM readings');
    expect(rows[0]?.n).toBe(PUSHES * READINGS);
    expect(standIn.storedRows('telemetry', 'measurements')).toHaveLength(PUSHES * READINGS * METRICS);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  } finally {
    await ingest.stop();
  }
}, 240_000);
