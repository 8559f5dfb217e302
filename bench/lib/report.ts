/**
 * One shape for every benchmark's result, written as `bench/results/<name>.json` and
 * `bench/results/<name>.md`, so the runner can combine them into the summary and the chart.
 * @see ../../docs/performance.md
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

export const RESULTS_DIR = join(import.meta.dirname, '..', 'results');

/** Whether a row is the project, the baseline it is compared with, or a diagnostic. */
export type Role = 'project' | 'baseline' | 'diagnostic';

export interface ResultRow {
  subject: string;
  role: Role;
  /** Medians over rounds; keys name their unit (`reqPerSec`, `p99Ms`, `rssMb`, ...). */
  figures: Record<string, number>;
}

export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResult {
  name: string;
  title: string;
  measuredAt: string;
  machine: MachineNote;
  setup: Record<string, unknown>;
  rows: ResultRow[];
  targets: TargetCheck[];
  notes: string[];
}

/** What the machine was doing: the figures mean little without it on a shared 2-core box. */
export interface MachineNote {
  cpus: number;
  cpuModel: string;
  node: string;
  loadAverage: number[];
  /**
   * JSON round trips of a reading a millisecond on one core (best of five): machines of one
   * name have been seen four times apart, and only a measurement tells them apart. Absent in
   * results written before it was recorded.
   */
  speed?: number;
}

export function describeMachine(): MachineNote {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    node: process.version,
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    speed: measureSpeed(),
  };
}

let measuredSpeed: number | undefined;

/** The calibration of MachineNote.speed, once per process (about half a second on a slow machine). */
function measureSpeed(): number {
  if (measuredSpeed !== undefined) return measuredSpeed;
  const reading = {
    deviceId: 'calibration-0001',
    ts: '2026-01-01T00:00:00.000Z',
    seq: 1,
    metrics: { temperature: 21.5, humidity: 40.25, ok: true, mode: 'eco' },
  };
  const roundTrips = 10_000;
  let bestMs = Infinity;
  let seqs = 0;
  for (let round = 0; round < 5; round++) {
    const startedAt = performance.now();
    for (let i = 0; i < roundTrips; i++) seqs += (JSON.parse(JSON.stringify(reading)) as { seq: number }).seq;
    bestMs = Math.min(bestMs, performance.now() - startedAt);
  }
  // Uses the result, so that the work cannot be optimised away.
  if (seqs !== 5 * roundTrips) throw new Error('the calibration lost round trips');
  measuredSpeed = Math.round(roundTrips / bestMs);
  return measuredSpeed;
}

/** Speeds of one machine name this far apart or more are taken as different machines. */
const SAME_MACHINE_SPEED_RATIO = 1.3;

/**
 * A labeller for the machines behind a set of results: the CPU, cores and Node, plus the
 * measured speed where machines of one name were measured, so that results from two machines
 * that share a name (or one whose speed was not recorded) are never read as one set.
 */
