/**
 * Warehouse writes: the BigQuery sink against the local insertAll stand-in, fed the way the
 * ingest feeds it (concurrent pushes of one reading each, group-committed with ingest's
 * defaults), against one insertAll request per reading, in the same run. Figures: rows/s and
 * HTTP requests per 1,000 rows (the stand-in counts them). Sink and stand-in share this
 * process, so rows/s is a lower bound; the request count does not depend on the machine.
 *
 *   npm run bench -- warehouse-writes [--quick]
 * @see ../shared/warehouse/bigquery.ts
 */
import { bigQueryMeasurementsTable } from '../schemas/columns.ts';
import type { MeasurementRow } from '../schemas/tables.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import { createLogger } from '../shared/log.ts';
import { createBigQuerySink } from '../shared/warehouse/bigquery.ts';
import type { WarehouseSink } from '../shared/warehouse/sink.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from '../test/support/bigquery-standin.ts';
import { makeMeasurementRows } from '../test/support/measurement-rows.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow } from './lib/report.ts';

const DATASET = 'telemetry';
const TABLE = 'measurements';
/** The rows of one reading: the synthetic stream has four metrics per reading. */
const ROWS_PER_READING = 4;

export interface WarehouseWritesOptions {
  readings: number;
  rounds: number;
  /** Pushes in flight at once, as containerConcurrency allows. */
  concurrency: number;
}

interface Sample {
  rowsPerSec: number;
  requestsPer1000Rows: number;
  stored: number;
}

/** Runs the benchmark and writes bench/results/warehouse-writes.json and .md. */
export async function runWarehouseWritesBench(options: WarehouseWritesOptions): Promise<void> {
  const standIn = await startBigQueryStandIn();
  const samples = { grouped: [] as Sample[], perReading: [] as Sample[] };
  try {
    for (let round = 0; round < options.rounds; round++) {
      samples.perReading.push(await measure(standIn, options, 'per-reading'));
      samples.grouped.push(await measure(standIn, options, 'grouped'));
      console.log(`round ${round + 1}: grouped ${JSON.stringify(samples.grouped.at(-1))} per reading ${JSON.stringify(samples.perReading.at(-1))}`);
    }
  } finally {
    await standIn.close();
  }
  const figures = (of: Sample[]) => ({
    rowsPerSec: median(of.map((s) => s.rowsPerSec)),
    requestsPer1000Rows: median(of.map((s) => s.requestsPer1000Rows)),
    lost: Math.max(...of.map((s) => options.readings * ROWS_PER_READING - s.stored)),
  });
  const rows: ResultRow[] = [
    { subject: 'BigQuery sink, group commit (ingest defaults)', role: 'project', figures: figures(samples.grouped) },
    { subject: 'one insertAll request per reading', role: 'baseline', figures: figures(samples.perReading) },
  ];
  const [project, baseline] = rows.map((r) => r.figures) as [Record<string, number>, Record<string, number>];
  const fewer = (baseline.requestsPer1000Rows ?? NaN) / (project.requestsPer1000Rows ?? NaN);
  writeResult({
    name: 'warehouse-writes',
    title: 'Warehouse writes: BigQuery sink against the local insertAll stand-in',
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: {
      readings: options.readings,
      rowsPerReading: ROWS_PER_READING,
      rounds: options.rounds,
      concurrentPushes: options.concurrency,
      batch: 'ingest defaults: ≤ 1000 readings, ≤ 5 ms wait, 4 batches in flight; ≤ 500 rows per insertAll',
    },
    rows,
    targets: [
      {
        what: 'requests per 1,000 rows, fewer than one request per reading',
        target: '≥ 20× fewer',
        measured: `${roundFigure(fewer)}× fewer`,
        met: fewer >= 20,
      },
      { what: 'rows lost', target: '0', measured: String(project.lost), met: project.lost === 0 },
    ],
    notes: ["The sink and the stand-in share one process (the stand-in is test support code), so rows/s counts the stand-in's work too."],
  });
}

async function measure(standIn: BigQueryStandIn, options: WarehouseWritesOptions, mode: 'grouped' | 'per-reading'): Promise<Sample> {
  standIn.reset();
  standIn.createTable(DATASET, TABLE, bigQueryMeasurementsTable());
  const sink = createBigQuerySink({
    projectId: 'local-project',
    dataset: DATASET,
    table: TABLE,
    logger: createLogger({ level: 'error' }),
    apiEndpoint: standIn.url,
    authClient: standInAuth(),
  });
  const write = mode === 'grouped' ? groupCommitted(sink) : (rows: MeasurementRow[]) => sink.write(rows).then(() => undefined);
  const rows = makeMeasurementRows(options.readings * ROWS_PER_READING);
  const started = performance.now();
  let next = 0;
  // `concurrency` pushes in flight, each one reading, as Pub/Sub delivers them.
  const worker = async () => {
    while (next < options.readings) {
      const i = next++;
      await write(rows.slice(i * ROWS_PER_READING, (i + 1) * ROWS_PER_READING));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  await sink.close();
  const stored = standIn.storedRows(DATASET, TABLE).length;
  return { rowsPerSec: stored / seconds, requestsPer1000Rows: (standIn.insertAllRequests().length / stored) * 1000, stored };
}

/** The ingest writer's batching: GroupCommit with the ingest's default settings. */
function groupCommitted(sink: WarehouseSink): (rows: MeasurementRow[]) => Promise<void> {
  const batcher = new GroupCommit<MeasurementRow[]>({
    maxItems: 1000,
    maxWaitMs: 5,
    maxConcurrentFlushes: 4,
    flush: async (items) => {
      await sink.write(items.flat());
    },
  });
  return (rows) => batcher.submit(rows);
}
