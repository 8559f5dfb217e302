/**
 * The read API on a table of a million readings: p50/p99 and req/s per endpoint, served by
 * the readings function from source (pinned to core 0) against the machine's PostgreSQL, with
 * autocannon on core 1, and `/healthz` of the same process as the baseline (HTTP alone, no
 * query). Also writes the plans PostgreSQL chose at that size (EXPLAIN ANALYZE) to
 * bench/results/readings-explain.md.
 *
 *   npm run bench -- readings [--quick]
 * @see ../docs/readings-api.md
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBenchDatabase } from './lib/database.ts';
import { runLoad } from './lib/load.ts';
import { startServer } from './lib/processes.ts';
import { RESULTS_DIR, describeMachine, median, roundFigure, writeResult, type ResultRow } from './lib/report.ts';

export interface ReadingsBenchOptions {
  devices: number;
  readingsPerDevice: number;
  seconds: number;
  rounds: number;
  connections: number;
}

const TOKEN = 'bench-read-token-0123456789';

/** Runs the benchmark and writes bench/results/readings.json, .md and readings-explain.md. */
export async function runReadingsBench(options: ReadingsBenchOptions): Promise<void> {
  const database = await createBenchDatabase('readings');
  const rows = options.devices * options.readingsPerDevice;
  try {
    const loadStarted = performance.now();
    await database.db.query(
      `INSERT INTO devices (device_id, site) SELECT 'bench-' || lpad(d::text, 4, '0'), 'site-' || (d % 10) FROM generate_series(1, $1::int) d`,
      [options.devices],
    );
    // One reading a minute per device, newest now: a million rows span about a week.
    await database.db.query(
      `INSERT INTO readings (reading_id, device_id, event_ts, received_at, metrics, seq)
       SELECT md5(d || ':' || i), 'bench-' || lpad(d::text, 4, '0'), now() - i * interval '1 minute', now() - i * interval '1 minute',
              jsonb_build_object('temperature', round((20 + 5 * sin(i / 90.0) + random())::numeric, 2), 'humidity', round((40 + random() * 10)::numeric, 1), 'on', i % 2 = 0), i
         FROM generate_series(1, $1::int) d, generate_series(0, $2::int - 1) i`,
      [options.devices, options.readingsPerDevice],
    );
    await database.db.query(
      `INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total)
       SELECT device_id, now(), '{"temperature": 21.5, "humidity": 44}', now() - (random() * interval '1 hour'), $1::int FROM devices`,
      [options.readingsPerDevice],
    );
    await database.db.query('ANALYZE');
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    console.log(`loaded ${rows.toLocaleString('en')} readings in ${loadSeconds.toFixed(0)} s`);

    const to = new Date(Date.now() + 60_000).toISOString();
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
    const device = `bench-${String(Math.ceil(options.devices / 2)).padStart(4, '0')}`;
    const endpoints = [
      { subject: 'GET /healthz (HTTP only)', role: 'baseline' as const, path: '/healthz' },
      { subject: 'readings: last hour (~60 rows)', role: 'project' as const, path: `/v1/devices/${device}/readings?from=${hourAgo}&to=${to}` },
      {
        subject: 'readings: 24 h, page of 1,000',
        role: 'project' as const,
        path: `/v1/devices/${device}/readings?from=${dayAgo}&to=${to}&pageSize=1000&order=desc`,
      },
      {
        subject: 'series: 24 h by 5m, 5 aggregates',
        role: 'project' as const,
        path: `/v1/devices/${device}/series?metric=temperature&interval=5m&agg=avg,min,max,count,last&from=${dayAgo}&to=${to}`,
      },
      {
        subject: 'series: 7 d by 1h, avg',
        role: 'project' as const,
        path: `/v1/devices/${device}/series?metric=temperature&interval=1h&from=${new Date(Date.now() - 7 * 86_400_000).toISOString()}&to=${to}`,
      },
      { subject: 'fleet: page of 100', role: 'project' as const, path: '/v1/fleet?pageSize=100' },
      { subject: 'fleet: silentFor=30m', role: 'project' as const, path: '/v1/fleet?silentFor=30m&pageSize=1000' },
    ];

    const server = await startServer('scripts/serve.ts', ['readings'], {
      DATABASE_URL: database.url,
      READ_TOKEN: TOKEN,
      MIGRATE_ON_START: 'false',
      PG_POOL_MAX: '5',
    });
    const samples = new Map<string, { reqPerSec: number[]; p50Ms: number[]; p99Ms: number[]; non2xx: number[] }>();
    try {
      for (let round = 0; round < options.rounds; round++) {
        // Interleaved, so that the machine's noise hits every endpoint alike.
        for (const endpoint of endpoints) {
          const result = await runLoad({
            url: server.url + endpoint.path,
            method: 'GET',
            connections: options.connections,
            seconds: options.seconds,
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          const s = samples.get(endpoint.subject) ?? { reqPerSec: [], p50Ms: [], p99Ms: [], non2xx: [] };
          s.reqPerSec.push(result.reqPerSec);
          s.p50Ms.push(result.p50Ms);
          s.p99Ms.push(result.p99Ms);
          s.non2xx.push(result.non2xx + result.errors);
          samples.set(endpoint.subject, s);
          console.log(
            `round ${round + 1} ${endpoint.subject}: ${result.reqPerSec.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, non-2xx ${result.non2xx}`,
          );
        }
      }
    } finally {
      await server.stop();
    }
    const resultRows: ResultRow[] = endpoints.map((e) => {
      const s = samples.get(e.subject)!;
      return {
        subject: e.subject,
        role: e.role,
        figures: {
          reqPerSec: roundFigure(median(s.reqPerSec)),
          p50Ms: roundFigure(median(s.p50Ms)),
          p99Ms: roundFigure(median(s.p99Ms)),
          non2xx: Math.max(...s.non2xx),
        },
      };
    });

    await writeExplain(database.db, device, { hourAgo, dayAgo, to }, rows);
    writeResult({
      name: 'readings',
      title: `Read API on ${rows.toLocaleString('en')} readings (${options.devices} devices), ${options.connections} connections`,
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: { ...options, rows },
      rows: resultRows,
      targets: [],
      notes: [
        `Medians of ${options.rounds} interleaved rounds of ${options.seconds} s each; function from source on core 0, PostgreSQL 15 and autocannon sharing the machine.`,
        'Every request is a read-only transaction with SET LOCAL statement_timeout (two extra round trips to PostgreSQL, included here).',
      ],
    });
  } finally {
    await database.drop();
  }
}

/** EXPLAIN (ANALYZE, BUFFERS) of the function's three query shapes on the loaded table. */
async function writeExplain(
  db: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> },
  device: string,
  w: { hourAgo: string; dayAgo: string; to: string },
  rows: number,
): Promise<void> {
  const { selectBuckets, selectFleet, selectReadings } = await import('../functions/readings/store.ts');
  const sections: string[] = [];
  const explaining = (title: string) => ({
    async query<R>(text: string, params?: unknown[]) {
      const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text}`, params);
      sections.push(`#### ${title}\n\n\`\`\`\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}\n\`\`\``);
      return { rows: [] as R[], rowCount: 0 };
    },
    exec: async () => {},
  });
  const window = { deviceId: device, fromMs: Date.parse(w.dayAgo), toMs: Date.parse(w.to) };
  await selectReadings(explaining('readings: one device, 24 h, page of 1,000, newest first'), { ...window, order: 'desc', limit: 1001 });
  await selectReadings(explaining('readings: the next page (keyset cursor), metrics=humidity'), {
    ...window,
    order: 'asc',
    limit: 101,
    metrics: ['humidity'],
    after: { ts: new Date(Date.parse(w.hourAgo)).toISOString(), id: 'ffff' },
  });
  await selectBuckets(explaining('series: one device, 24 h by 5 min'), { ...window, metric: 'temperature', widthMs: 300_000 });
  await selectFleet(explaining('fleet: page of 100, silent for 30 min'), { limit: 101, silentForMs: 1_800_000 });
  const text = [
    `### Query plans on ${rows.toLocaleString('en')} readings`,
    '',
    `_${new Date().toISOString()}; written by \`npm run bench -- readings\`._`,
    '',
    ...sections,
    '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, 'readings-explain.md'), text);
}
