/**
 * `npm run plan -- --devices N --interval 10s [options]`: what a fleet needs and costs, from
 * the measured per-instance throughput (bench/results), the manifests' autoscaling settings
 * (knative/) and a simulation of Knative's autoscaler over a day. docs/capacity.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { TARGETS, type Target } from './deploy/manifests.ts';
import { parseGoDuration } from './deploy/manifest-rules.ts';
import { buildPlan } from './plan/capacity.ts';
import { loadPlanInputs } from './plan/inputs.ts';
import { formatPlan, renderPlanSvg } from './plan/plan-report.ts';
import { diurnalProfile, flatProfile, parseProfileCsv, type TrafficProfile } from './plan/traffic-profile.ts';

export const USAGE = `usage: npm run plan -- --devices N --interval DURATION [options]

  --devices N                 devices in the fleet (required, a whole number ≥ 1)
  --interval DURATION         time between two messages of one device, e.g. 10s, 1m, 500ms (required)
  --readings-per-message K    readings batched in one message (default 1, at most 500)
  --metrics M                 metric values per reading (default 4)
  --profile flat|diurnal|FILE the day's shape: flat, the built-in diurnal curve with an 08:00
                              reconnect storm (default), or a CSV of "time,load" lines
  --target gke|cloud-run      the overlay whose manifests are planned (default gke)
  --retention-days D          days PostgreSQL keeps readings (default 30)
  --json                      print the whole plan as JSON instead of the table
  --out FILE                  where to write the SVG chart (default $DATA_DIR/plan.svg, DATA_DIR defaults to .data)
  --help                      this text

Prices come from scripts/plan/prices.json (list prices, dated, with sources): an estimate.`;

export interface PlanArgs {
  devices: number;
  interval: number;
  readingsPerMessage: number;
  metrics: number;
  profile: string;
  target: Target;
  retentionDays: number;
  json: boolean;
  out?: string;
  help: boolean;
}

const OPTIONS = {
  devices: { type: 'string' },
  interval: { type: 'string' },
  'readings-per-message': { type: 'string' },
  metrics: { type: 'string' },
  profile: { type: 'string' },
  target: { type: 'string' },
  'retention-days': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Parses the command line, naming every problem at once (thrown as one UsageError). */
export class UsageError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('; '));
    this.name = 'UsageError';
    this.problems = problems;
  }
}

export function parsePlanArgs(argv: string[]): PlanArgs {
  const { values, positionals, tokens } = parseArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const problems: string[] = [];
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (!(token.name in OPTIONS)) problems.push(`unknown option ${token.rawName}`);
    else if (OPTIONS[token.name as keyof typeof OPTIONS].type === 'string' && token.value === undefined) problems.push(`${token.rawName} needs a value`);
    else if (OPTIONS[token.name as keyof typeof OPTIONS].type === 'boolean' && token.value !== undefined) problems.push(`${token.rawName} takes no value`);
  }
  if (positionals.length > 0) problems.push(`unexpected argument ${positionals.join(' ')}`);
  const text = (name: keyof typeof OPTIONS): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
  const help = values.help === true;
  const integer = (name: keyof typeof OPTIONS, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = text(name);
    if (raw === undefined) {
      if (fallback === undefined && !help) problems.push(`--${name} is required`);
      return fallback ?? 0;
    }
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`--${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, not "${raw}"`);
      return fallback ?? 0;
    }
    return Number(raw);
  };
  const devices = integer('devices', undefined, 1);
  const readingsPerMessage = integer('readings-per-message', 1, 1, 500);
  const metrics = integer('metrics', 4, 1, 1000);
  const retentionDays = integer('retention-days', 30, 1, 3650);
  let interval = 0;
  const intervalText = text('interval');
  if (intervalText === undefined) {
    if (!help) problems.push('--interval is required (e.g. 10s)');
  } else {
    const seconds = /^\d+(\.\d+)?$/.test(intervalText) ? Number(intervalText) : parseGoDuration(intervalText);
    if (seconds === undefined || !(seconds > 0)) problems.push(`--interval must be a duration above zero such as 10s, 1m or 500ms, not "${intervalText}"`);
    else interval = seconds;
  }
  const target = text('target') ?? 'gke';
  if (!(TARGETS as readonly string[]).includes(target)) problems.push(`--target must be one of ${TARGETS.join(', ')}, not "${target}"`);
  const profile = text('profile') ?? 'diurnal';
  if (problems.length > 0) throw new UsageError(problems);
  return {
    devices,
    interval,
    readingsPerMessage,
    metrics,
    profile,
    target: target as Target,
    retentionDays,
    json: values.json === true,
    out: text('out'),
    help,
  };
}

/** flat, diurnal, or a CSV file (read here; parsed by the pure module). */
export function resolveProfile(name: string): TrafficProfile {
  if (name === 'flat') return flatProfile;
  if (name === 'diurnal') return diurnalProfile();
  let csv: string;
  try {
    csv = readFileSync(name, 'utf8');
  } catch (error) {
    throw new UsageError([`--profile must be flat, diurnal or a readable CSV file; ${name}: ${error instanceof Error ? error.message : String(error)}`]);
  }
  try {
    return parseProfileCsv(csv, path.basename(name));
  } catch (error) {
    throw new UsageError([`--profile ${name}: ${error instanceof Error ? error.message : String(error)}`]);
  }
}

function main(): void {
  const args = parsePlanArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const profile = resolveProfile(args.profile);
  const plan = buildPlan(loadPlanInputs(args.target), {
    devices: args.devices,
    interval: args.interval,
    readingsPerMessage: args.readingsPerMessage,
    metrics: args.metrics,
    profile,
    retentionDays: args.retentionDays,
  });
  const out = path.resolve(args.out ?? path.join(loadConfig().dataDir, 'plan.svg'));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderPlanSvg(plan));
  if (args.json) process.stdout.write(`${JSON.stringify({ ...plan, chart: out }, null, 2)}\n`);
  else process.stdout.write(`${formatPlan(plan)}\n\nChart: ${out}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`plan: ${error.problems.map((p) => `\n  ${p}`).join('')}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(`plan: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
