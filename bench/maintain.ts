/**
 * Maintenance on a large `readings`: fills 41 days of readings (10 million rows by default,
 * with generate_series) into a fresh database, then measures
 * - how long `runMaintenance` takes when it drops days (whole partitions), in rounds;
 * - ingest's write throughput (the real write path, 500-reading batches from 4 writers, as
 *   group commit sends them) and its slowest batch while maintenance runs, against the same
 *   writers with no maintenance, in the same run;
 * and finally runs the real `npm run maintain` with READINGS_RETENTION_DAYS=30 and counts the
 * partitions left (the "40 days of a fleet leave 30 days" check).
 *
 *   npm run bench -- maintain [--quick]
 * @see ../docs/lifecycle.md
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createLogger } from '../shared/log.ts';
import type { Database } from '../shared/db/database.ts';
import { runMaintenance } from '../shared/lifecycle/maintain.ts';
import { DAY_MS, dayOf, partitionName } from '../shared/retention.ts';
import { readingIdOf } from '../functions/ingest/reading-id.ts';
import { writeReadings, type NewReading } from '../functions/ingest/readings-store.ts';
import { createBenchDatabase } from './lib/database.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow } from './lib/report.ts';

export interface MaintainBenchOptions {
  rows: number;
  rounds: number;
  /** How long writers run for a baseline sample. */
  baselineMs: number;
}

interface WriteSample {
  readingsPerSec: number;
  slowestBatchMs: number;
  failedBatches: number;
}

const ROOT = join(import.meta.dirname, '..');
const WRITERS = 4;
const BATCH = 500;
const DAYS = 40;

