/**
 * What the capacity plan reads from the repository: the Knative Services of the rendered
 * overlay (every Service found, with its autoscaling annotations, containerConcurrency,
 * resources and pool size), the committed benchmark results, the price table and the table
 * definitions. The only module of the planner that touches files; docs/capacity.md "Inputs".
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isKnativeService, renderOverlay, type Manifest, type Target } from '../deploy/manifests.ts';
import { parseGoDuration, parseQuantity } from '../deploy/manifest-rules.ts';
import { PriceTableSchema, type Billing, type PriceTable } from './cost-model.ts';
import { KNATIVE_DEFAULTS, type KpaSettings } from './kpa-simulation.ts';
import { parseCreateTable, type BigQueryField, type Column } from './row-size.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const AUTOSCALING = 'autoscaling.knative.dev/';
/** PG_POOL_MAX when a manifest sets none: the default in shared/config.ts. */
const DEFAULT_POOL_MAX = 5;
/** Cloud Run's default maximum concurrent requests per instance. */
const CLOUD_RUN_DEFAULT_CONCURRENCY = 80;

/** One Knative Service as the plan sees it. */
export interface ServiceSpec {
  name: string;
  kpa: KpaSettings;
  cpuLimit: number;
  memoryLimitGib: number;
  cpuRequest: number;
  memoryRequestGib: number;
  poolMax: number;
  /** `timeoutSeconds`: how long a request may take, waiting included (Knative's default 300). */
  timeoutSeconds: number;
  billing: Billing;
  /** Where a setting could not be read, or a simplification applies. */
  notes: string[];
}

/** One point of a measured curve: requests per second one instance served with `concurrency` in flight. */
export interface CurvePoint {
  concurrency: number;
  perSecond: number;
}

export interface MeasuredThroughput {
  /** `requests`: figures are requests/s; `readings`: readings/s with `readingsPerRequest` readings each. */
  unit: 'requests' | 'readings';
  readingsPerRequest: number;
  curve: CurvePoint[];
  source: string;
}

export interface PlanInputs {
  target: Target;
  services: ServiceSpec[];
  throughput: Record<string, MeasuredThroughput>;
  coldStartMs: Record<string, number>;
  prices: PriceTable;
  readingColumns: Column[];
  bigqueryFields: BigQueryField[];
  sources: { manifests: string; bench: string[]; prices: string; schema: string[] };
}