export function machineGrouping(notes: readonly MachineNote[]): (m: MachineNote) => string {
  const speedsByLabel = new Map<string, number[]>();
  for (const m of notes) if (m.speed !== undefined) speedsByLabel.set(machineLabel(m), [...(speedsByLabel.get(machineLabel(m)) ?? []), m.speed]);
  // Per name, speeds fastest first, each cluster within the ratio of its fastest; named by its median.
  const clustersByLabel = new Map<string, { fastest: number; median: number }[]>();
  for (const [label, speeds] of speedsByLabel) {
    const clusters: number[][] = [];
    for (const speed of [...speeds].sort((a, b) => b - a)) {
      const current = clusters.at(-1);
      if (current && speed * SAME_MACHINE_SPEED_RATIO >= (current[0] as number)) current.push(speed);
      else clusters.push([speed]);
    }
    clustersByLabel.set(
      label,
      clusters.map((c) => ({ fastest: c[0] as number, median: Math.round(median(c)) })),
    );
  }
  return (m) => {
    const label = machineLabel(m);
    const clusters = clustersByLabel.get(label);
    if (!clusters) return label;
    if (m.speed === undefined) return `${label}, speed not recorded`;
    const speed = m.speed;
    const cluster = clusters.find((c) => speed <= c.fastest && speed * SAME_MACHINE_SPEED_RATIO >= c.fastest);
    return `${label}, speed ${cluster?.median ?? speed}`;
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Rounds to a few significant digits for tables; keeps integers whole. */
export function roundFigure(value: number): number {
  if (!Number.isFinite(value)) return value;
  if (Math.abs(value) >= 100) return Math.round(value);
  if (Math.abs(value) >= 10) return Math.round(value * 10) / 10;
  return Math.round(value * 100) / 100;
}

/** Writes `<name>.json` and `<name>.md` under bench/results. */
export function writeResult(result: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `${result.name}.md`), `${renderMarkdown(result)}\n`);
}

export function readResult(name: string): BenchResult | undefined {
  const path = join(RESULTS_DIR, `${name}.json`);
  if (!existsSync(path)) return undefined;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<BenchResult>;
  // Files of another shape (written by an older version of a benchmark) are left out.
  return Array.isArray(parsed.rows) && Array.isArray(parsed.targets) && parsed.machine ? (parsed as BenchResult) : undefined;
}

const LABELS: Record<string, string> = {
  reqPerSec: 'req/s',
  readingsPerSec: 'readings/s',
  rowsPerSec: 'rows/s',
  p50Ms: 'p50 ms',
  p90Ms: 'p90 ms',
  p99Ms: 'p99 ms',
  maxMs: 'max ms',
  rssMb: 'RSS MB',
  idleRssMb: 'idle RSS MB',
  loadRssMb: 'RSS under load MB',
  startMs: 'start ms',
  entryKiB: 'entry KiB',
  totalKiB: 'total KiB',
  requestsPer1000Rows: 'requests / 1,000 rows',
  ratioToBaseline: '× baseline',
  non2xx: 'non-2xx',
  lost: 'lost',
  storedP50Ms: 'POST → row p50 ms',
  storedP99Ms: 'POST → row p99 ms',
  drainSeconds: 'drain s',
  sentPerSec: 'sent/s',
  acceptedPerSec: 'accepted/s',
  stackCpuUsPerReading: 'stack CPU µs / reading',
  mainThreadCpuUsPerReading: 'main thread CPU µs / reading',
  simulatorCpuUsPerReading: 'simulator CPU µs / reading',
  postgresCpuUsPerReading: 'PostgreSQL CPU µs / reading',
  machineBusyCores: 'machine busy, cores',
  connections: 'connections',
  cpuUsPerMessage: 'CPU µs / message',
  messagesPerSec: 'messages/s',
  cpuRatioToBaseline: 'CPU × baseline',
};

export const labelOf = (key: string): string => LABELS[key] ?? key;

