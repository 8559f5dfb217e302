/**
 * Offline validation of rendered Knative Services: structurally against Knative's schema
 * (@kubernetes-models/knative, generated from the Serving CRDs), then against the rules
 * Knative's admission webhook enforces (with its default config-autoscaler and
 * config-defaults), and, for the Cloud Run overlay, against what Cloud Run accepts.
 * Every rule returns issues with a path; nothing throws, so one run names every problem.
 * @see https://knative.dev/docs/serving/autoscaling/
 * @see https://cloud.google.com/run/docs/reference/yaml/v1
 */
import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import type { Issue } from '../../shared/errors.ts';
import { BUNDLE, nodeFlagsOf, type Container, type Manifest, type Target } from './manifests.ts';

const AUTOSCALING = 'autoscaling.knative.dev/';
/** Knative Serving's default max-revision-timeout-seconds and container-concurrency-max-limit. */
export const KNATIVE_MAX_TIMEOUT_SECONDS = 600;
export const MAX_CONTAINER_CONCURRENCY = 1000;
export const CLOUD_RUN_MAX_TIMEOUT_SECONDS = 3600;
const RESERVED_ENV = new Set(['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION']);

const KNATIVE_AUTOSCALING_KEYS = new Set([
  'class',
  'metric',
  'target',
  'target-utilization-percentage',
  'min-scale',
  'max-scale',
  'initial-scale',
  'scale-down-delay',
  'window',
  'panic-window-percentage',
  'panic-threshold-percentage',
  'activation-scale',
  'scale-to-zero-pod-retention-period',
]);
const METRICS_BY_CLASS: Record<string, string[]> = {
  'kpa.autoscaling.knative.dev': ['concurrency', 'rps'],
  'hpa.autoscaling.knative.dev': ['cpu', 'memory'],
};

/** Revision-template annotations Cloud Run accepts (others are rejected at deploy). */
const CLOUD_RUN_TEMPLATE_ANNOTATIONS = new Set([
  'autoscaling.knative.dev/minScale',
  'autoscaling.knative.dev/maxScale',
  'run.googleapis.com/cloudsql-instances',
  'run.googleapis.com/cpu-throttling',
  'run.googleapis.com/startup-cpu-boost',
  'run.googleapis.com/execution-environment',
  'run.googleapis.com/vpc-access-connector',
  'run.googleapis.com/vpc-access-egress',
  'run.googleapis.com/network-interfaces',
  'run.googleapis.com/sessionAffinity',
  'run.googleapis.com/container-dependencies',
  'run.googleapis.com/encryption-key',
  'run.googleapis.com/secrets',
  'client.knative.dev/user-image',
  'run.googleapis.com/client-name',
]);
const CLOUD_RUN_SERVICE_ANNOTATIONS = new Set([
  'run.googleapis.com/ingress',
  'run.googleapis.com/launch-stage',
  'run.googleapis.com/description',
  'run.googleapis.com/binary-authorization',
  'run.googleapis.com/invoker-iam-disabled',
  'run.googleapis.com/default-url-disabled',
  'run.googleapis.com/minScale',
]);
const CLOUD_RUN_INGRESS = ['all', 'internal', 'internal-and-cloud-load-balancing'];

/** A Go duration (`time.ParseDuration`) in seconds, or undefined when malformed. */
export function parseGoDuration(value: string): number | undefined {
  if (value === '0') return 0;
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

/** A Kubernetes quantity (`500m`, `1`, `256Mi`, `1G`) as a number of base units. */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!m) return undefined;
  const factor: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * (m[2] ? factor[m[2]]! : 1);
}

const isNonNegativeInt = (v: string) => /^\d+$/.test(v);
const isPositiveNumber = (v: string) => /^\d+(\.\d+)?$/.test(v) && Number(v) > 0;

/** Structural check against the Serving CRD schema. */
export function checkSchema(m: Manifest): Issue[] {
  try {
    new KnativeService(m as ConstructorParameters<typeof KnativeService>[0]).validate();
    return [];
  } catch (error) {
    return [{ path: 'schema', message: error instanceof Error ? error.message : String(error) }];
  }
}

