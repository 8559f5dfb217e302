/**
 * Cold start: process start → first `/healthz` 200, and RSS right after, for each bundle
 * (`npm run build` first), against a bare node:http server and a functions-framework hello
 * world measured in the same run, in interleaved rounds so that machine noise hits every
 * subject alike. Medians and ratios to the bare server. Each bundle is measured twice: as
 * is, and with V8's compile cache warmed the way the Dockerfile warms it into the image.
 * Targets (issue 5): median ≤ 150 ms and ≤ 2× bare.
 *
 *   npm run bench -- cold-start [--quick]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import path from 'node:path';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { freePort } from '../test/support/net.ts';
import { describeMachine, median, writeResult, type ResultRow } from './lib/report.ts';
import { runScript } from './lib/scripts.ts';

const ROOT = path.join(import.meta.dirname, '..');
const TARGET_MS = 150;
const TARGET_RATIO = 2;

interface Subject {
  name: string;
  cwd: string;
  args: string[];
  /** Extra environment (the compile cache the Dockerfile bakes into the image). */
  env?: Record<string, string>;
  /** Bundle size (entry chunk, all chunks) for the functions. */
  bytes?: { entry: number; total: number };
}

interface Sample {
  ms: number;
  rssMb: number;
}

/** GET /healthz once; resolves with the status, rejects while nothing listens. */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function readRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function measureOnce(subject: Subject, env: Record<string, string>): Promise<Sample> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, subject.args, { cwd: subject.cwd, env: { ...env, ...subject.env, PORT: String(port) }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${subject.name} exited with ${child.exitCode} before answering`);
      const status = await probe(port).catch(() => 0);
      if (status === 200) break;
      if (performance.now() - started > 15_000) throw new Error(`${subject.name} did not answer /healthz within 15 s`);
      await new Promise((r) => setTimeout(r, 1));
    }
    const ms = performance.now() - started;
    return { ms, rssMb: readRssMb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function bundleBytes(dir: string): { entry: number; total: number } {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mjs'));
  return { entry: statSync(path.join(dir, 'index.mjs')).size, total: files.reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0) };
}

/** What the Dockerfile does at image build: start once with NODE_COMPILE_CACHE, flush it. */
function warmCompileCache(dir: string, cacheDir: string): void {
  rmSync(cacheDir, { recursive: true, force: true });
  // As the Dockerfile warms it: a bundle refuses to start without its stores configured.
  const warm =
    "Object.assign(process.env, { PORT: '0', DATABASE_URL: 'postgres://warm-up.invalid/none', GOOGLE_CLOUD_PROJECT: 'warm-up', BIGQUERY_DATASET: 'warm-up' }); await import('./index.mjs'); (await import('node:module')).flushCompileCache(); process.exit(0);";
  execFileSync(process.execPath, ['--input-type=module', '--eval', warm], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: cacheDir, LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });
}

function subjects(cacheRoot: string): Subject[] {
  const list: Subject[] = [
    { name: 'bare node:http', cwd: ROOT, args: [path.join(ROOT, 'bench/fixtures/bare-http.mjs')] },
    {
      name: 'functions-framework hello',
      cwd: ROOT,
      args: [
        path.join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js'),
        '--target=hello',
        `--source=${path.join(ROOT, 'bench/fixtures/ff-hello.mjs')}`,
      ],
    },
  ];
  for (const name of FUNCTION_NAMES) {
    const dir = path.join(ROOT, 'dist', name);
    if (!existsSync(path.join(dir, 'index.mjs'))) continue;
    list.push({ name: `${name} bundle`, cwd: dir, args: ['index.mjs'], bytes: bundleBytes(dir) });
    const cacheDir = path.join(cacheRoot, name);
    warmCompileCache(dir, cacheDir);
    list.push({ name: `${name} bundle + compile cache`, cwd: dir, args: ['index.mjs'], bytes: bundleBytes(dir), env: { NODE_COMPILE_CACHE: cacheDir } });
  }
  return list;
}

export interface ColdStartOptions {
  runs: number;
}

/** Builds the bundles, runs the benchmark and writes bench/results/cold-start.json and .md. */
export async function runColdStartBench(options: ColdStartOptions): Promise<void> {
  await runScript('scripts/build.ts', []);
  const cacheRoot = mkdtempSync(path.join(tmpdir(), 'cold-start-cache-'));
  try {
    const list = subjects(cacheRoot);
    if (list.length === 2) throw new Error('no bundles in dist/ after `npm run build`');
    const samples = await measureAll(list, options.runs);
    const bareMs = median(samples.get('bare node:http')?.map((x) => x.ms) ?? []);
    const rows: ResultRow[] = list.map((s) => {
      const taken = samples.get(s.name) ?? [];
      const ms = median(taken.map((x) => x.ms));
      return {
        subject: s.name,
        role: s.bytes ? 'project' : 'baseline',
        figures: {
          startMs: ms,
          ratioToBaseline: ms / bareMs,
          rssMb: median(taken.map((x) => x.rssMb)),
          ...(s.bytes ? { entryKiB: s.bytes.entry / 1024, totalKiB: s.bytes.total / 1024 } : {}),
        },
      };
    });
    writeResult({
      name: 'cold-start',
      title: 'Cold start: process start → first /healthz 200',
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: { runs: options.runs, bundles: 'dist/<name>/index.mjs (npm run build)', rss: 'right after the first 200 (see memory for settled idle RSS)' },
      rows,
      targets: rows
        .filter((r) => r.role === 'project')
        .map((r) => {
          const { startMs = NaN, ratioToBaseline = NaN } = r.figures;
          return {
            what: `${r.subject} start`,
            target: `≤ ${TARGET_MS} ms and ≤ ${TARGET_RATIO}× bare`,
            measured: `${startMs.toFixed(1)} ms, ${ratioToBaseline.toFixed(2)}×`,
            met: startMs <= TARGET_MS && ratioToBaseline <= TARGET_RATIO,
          };
        }),
      notes: ['Subjects start one after the other in interleaved rounds, after one uncounted start each to warm the page cache; medians of the rounds.'],
    });
  } finally {
    rmSync(cacheRoot, { recursive: true, force: true });
  }
}

async function measureAll(list: Subject[], runs: number): Promise<Map<string, Sample[]>> {
  // What a deployed function starts with; no connection is opened before the first request.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    GOOGLE_CLOUD_PROJECT: 'local-project',
    // ingest's warehouse: a bundle carries no DuckDB, and no request reaches BigQuery here.
    BIGQUERY_DATASET: 'telemetry',
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'error',
    ADMIN_TOKEN: 'bench',
  };
  const samples = new Map<string, Sample[]>(list.map((s) => [s.name, []]));
  for (const s of list) await measureOnce(s, env); // warm the page cache; not counted
  for (let round = 0; round < runs; round++) {
    for (const s of list) samples.get(s.name)?.push(await measureOnce(s, env));
  }
  return samples;
}