/** A Markdown table of the rows (one column per figure any row has) and the targets. */
export function renderMarkdown(result: BenchResult): string {
  const keys = [...new Set(result.rows.flatMap((r) => Object.keys(r.figures)))];
  const lines = [
    `### ${result.title}`,
    '',
    `| subject | role | ${keys.map(labelOf).join(' | ')} |`,
    `|---|---|${keys.map(() => '---:').join('|')}|`,
    ...result.rows.map((r) => `| ${r.subject} | ${r.role} | ${keys.map((k) => formatCell(r.figures[k])).join(' | ')} |`),
  ];
  if (result.targets.length) {
    lines.push('', '| target | wanted | measured | met |', '|---|---|---|---|');
    for (const t of result.targets) lines.push(`| ${t.what} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  }
  const m = result.machine;
  lines.push(
    '',
    `_${result.measuredAt}, ${m.cpus} × ${m.cpuModel}, Node ${m.node}${m.speed === undefined ? '' : `, speed ${m.speed} (JSON round trips a ms)`}, load average ${m.loadAverage.join(' ')}; setup: ${JSON.stringify(result.setup)}_`,
  );
  for (const note of result.notes) lines.push('', `- ${note}`);
  return lines.join('\n');
}

/** The machine a result is comparable on: same CPU model, core count and Node. */
export const machineLabel = (m: MachineNote): string => `${m.cpus} × ${m.cpuModel}, Node ${m.node}`;

export interface SummaryOptions {
  /** When this `npm run bench` started: results measured before come from an earlier run. */
  runStartedAt: Date;
  /** The machine writing the summary. */
  machine: MachineNote;
  /** Markdown placed after the header (the chart). */
  chart?: string;
}

/**
 * summary.md: the targets table, then every result grouped by the machine it was measured on.
 * Results from another machine or an earlier run are marked as such next to their figures, so
 * a re-run on a new machine never reads as one set of comparable numbers.
 */
export function renderSummary(results: BenchResult[], options: SummaryOptions): string {
  const machineOf = machineGrouping([options.machine, ...results.map((r) => r.machine)]);
  const here = machineOf(options.machine);
  // This run's machine first, when it measured anything.
  const machines = [...new Set(results.map((r) => machineOf(r.machine)))].sort((a, b) => Number(b === here) - Number(a === here));
  const tagOf = (m: string) => (machines.length > 1 ? `machine ${String.fromCharCode(65 + machines.indexOf(m))}` : '');
  const isStale = (r: BenchResult) => Date.parse(r.measuredAt) < options.runStartedAt.getTime();
  const provenance = (r: BenchResult) =>
    [tagOf(machineOf(r.machine)), isStale(r) ? `earlier run, ${r.measuredAt.slice(0, 10)}` : ''].filter(Boolean).join('; ');
  const stale = results.filter(isStale);
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` at ${new Date().toISOString()} on ${here}; load average now ${options.machine.loadAverage.join(' ')} (each table notes its own).`,
    '',
  ];
  if (machines.length > 1) {
    lines.push(`**These results come from ${machines.length} machines: compare figures only within one.**`, '');
    for (const m of machines)
      lines.push(
        `- ${tagOf(m)}: ${m}${m === here ? ' (this run)' : ''}: ${results
          .filter((r) => machineOf(r.machine) === m)
          .map((r) => r.name)
          .join(', ')}`,
      );
    lines.push('');
  }
  if (stale.length) lines.push(`**Not re-measured in this run:** ${stale.map((r) => `${r.name} (${r.measuredAt})`).join(', ')}.`, '');
  if (options.chart) lines.push(options.chart, '');
  const where = (r: BenchResult) => (machines.length > 1 || isStale(r) ? ` | ${provenance(r) || 'this run'}` : '');
  const mixed = machines.length > 1 || stale.length > 0;
  lines.push(
    '## Targets',
    '',
    `| benchmark | target | wanted | measured | met |${mixed ? ' measured on |' : ''}`,
    `|---|---|---|---|---|${mixed ? '---|' : ''}`,
  );
  for (const r of results)
    for (const t of r.targets)
      lines.push(`| ${r.name} | ${t.what} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'}${mixed ? where(r) || ' | this run' : ''} |`);
  lines.push('');
  for (const m of machines) {
    const group = results.filter((r) => machineOf(r.machine) === m);
    if (group.length === 0) continue;
    if (machines.length > 1) lines.push(`## ${tagOf(m)}: ${m}`, '');
    for (const r of group) lines.push(renderMarkdown(r), ...(isStale(r) ? ['', `- _Measured in an earlier run (${r.measuredAt})._`] : []), '');
  }
  return lines.join('\n');
}

function formatCell(value: number | undefined): string {
  if (value === undefined) return '';
  return String(roundFigure(value));
}