function checkKnativeAutoscaling(annotations: Record<string, string>, cc: number | undefined, at: string): Issue[] {
  const issues: Issue[] = [];
  const get = (key: string) => annotations[AUTOSCALING + key];
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(AUTOSCALING) && !KNATIVE_AUTOSCALING_KEYS.has(key.slice(AUTOSCALING.length))) {
      issues.push({ path: `${at}.${key}`, message: 'unknown autoscaling annotation' });
    }
  }
  const cls = get('class') ?? 'kpa.autoscaling.knative.dev';
  const metric = get('metric') ?? (cls === 'kpa.autoscaling.knative.dev' ? 'concurrency' : 'cpu');
  if (!METRICS_BY_CLASS[cls]) issues.push({ path: `${at}.${AUTOSCALING}class`, message: `unknown class ${cls}` });
  else if (!METRICS_BY_CLASS[cls].includes(metric))
    issues.push({ path: `${at}.${AUTOSCALING}metric`, message: `${metric} is not a metric of ${cls} (${METRICS_BY_CLASS[cls].join(', ')})` });
  const target = get('target');
  if (target !== undefined) {
    if (!isPositiveNumber(target) || Number(target) < 0.01)
      issues.push({ path: `${at}.${AUTOSCALING}target`, message: `must be a number ≥ 0.01, got ${target}` });
    else if (cc && metric === 'concurrency' && Number(target) > cc)
      issues.push({ path: `${at}.${AUTOSCALING}target`, message: `target ${target} exceeds containerConcurrency ${cc}` });
  }
  const tup = get('target-utilization-percentage');
  if (tup !== undefined && !(isPositiveNumber(tup) && Number(tup) >= 1 && Number(tup) <= 100)) {
    issues.push({ path: `${at}.${AUTOSCALING}target-utilization-percentage`, message: `must be 1..100, got ${tup}` });
  }
  for (const key of ['min-scale', 'max-scale', 'initial-scale', 'activation-scale']) {
    const v = get(key);
    if (v !== undefined && !isNonNegativeInt(v)) issues.push({ path: `${at}.${AUTOSCALING}${key}`, message: `must be an integer ≥ 0, got ${v}` });
  }
  const min = Number(get('min-scale') ?? 0);
  const max = Number(get('max-scale') ?? 0);
  if (max > 0 && min > max) issues.push({ path: `${at}.${AUTOSCALING}min-scale`, message: `min-scale ${min} exceeds max-scale ${max}` });
  if (cls === 'hpa.autoscaling.knative.dev' && min === 0) issues.push({ path: `${at}.${AUTOSCALING}min-scale`, message: 'the HPA class cannot scale to zero' });
  const durations: [string, number, number][] = [
    ['scale-down-delay', 0, 3600],
    ['window', 6, 3600],
    ['scale-to-zero-pod-retention-period', 0, 3600],
  ];
  for (const [key, lo, hi] of durations) {
    const v = get(key);
    if (v === undefined) continue;
    const seconds = parseGoDuration(v);
    if (seconds === undefined || seconds < lo || seconds > hi)
      issues.push({ path: `${at}.${AUTOSCALING}${key}`, message: `must be a duration between ${lo}s and ${hi / 60}m, got ${v}` });
  }
  return issues;
}

function checkProbe(probe: unknown, port: number | undefined, at: string): Issue[] {
  if (probe === undefined) return [];
  const issues: Issue[] = [];
  const p = probe as { httpGet?: { path?: string; port?: number | string }; periodSeconds?: number; timeoutSeconds?: number; failureThreshold?: number };
  if (!p.httpGet) return [{ path: at, message: 'expected an httpGet probe' }];
  if (!p.httpGet.path?.startsWith('/')) issues.push({ path: `${at}.httpGet.path`, message: 'must be an absolute path' });
  if (p.httpGet.port !== undefined && p.httpGet.port !== port)
    issues.push({ path: `${at}.httpGet.port`, message: `must be the container port ${port} (or omitted)` });
  if (p.timeoutSeconds !== undefined && p.timeoutSeconds < 1) issues.push({ path: `${at}.timeoutSeconds`, message: 'must be ≥ 1' });
  if (p.failureThreshold !== undefined && p.failureThreshold < 1) issues.push({ path: `${at}.failureThreshold`, message: 'must be ≥ 1' });
  if (p.periodSeconds !== undefined && p.periodSeconds < 0) issues.push({ path: `${at}.periodSeconds`, message: 'must be ≥ 0' });
  return issues;
}