function firstAnnotation(annotations: Record<string, string>, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const value = annotations[AUTOSCALING + key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The plan's view of one rendered Knative Service; unreadable values fall back to Knative's defaults and are noted. */
export function serviceSpecOf(m: Manifest, target: Target): ServiceSpec {
  const annotations = m.spec?.template?.metadata?.annotations ?? {};
  const podSpec = m.spec?.template?.spec;
  const container = podSpec?.containers?.[0];
  const notes: string[] = [];
  const cc = podSpec?.containerConcurrency ?? 0;
  const number = (key: string, raw: string | undefined, fallback: number, scale = 1): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      notes.push(`${key} "${raw}" is not a number; Knative's default ${fallback} used`);
      return fallback;
    }
    return value * scale;
  };
  const duration = (key: string, fallback: number): number => {
    const raw = firstAnnotation(annotations, key);
    if (raw === undefined) return fallback;
    const seconds = parseGoDuration(raw);
    if (seconds === undefined) {
      notes.push(`${key} "${raw}" is not a duration; ${fallback}s used`);
      return fallback;
    }
    return seconds;
  };
  const kpa: KpaSettings = { ...KNATIVE_DEFAULTS, containerConcurrency: cc };
  kpa.minScale = number('min-scale', firstAnnotation(annotations, 'min-scale', 'minScale'), 0);
  kpa.maxScale = number('max-scale', firstAnnotation(annotations, 'max-scale', 'maxScale'), 0);
  if (target === 'cloud-run') {
    // Cloud Run is not Knative's KPA: it aims at 60 % of the maximum concurrency and keeps idle
    // instances up to 15 minutes. Modelled as KPA with those figures (docs/capacity.md).
    kpa.containerConcurrency = cc > 0 ? cc : CLOUD_RUN_DEFAULT_CONCURRENCY;
    kpa.target = kpa.containerConcurrency;
    kpa.targetUtilization = 0.6;
    kpa.initialScale = kpa.minScale;
    kpa.scaleToZeroPodRetentionPeriod = 15 * 60;
    notes.push('Cloud Run autoscaling approximated as KPA: target 60 % of containerConcurrency, idle instances kept 15 min');
  } else {
    const cls = firstAnnotation(annotations, 'class') ?? 'kpa.autoscaling.knative.dev';
    if (cls !== 'kpa.autoscaling.knative.dev') notes.push(`class ${cls} is not simulated; treated as KPA`);
    const metric = firstAnnotation(annotations, 'metric') ?? 'concurrency';
    if (metric === 'rps' || metric === 'concurrency') kpa.metric = metric;
    else notes.push(`metric ${metric} is not simulated; concurrency used`);
    kpa.target = number('target', firstAnnotation(annotations, 'target'), cc > 0 && kpa.metric === 'concurrency' ? cc : KNATIVE_DEFAULTS.target);
    kpa.targetUtilization =
      number('target-utilization-percentage', firstAnnotation(annotations, 'target-utilization-percentage'), KNATIVE_DEFAULTS.targetUtilization * 100) / 100;
    kpa.initialScale = number('initial-scale', firstAnnotation(annotations, 'initial-scale', 'initialScale'), KNATIVE_DEFAULTS.initialScale);
    kpa.activationScale = number('activation-scale', firstAnnotation(annotations, 'activation-scale'), KNATIVE_DEFAULTS.activationScale);
    kpa.panicWindowPercentage = number(
      'panic-window-percentage',
      firstAnnotation(annotations, 'panic-window-percentage'),
      KNATIVE_DEFAULTS.panicWindowPercentage,
    );
    kpa.panicThresholdPercentage = number(
      'panic-threshold-percentage',
      firstAnnotation(annotations, 'panic-threshold-percentage'),
      KNATIVE_DEFAULTS.panicThresholdPercentage,
    );
    kpa.stableWindow = duration('window', KNATIVE_DEFAULTS.stableWindow);
    kpa.scaleDownDelay = duration('scale-down-delay', KNATIVE_DEFAULTS.scaleDownDelay);
    kpa.scaleToZeroPodRetentionPeriod = duration('scale-to-zero-pod-retention-period', KNATIVE_DEFAULTS.scaleToZeroPodRetentionPeriod);
  }
  const quantity = (value: string | undefined, fallback: number): number => (value === undefined ? fallback : (parseQuantity(value) ?? fallback));
  const cpuLimit = quantity(container?.resources?.limits?.cpu, 1);
  const memoryLimitGib = quantity(container?.resources?.limits?.memory, 512 * 1024 ** 2) / 1024 ** 3;
  const pool = container?.env?.find((e) => e.name === 'PG_POOL_MAX')?.value;
  const cpuThrottling = annotations['run.googleapis.com/cpu-throttling'];
  return {
    name: m.metadata.name,
    kpa,
    cpuLimit,
    memoryLimitGib,
    cpuRequest: quantity(container?.resources?.requests?.cpu, cpuLimit),
    memoryRequestGib: quantity(container?.resources?.requests?.memory, memoryLimitGib * 1024 ** 3) / 1024 ** 3,
    poolMax: number('PG_POOL_MAX', pool, DEFAULT_POOL_MAX),
    timeoutSeconds: podSpec?.timeoutSeconds ?? 300,
    billing: cpuThrottling === 'false' ? 'instance-based' : 'request-based',
    notes,
  };
}

const BenchFileSchema = z.object({
  name: z.string(),
  measuredAt: z.string().optional(),
  setup: z.record(z.string(), z.unknown()).optional(),
  rows: z.array(z.object({ subject: z.string().optional(), role: z.string().optional(), figures: z.record(z.string(), z.unknown()).optional() })),
});
const ColdStartFileSchema = z.object({ rows: z.array(z.object({ subject: z.string(), figures: z.object({ startMs: z.number() }) })) });

