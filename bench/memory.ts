/**
 * Memory: idle RSS of each bundle (dist/<name>/index.mjs, as deployed) two seconds after its
 * first /healthz 200, against a bare node:http server started the same way, in interleaved
 * rounds; plus the RSS of the bridge and of the bare server under the bridge benchmark's load
 * (from bench/results/bridge.json, when that benchmark has run).
 *
 *   npm run bench -- memory [--quick]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { freePort, waitFor } from '../test/support/net.ts';
import { readRssMb } from './lib/load.ts';
import { describeMachine, median, readResult, writeResult, type ResultRow } from './lib/report.ts';
import { runScript } from './lib/scripts.ts';

const ROOT = join(import.meta.dirname, '..');
const TARGET_IDLE_MB = 60;
/** How long a started process idles before its RSS is read: start-up garbage settles. */
const SETTLE_MS = 2_000;

export interface MemoryOptions {
  rounds: number;
}

interface Subject {
  name: string;
  role: 'project' | 'baseline';
  cwd: string;
  script: string;
}

/** Runs the benchmark and writes bench/results/memory.json and .md. */
export async function runMemoryBench(options: MemoryOptions): Promise<void> {
  // A clean clone has no bundles yet; the deployed form is what is measured.
  if (!FUNCTION_NAMES.some((name) => existsSync(join(ROOT, 'dist', name, 'index.mjs')))) await runScript('scripts/build.ts', []);
  const subjects: Subject[] = [{ name: 'bare node:http', role: 'baseline', cwd: ROOT, script: join(ROOT, 'bench/fixtures/bare-http.mjs') }];
  for (const name of FUNCTION_NAMES) {
    const dir = join(ROOT, 'dist', name);
    if (existsSync(join(dir, 'index.mjs'))) subjects.push({ name: `${name} bundle`, role: 'project', cwd: dir, script: 'index.mjs' });
  }
  if (subjects.length === 1) throw new Error('no bundles in dist/ after `npm run build`');
  const samples = new Map<Subject, number[]>(subjects.map((s) => [s, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const s of subjects) samples.get(s)?.push(await idleRss(s));
  }
  const rows: ResultRow[] = subjects.map((s) => ({ subject: s.name, role: s.role, figures: { idleRssMb: median(samples.get(s) ?? []) } }));
  const bridge = readResult('bridge');
  for (const r of bridge?.rows ?? []) {
    if (r.role === 'diagnostic' || r.figures.loadRssMb === undefined) continue;
    rows.push({ subject: `under load: ${r.subject}`, role: r.role, figures: { loadRssMb: r.figures.loadRssMb } });
  }
  const bareIdle = rows[0]?.figures.idleRssMb ?? NaN;
  writeResult({
    name: 'memory',
    title: 'Memory: idle RSS per bundle, RSS under the bridge benchmark',
    measuredAt: new Date().toISOString(),
    machine: describeMachine(),
    setup: { rounds: options.rounds, settleMs: SETTLE_MS, bundles: 'dist/<name>/index.mjs (npm run build)', underLoadFrom: bridge ? `bench/results/bridge.json of ${bridge.measuredAt}` : 'bridge benchmark not run' },
    rows,
    targets: rows
      .filter((r) => r.role === 'project' && r.figures.idleRssMb !== undefined)
      .map((r) => ({ what: `${r.subject} idle RSS`, target: `≤ ${TARGET_IDLE_MB} MB`, measured: `${(r.figures.idleRssMb ?? NaN).toFixed(1)} MB (bare ${bareIdle.toFixed(1)})`, met: (r.figures.idleRssMb ?? Infinity) <= TARGET_IDLE_MB })),
    notes: ['RSS is read from /proc/<pid>/status (VmRSS) on Node ' + process.version + '; the bare server is the floor any Node.js function starts from.'],
  });
}

async function idleRss(subject: Subject): Promise<number> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '0', process.execPath, subject.script], {
    cwd: subject.cwd,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', GOOGLE_CLOUD_PROJECT: 'local-project', MIGRATE_ON_START: 'false', LOG_LEVEL: 'error', ADMIN_TOKEN: 'bench' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { timeoutMs: 15_000, intervalMs: 20, what: `${subject.name} /healthz` });
    await sleep(SETTLE_MS);
    return await readRssMb(child.pid as number);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