function checkContainer(c: Container, at: string): Issue[] {
  const issues: Issue[] = [];
  if (!c.image) issues.push({ path: `${at}.image`, message: 'required' });
  const ports = c.ports ?? [];
  if (ports.length > 1) issues.push({ path: `${at}.ports`, message: 'Knative allows one port per container' });
  const port = ports[0]?.containerPort ?? 8080;
  for (const [i, e] of (c.env ?? []).entries()) {
    if (RESERVED_ENV.has(e.name)) issues.push({ path: `${at}.env.${i}`, message: `${e.name} is reserved: the platform sets it` });
  }
  if (!c.startupProbe && !c.readinessProbe) issues.push({ path: at, message: 'needs a startup or readiness probe on /healthz' });
  issues.push(
    ...checkProbe(c.startupProbe, port, `${at}.startupProbe`),
    ...checkProbe(c.readinessProbe, port, `${at}.readinessProbe`),
    ...checkProbe(c.livenessProbe, port, `${at}.livenessProbe`),
  );
  issues.push(...checkNodeFlags(c, at));
  for (const resource of ['cpu', 'memory']) {
    const request = c.resources?.requests?.[resource];
    const limit = c.resources?.limits?.[resource];
    const r = request === undefined ? undefined : parseQuantity(request);
    const l = limit === undefined ? undefined : parseQuantity(limit);
    if ((request !== undefined && r === undefined) || (limit !== undefined && l === undefined))
      issues.push({ path: `${at}.resources`, message: `${resource} is not a quantity` });
    else if (r !== undefined && l !== undefined && r > l)
      issues.push({ path: `${at}.resources.requests.${resource}`, message: `request ${request} exceeds limit ${limit}` });
  }
  return issues;
}

/** V8 heap flags Node refuses in NODE_OPTIONS ("not allowed in NODE_OPTIONS"): they go in args. */
const ARGS_ONLY_FLAGS = ['--initial-old-space-size', '--initial-heap-size', '--heap-growing-percent'];

/**
 * Node's own flags: args (which replace the image's command) are Node flags followed by the
 * bundle, NODE_OPTIONS holds only flags Node takes there, and the heap fits the memory limit
 * (old space plus three semi-spaces of young generation, below the limit; the initial old
 * space at most the maximum).
 */
function checkNodeFlags(c: Container, at: string): Issue[] {
  const issues: Issue[] = [];
  const { nodeOptions, args } = nodeFlagsOf(c);
  if (args.at(-1) !== BUNDLE) issues.push({ path: `${at}.args`, message: `must end with ${BUNDLE}, the bundle the image's node runs` });
  args.slice(0, -1).forEach((arg, i) => {
    if (!arg.startsWith('--')) issues.push({ path: `${at}.args.${i}`, message: `"${arg}" is not a Node flag; only flags may come before ${BUNDLE}` });
  });
  for (const flag of nodeOptions) {
    if (ARGS_ONLY_FLAGS.some((f) => flag.startsWith(`${f}=`)))
      issues.push({ path: `${at}.env.NODE_OPTIONS`, message: `Node refuses ${flag.split('=')[0]} in NODE_OPTIONS; put it in args` });
  }
  const sizeMb = (name: string) => {
    const value = [...nodeOptions, ...args].findLast((flag) => flag.startsWith(`${name}=`))?.split('=')[1];
    if (value === undefined) return undefined;
    const from = args.includes(`${name}=${value}`) ? `${at}.args` : `${at}.env.NODE_OPTIONS`;
    if (!/^\d+$/.test(value)) issues.push({ path: from, message: `${name}=${value} is not a size in MB` });
    return Number(value);
  };
  const maxOld = sizeMb('--max-old-space-size');
  const initialOld = sizeMb('--initial-old-space-size');
  const semi = sizeMb('--max-semi-space-size') ?? 0;
  const limit = c.resources?.limits?.memory === undefined ? undefined : parseQuantity(c.resources.limits.memory);
  if (maxOld !== undefined && limit !== undefined && (maxOld + 3 * semi) * 2 ** 20 >= limit)
    issues.push({
      path: `${at}.resources.limits.memory`,
      message: `old space ${maxOld} MB plus young generation ${3 * semi} MB does not fit the memory limit ${c.resources?.limits?.memory}`,
    });
  if (initialOld !== undefined && (maxOld === undefined || initialOld > maxOld))
    issues.push({ path: `${at}.args`, message: `--initial-old-space-size=${initialOld} needs a --max-old-space-size at least as large` });
  return issues;
}