const numberOr = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/**
 * Throughput curves from `npm run bench`'s JSON results: for every result file with project
 * rows measured at a known concurrency, the lowest figure at each concurrency (the
 * conservative choice where several variants were measured).
 */
export function readThroughput(benchDir: string): Record<string, MeasuredThroughput> {
  const result: Record<string, MeasuredThroughput> = {};
  for (const file of readdirSync(benchDir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const parsed = BenchFileSchema.safeParse(JSON.parse(readFileSync(path.join(benchDir, file), 'utf8')));
    if (!parsed.success) continue;
    const bench = parsed.data;
    const setupConnections = numberOr(bench.setup?.connections);
    const byConcurrency = new Map<number, number>();
    let unit: MeasuredThroughput['unit'] | undefined;
    for (const row of bench.rows) {
      if (row.role !== 'project' || !row.figures) continue;
      const concurrency = numberOr(row.figures.connections) ?? setupConnections;
      const requests = numberOr(row.figures.reqPerSec);
      const readings = numberOr(row.figures.readingsPerSec);
      const perSecond = requests ?? readings;
      if (concurrency === undefined || perSecond === undefined) continue;
      unit ??= requests !== undefined ? 'requests' : 'readings';
      byConcurrency.set(concurrency, Math.min(perSecond, byConcurrency.get(concurrency) ?? Number.POSITIVE_INFINITY));
    }
    if (unit === undefined) continue;
    result[bench.name] = {
      unit,
      readingsPerRequest: numberOr(bench.setup?.readingsPerPush) ?? 1,
      curve: [...byConcurrency].map(([concurrency, perSecond]) => ({ concurrency, perSecond })).sort((a, b) => a.concurrency - b.concurrency),
      source: `bench/results/${file}${bench.measuredAt ? ` (${bench.measuredAt})` : ''}`,
    };
  }
  return result;
}

/**
 * Median cold start per function from bench/results/cold-start.json: the row `<function> bundle`
 * (without the compile cache: the conservative figure).
 */
export function readColdStarts(benchDir: string): Record<string, number> {
  const parsed = ColdStartFileSchema.safeParse(JSON.parse(readFileSync(path.join(benchDir, 'cold-start.json'), 'utf8')));
  if (!parsed.success) throw new Error(`bench/results/cold-start.json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return Object.fromEntries(
    parsed.data.rows.flatMap((r) => {
      const fn = /^(\S+) bundle$/.exec(r.subject)?.[1];
      return fn ? [[fn, r.figures.startMs]] : [];
    }),
  );
}

export function readPrices(file: string): PriceTable {
  const parsed = PriceTableSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Everything the plan needs, read from `root` (the repository, or a copy of it in tests). */
export function loadPlanInputs(target: Target, root = ROOT): PlanInputs {
  const manifests = renderOverlay(target, root).filter(isKnativeService);
  if (manifests.length === 0) throw new Error(`no Knative Service in knative/overlays/${target}`);
  const benchDir = path.join(root, 'bench', 'results');
  const migrationsDir = path.join(root, 'schemas', 'migrations');
  const migrations = readdirSync(migrationsDir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const sql = migrations.map((f) => readFileSync(path.join(migrationsDir, f), 'utf8')).join('\n');
  const bigquery = JSON.parse(readFileSync(path.join(root, 'schemas', 'bigquery', 'measurements.json'), 'utf8')) as { schema: { fields: BigQueryField[] } };
  const pricesFile = path.join(root, 'scripts', 'plan', 'prices.json');
  return {
    target,
    services: manifests.map((m) => serviceSpecOf(m, target)),
    throughput: readThroughput(benchDir),
    coldStartMs: readColdStarts(benchDir),
    prices: readPrices(pricesFile),
    readingColumns: parseCreateTable(sql, 'readings'),
    bigqueryFields: bigquery.schema.fields,
    sources: {
      manifests: `knative/overlays/${target} (kubectl kustomize)`,
      bench: readdirSync(benchDir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => `bench/results/${f}`),
      prices: 'scripts/plan/prices.json',
      schema: [...migrations.map((f) => `schemas/migrations/${f}`), 'schemas/bigquery/measurements.json'],
    },
  };
}