export async function runMaintainBench(options: MaintainBenchOptions): Promise<void> {
  const bench = await createBenchDatabase('maintain');
  const { db } = bench;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  try {
    const fillStarted = performance.now();
    await fill(db, options.rows, today);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    console.log(`filled ${options.rows} rows over ${DAYS + 1} days in ${fillSeconds.toFixed(1)} s`);

    const baseline: WriteSample[] = [];
    const during: WriteSample[] = [];
    const maintainMs: number[] = [];
    let seq = 0;
    for (let round = 0; round < options.rounds; round++) {
      baseline.push(
        await writeFor(
          db,
          () => new Promise((resolve) => setTimeout(resolve, options.baselineMs)),
          () => seq++,
        ),
      );
      // Each round drops the two oldest days that are left.
      const retention = DAYS - 2 * (round + 1);
      let elapsed = 0;
      during.push(
        await writeFor(
          db,
          async () => {
            const started = performance.now();
            await runMaintenance(db, { readingsRetentionDays: retention, rejectedRetentionDays: 30, logger: createLogger({ level: 'error' }) });
            elapsed = performance.now() - started;
          },
          () => seq++,
        ),
      );
      maintainMs.push(elapsed);
      console.log(
        `round ${round + 1}: maintain ${elapsed.toFixed(0)} ms; writes alone ${JSON.stringify(baseline.at(-1))}, during maintain ${JSON.stringify(during.at(-1))}`,
      );
    }

    // The real command, as the schedule runs it.
    const cliStarted = performance.now();
    const cli = spawnSync(process.execPath, [join(ROOT, 'scripts/maintain.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: bench.url, READINGS_RETENTION_DAYS: '30', LOG_LEVEL: 'warning' },
      encoding: 'utf8',
      timeout: 600_000,
    });
    const cliSeconds = (performance.now() - cliStarted) / 1000;
    if (cli.status !== 0) throw new Error(`npm run maintain failed: ${cli.stderr}`);
    const report = JSON.parse(cli.stdout) as { partitionsDropped: string[] };
    const names = (
      await db.query<{ name: string }>(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass",
      )
    ).rows.map((r) => r.name);
    const pastDays = names.filter((n) => /^readings_p\d{8}$/.test(n) && n <= partitionName(dayOf(today))).length;
    const oldest = names.filter((n) => /^readings_p\d{8}$/.test(n)).sort()[0];
    console.log(
      `npm run maintain (30 days): dropped ${report.partitionsDropped.length} partitions in ${cliSeconds.toFixed(1)} s; ${pastDays} days left up to today, oldest ${oldest}`,
    );

    const failedDuring = during.reduce((sum, s) => sum + s.failedBatches, 0);
    const rows: ResultRow[] = [
      {
        subject: 'ingest writes, no maintenance',
        role: 'baseline',
        figures: {
          readingsPerSec: roundFigure(median(baseline.map((s) => s.readingsPerSec))),
          slowestBatchMs: roundFigure(median(baseline.map((s) => s.slowestBatchMs))),
        },
      },
      {
        subject: 'ingest writes while maintain drops 2 days',
        role: 'project',
        figures: {
          readingsPerSec: roundFigure(median(during.map((s) => s.readingsPerSec))),
          slowestBatchMs: roundFigure(median(during.map((s) => s.slowestBatchMs))),
        },
      },
      {
        subject: 'maintain (drops 2 daily partitions)',
        role: 'diagnostic',
        figures: { maintainMs: roundFigure(median(maintainMs)), rowsPerDay: Math.round(options.rows / (DAYS + 1)) },
      },
    ];
    writeResult({
      name: 'maintain',
      title: `Maintenance on ${options.rows.toLocaleString('en')} readings: time, and ingest writes while it runs`,
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: {
        rows: options.rows,
        days: DAYS + 1,
        fillSeconds: roundFigure(fillSeconds),
        rounds: options.rounds,
        writers: WRITERS,
        batch: BATCH,
        baselineMs: options.baselineMs,
      },
      rows,
      targets: [
        {
          what: 'npm run maintain with 30 days leaves today and the 30 days before it',
          target: '31 daily partitions up to today',
          measured: `${pastDays} (oldest ${oldest})`,
          met: pastDays === 31,
        },
        { what: 'ingest batches failed while partitions were dropped', target: '0', measured: String(failedDuring), met: failedDuring === 0 },
      ],
      notes: [
        `npm run maintain (process start included) dropped ${report.partitionsDropped.length} partitions in ${roundFigure(cliSeconds)} s.`,
        'Rounds run on a shrinking table: each drops the two oldest days left (about 2/41 of the rows).',
        "PostgreSQL, the writers and maintain share the 2-core machine with other engineers' work: figures are indicative.",
      ],
    });
  } finally {
    await bench.drop();
  }
}

/** Daily partitions for 40 days back to today, then `rows` readings spread evenly over them. */
async function fill(db: Database, rows: number, today: number): Promise<void> {
  for (let d = -DAYS; d <= 0; d++) await db.query('SELECT readings_create_day_partition($1::date)', [dayOf(today + d * DAY_MS)]);
  const start = today - DAYS * DAY_MS;
  const stepMs = ((DAYS + 1) * DAY_MS - 1) / rows;
  const chunk = 1_000_000;
  for (let from = 1; from <= rows; from += chunk) {
    const to = Math.min(rows, from + chunk - 1);
    await db.query(
      `INSERT INTO readings (reading_id, device_id, event_ts, received_at, metrics, seq)
       SELECT md5(g::text), 'sim-' || (g % 2000), to_timestamp(($1::float8 + g * $2::float8) / 1000), now(),
              jsonb_build_object('temperature', (g % 400) / 10.0, 'humidity', g % 100), g
       FROM generate_series($3::bigint, $4::bigint) g`,
      [start, stepMs, from, to],
    );
    console.log(`  ${to} rows`);
  }
  await db.query('ANALYZE readings');
}

/** WRITERS loops of 500-reading batches of fresh readings until `during` settles. */
async function writeFor(db: Database, during: () => Promise<void>, nextSeq: () => number): Promise<WriteSample> {
  let done = false;
  let written = 0;
  let slowest = 0;
  let failed = 0;
  const started = performance.now();
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    while (!done) {
      const now = Date.now();
      const batch: NewReading[] = Array.from({ length: BATCH }, (_, i) => {
        const seq = nextSeq();
        return {
          reading_id: readingIdOf(`bench-${w}`, now - i, { seq, metrics: {} }),
          device_id: `bench-${w}-${i % 50}`,
          event_ts: new Date(now - i),
          received_at: new Date(now),
          metrics: { temperature: i % 40 },
          seq,
          location: null,
          message_id: null,
        };
      });
      const t = performance.now();
      try {
        const stored = await writeReadings(db, batch);
        written += stored;
      } catch {
        failed += 1;
      }
      slowest = Math.max(slowest, performance.now() - t);
    }
  });
  await during();
  done = true;
  await Promise.all(writers);
  const seconds = (performance.now() - started) / 1000;
  return { readingsPerSec: Math.round(written / seconds), slowestBatchMs: Math.round(slowest), failedBatches: failed };
}