/** Rules every Knative Service must pass, on either platform. */
function checkCommon(m: Manifest, maxTimeout: number): Issue[] {
  const issues: Issue[] = [];
  const spec = m.spec?.template?.spec;
  if (!spec) return [{ path: 'spec.template.spec', message: 'required' }];
  const cc = spec.containerConcurrency;
  if (cc !== undefined && !(Number.isInteger(cc) && cc >= 0 && cc <= MAX_CONTAINER_CONCURRENCY)) {
    issues.push({ path: 'spec.template.spec.containerConcurrency', message: `must be an integer 0..${MAX_CONTAINER_CONCURRENCY}, got ${cc}` });
  }
  const timeout = spec.timeoutSeconds;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0 && timeout <= maxTimeout)) {
    issues.push({ path: 'spec.template.spec.timeoutSeconds', message: `must be 1..${maxTimeout}, got ${timeout}` });
  }
  const containers = spec.containers ?? [];
  if (containers.length === 0) issues.push({ path: 'spec.template.spec.containers', message: 'at least one container' });
  containers.forEach((c, i) => issues.push(...checkContainer(c, `spec.template.spec.containers.${i}`)));
  return issues;
}

export function checkKnative(m: Manifest): Issue[] {
  const spec = m.spec?.template?.spec;
  return [
    ...checkCommon(m, KNATIVE_MAX_TIMEOUT_SECONDS),
    ...checkKnativeAutoscaling(m.spec?.template?.metadata?.annotations ?? {}, spec?.containerConcurrency, 'spec.template.metadata.annotations'),
  ];
}

export function checkCloudRun(m: Manifest): Issue[] {
  const issues = checkCommon(m, CLOUD_RUN_MAX_TIMEOUT_SECONDS);
  const templateAnnotations = m.spec?.template?.metadata?.annotations ?? {};
  for (const [key, value] of Object.entries(templateAnnotations)) {
    const at = `spec.template.metadata.annotations.${key}`;
    if (!CLOUD_RUN_TEMPLATE_ANNOTATIONS.has(key)) issues.push({ path: at, message: 'Cloud Run does not accept this annotation' });
    if (/(minScale|maxScale)$/.test(key) && !isNonNegativeInt(value)) issues.push({ path: at, message: `must be an integer ≥ 0, got ${value}` });
    if (/(cpu-throttling|startup-cpu-boost)$/.test(key) && value !== 'true' && value !== 'false')
      issues.push({ path: at, message: `must be "true" or "false", got ${value}` });
  }
  const min = Number(templateAnnotations['autoscaling.knative.dev/minScale'] ?? 0);
  const max = Number(templateAnnotations['autoscaling.knative.dev/maxScale'] ?? 0);
  if (max > 0 && min > max)
    issues.push({ path: 'spec.template.metadata.annotations.autoscaling.knative.dev/minScale', message: `minScale ${min} exceeds maxScale ${max}` });
  for (const [key, value] of Object.entries(m.metadata.annotations ?? {})) {
    const at = `metadata.annotations.${key}`;
    if (!CLOUD_RUN_SERVICE_ANNOTATIONS.has(key)) issues.push({ path: at, message: 'Cloud Run does not accept this annotation' });
    if (key === 'run.googleapis.com/ingress' && !CLOUD_RUN_INGRESS.includes(value))
      issues.push({ path: at, message: `must be one of ${CLOUD_RUN_INGRESS.join(', ')}` });
  }
  for (const [where, labels] of [
    ['metadata.labels', m.metadata as { labels?: Record<string, string> }],
    ['spec.template.metadata.labels', m.spec?.template?.metadata as { labels?: Record<string, string> } | undefined],
  ] as const) {
    for (const key of Object.keys(labels?.labels ?? {})) {
      if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key))
        issues.push({ path: `${where}.${key}`, message: 'Cloud Run label keys are lowercase letters, digits, _ and - only' });
    }
  }
  const spec = m.spec?.template?.spec;
  if (spec?.serviceAccountName && !/^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$/.test(spec.serviceAccountName)) {
    issues.push({ path: 'spec.template.spec.serviceAccountName', message: 'Cloud Run runs as a Google service account email' });
  }
  (spec?.containers ?? []).forEach((c, i) => {
    const at = `spec.template.spec.containers.${i}`;
    if (c.envFrom) issues.push({ path: `${at}.envFrom`, message: 'Cloud Run has no ConfigMaps/Secrets to load env from' });
    (c.env ?? []).forEach((e, j) => {
      if (e.valueFrom && !(e.valueFrom as { secretKeyRef?: unknown }).secretKeyRef)
        issues.push({ path: `${at}.env.${j}`, message: 'Cloud Run takes valueFrom.secretKeyRef (Secret Manager) only' });
    });
    if (c.readinessProbe) issues.push({ path: `${at}.readinessProbe`, message: 'readiness probes are Preview on Cloud Run; use a startup probe' });
    const probe = c.startupProbe as { periodSeconds?: number; failureThreshold?: number } | undefined;
    if (probe && (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) > 240)
      issues.push({ path: `${at}.startupProbe`, message: 'periodSeconds × failureThreshold must be ≤ 240 s' });
    const cpu = c.resources?.limits?.cpu === undefined ? 1 : parseQuantity(c.resources.limits.cpu);
    if (cpu !== undefined && cpu < 1 && (spec?.containerConcurrency ?? 80) !== 1)
      issues.push({ path: `${at}.resources.limits.cpu`, message: 'below 1 CPU Cloud Run requires containerConcurrency 1' });
  });
  return issues;
}

/** Schema plus the target's rules for one rendered Service: Knative's on GKE, Cloud Run's on Cloud Run. */
export function validateService(m: Manifest, target: Target): Issue[] {
  return [...checkSchema(m), ...(target === 'gke' ? checkKnative(m) : checkCloudRun(m))];
}

/** Σ PG_POOL_MAX × max-scale over the Services: the Cloud SQL connections at full scale. */
export function connectionBudget(services: Manifest[]): number {
  return services.reduce((sum, m) => {
    const annotations = m.spec?.template?.metadata?.annotations ?? {};
    const max = Number(annotations[`${AUTOSCALING}max-scale`] ?? annotations[`${AUTOSCALING}maxScale`] ?? Number.POSITIVE_INFINITY);
    const pool = Number(m.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'PG_POOL_MAX')?.value ?? 5);
    return sum + pool * max;
  }, 0);
}

/** The fields of a batch/v1 CronJob the schedule rules read. */
interface CronJobShape {
  apiVersion?: string;
  kind?: string;
  spec?: {
    schedule?: string;
    concurrencyPolicy?: string;
    jobTemplate?: {
      spec?: {
        activeDeadlineSeconds?: number;
        template?: {
          spec?: {
            restartPolicy?: string;
            containers?: { image?: string; args?: string[]; command?: string[]; resources?: { limits?: Record<string, string> } }[];
          };
        };
      };
    };
  };
}

/** One field of a standard five-field cron expression: `*`, `*\/n`, `a`, `a-b`, lists of those. */
function isCronField(field: string, min: number, max: number): boolean {
  return field.split(',').every((part) => {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) return false;
    const [, , from, to, step] = match;
    const inRange = (v: string | undefined) => v === undefined || (Number(v) >= min && Number(v) <= max);
    return inRange(from) && inRange(to) && (step === undefined || Number(step) >= 1) && (to === undefined || Number(from) <= Number(to));
  });
}

/**
 * The scheduled maintenance CronJob (knative/overlays/gke/maintain-cronjob.yaml): a valid
 * schedule, never two runs at once, a deadline, bounded resources, a pinned image, and a call
 * to the registry's maintenance route.
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
export function validateMaintenanceCronJob(manifest: unknown): Issue[] {
  const m = manifest as CronJobShape;
  const issues: Issue[] = [];
  if (m.apiVersion !== 'batch/v1' || m.kind !== 'CronJob') issues.push({ path: 'kind', message: 'must be a batch/v1 CronJob' });
  const fields = (m.spec?.schedule ?? '').trim().split(/\s+/);
  const bounds: [number, number][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 7],
  ];
  if (fields.length !== 5 || !fields.every((f, i) => isCronField(f, bounds[i]![0], bounds[i]![1])))
    issues.push({ path: 'spec.schedule', message: 'must be a five-field cron expression' });
  if (m.spec?.concurrencyPolicy !== 'Forbid') issues.push({ path: 'spec.concurrencyPolicy', message: 'must be Forbid: one maintenance run at a time' });
  const job = m.spec?.jobTemplate?.spec;
  if (!job?.activeDeadlineSeconds || job.activeDeadlineSeconds <= 0)
    issues.push({ path: 'spec.jobTemplate.spec.activeDeadlineSeconds', message: 'must bound the run' });
  const pod = job?.template?.spec;
  if (pod?.restartPolicy !== 'Never' && pod?.restartPolicy !== 'OnFailure')
    issues.push({ path: 'spec.jobTemplate.spec.template.spec.restartPolicy', message: 'must be Never or OnFailure' });
  const containers = pod?.containers ?? [];
  if (containers.length === 0) issues.push({ path: 'spec.jobTemplate.spec.template.spec.containers', message: 'needs a container' });
  containers.forEach((c, i) => {
    const at = `spec.jobTemplate.spec.template.spec.containers.${i}`;
    if (!c.image || !/:[\w.-]+$|@sha256:/.test(c.image) || c.image.endsWith(':latest'))
      issues.push({ path: `${at}.image`, message: 'must be pinned to a tag or digest (not latest)' });
    if (!c.resources?.limits?.cpu || !c.resources.limits.memory) issues.push({ path: `${at}.resources.limits`, message: 'needs cpu and memory limits' });
    if (![...(c.command ?? []), ...(c.args ?? [])].some((a) => a.includes('/v1/maintenance:run')))
      issues.push({ path: `${at}.args`, message: 'must call POST /v1/maintenance:run' });
  });
  return issues;
}

/**
 * Words the committed manifests hold until a deployment fills them in (`PROJECT`, `REGION`,
 * Knative's sample domain `example.com`, …). A manifest still holding one must never be
 * applied: it would deploy an image that does not exist or a service account of nobody.
 */
export const PLACEHOLDER_PATTERNS: readonly RegExp[] = [
  /\bPROJECT(_NUMBER|_ID)?\b/,
  /\bREGION\b/,
  /\bINSTANCE\b/,
  /\bexample\.(com|org|net)\b/i,
  /\b(CHANGE_?ME|TODO|FIXME|REPLACE_?ME)\b/,
  /<[a-z][\w-]*>/i,
];

/** Every string value in the manifests that still holds a placeholder, with its path. */
export function findPlaceholders(manifests: readonly Manifest[]): Issue[] {
  const issues: Issue[] = [];
  const visit = (value: unknown, at: string) => {
    if (typeof value === 'string') {
      const hit = PLACEHOLDER_PATTERNS.find((p) => p.test(value));
      if (hit) issues.push({ path: at, message: `still a placeholder: ${value}` });
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${at}[${i}]`));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, at ? `${at}.${k}` : k);
  };
  manifests.forEach((m) => visit(m, `${m.kind}/${m.metadata.name}`));
  return issues;
}
