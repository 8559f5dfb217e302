/**
 * `npm run deploy -- <function> [--target gke|cloud-run] [--project P] [--region R]
 *   [--context CTX] [--image IMAGE] [--dry-run]` (`--help` for all)
 *
 * Deploys one function: renders its overlay with `kubectl kustomize`, keeps only that
 * function's Service (plus, on GKE, the Namespace, ConfigMap and ServiceAccount it refers
 * to), sets the image, and prints it (--dry-run) or applies it and waits until it is ready:
 * `kubectl apply` + `kubectl wait ksvc` on GKE, `gcloud run services replace` on Cloud Run
 * (which waits for the revision itself).
 * @see https://cloud.google.com/run/docs/reference/yaml/v1
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { FUNCTION_NAMES, isFunctionName, type FunctionName } from '../functions/index.ts';
import { parseCommandLine, runCli, UsageError, usageFailure } from './cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TARGETS = ['gke', 'cloud-run'] as const;
export type Target = (typeof TARGETS)[number];

/** A Kubernetes object as far as this script reads it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    template?: {
      metadata?: { annotations?: Record<string, string> };
      spec?: {
        serviceAccountName?: string;
        containerConcurrency?: number;
        timeoutSeconds?: number;
        containers?: {
          name?: string;
          image?: string;
          env?: { name: string; value?: string; valueFrom?: unknown }[];
          envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
          resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
          startupProbe?: unknown;
          readinessProbe?: unknown;
          livenessProbe?: unknown;
          ports?: { containerPort?: number; name?: string }[];
        }[];
      };
    };
  };
  [key: string]: unknown;
}

/** Renders an overlay offline and parses every document. */
export function renderOverlay(target: Target, root = ROOT): Manifest[] {
  const yamlText = execFileSync('kubectl', ['kustomize', path.join(root, 'knative', 'overlays', target)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(yamlText)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`kustomize output is not valid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

export const isKnativeService = (m: Manifest): boolean => m.apiVersion === 'serving.knative.dev/v1' && m.kind === 'Service';

/**
 * The objects one function needs: its Service and what the Service refers to by name
 * (ConfigMaps through envFrom, its ServiceAccount, their Namespace). Secrets are created out
 * of band and never rendered.
 */
export function selectFunction(manifests: Manifest[], name: FunctionName, image?: string): Manifest[] {
  const service = manifests.find((m) => isKnativeService(m) && m.metadata.name === name);
  if (!service) throw new Error(`no Knative Service named ${name} in the rendered overlay`);
  const selected: Manifest = structuredClone(service);
  const podSpec = selected.spec?.template?.spec;
  const container = podSpec?.containers?.[0];
  if (image && container) container.image = image;
  const configMaps = new Set((container?.envFrom ?? []).flatMap((e) => (e.configMapRef ? [e.configMapRef.name] : [])));
  const needed = (m: Manifest) =>
    (m.kind === 'ConfigMap' && configMaps.has(m.metadata.name)) ||
    (m.kind === 'ServiceAccount' && m.metadata.name === podSpec?.serviceAccountName) ||
    (m.kind === 'Namespace' && m.metadata.name === selected.metadata.namespace);
  const order = ['Namespace', 'ServiceAccount', 'ConfigMap'];
  const dependencies = manifests.filter(needed).sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  return [...dependencies, selected];
}

export const toYaml = (manifests: Manifest[]): string => manifests.map((m) => stringify(m)).join('---\n');

/** Fills the committed placeholders: `PROJECT`, `REGION` and the push audience. */
export interface Fill {
  project: string;
  region: string;
  /** PUSH_AUTH_AUDIENCE of ingest and deadletter: what their push subscription signs tokens for. */
  pushAudience: string;
}

/** Replaces `PROJECT` and `REGION` in every string, and sets the push audience where there is one. */
export function fillManifests(manifests: Manifest[], fill: Fill): Manifest[] {
  const replace = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\bPROJECT\b/g, fill.project).replace(/\bREGION\b/g, fill.region);
    if (Array.isArray(value)) return value.map(replace);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v)]));
    return value;
  };
  return manifests.map((m) => {
    const filled = replace(m) as Manifest;
    for (const container of filled.spec?.template?.spec?.containers ?? []) {
      for (const env of container.env ?? []) if (env.name === 'PUSH_AUTH_AUDIENCE') env.value = fill.pushAudience;
    }
    return filled;
  });
}

/**
 * The audience a push function verifies, and the wiring later puts on its subscription (it reads
 * it back from the deployed service): on Cloud Run the service's deterministic URL
 * (https://<service>-<project number>.<region>.run.app/), which Cloud Run's own IAM check
 * accepts; on GKE the Service's cluster address, which nothing but the function checks.
 * @see https://cloud.google.com/run/docs/triggering/https-request#deterministic
 */
export function defaultPushAudience(name: string, target: Target, where: { region: string; projectNumber?: string }): string | undefined {
  if (target === 'gke') return `https://${name}.telemetry.svc.cluster.local/`;
  return where.projectNumber ? `https://${name}-${where.projectNumber}.${where.region}.run.app/` : undefined;
}

/** `gcloud <args>`'s trimmed output, or undefined when gcloud is missing, slow or says nothing. */
export function gcloudValue(args: string[]): string | undefined {
  const result = spawnSync('gcloud', args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const value = result.status === 0 ? result.stdout.trim() : '';
  return value && value !== '(unset)' ? value : undefined;
}

function run(command: string, args: string[], input?: string): void {
  const result = spawnSync(command, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], encoding: 'utf8', timeout: 600_000 });
  if (result.error) throw new Error(`${command} could not be started: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
}

function output(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${String(result.status)}`);
  return result.stdout.trim();
}

/** Applies on the named cluster context only (never kubectl's fallback to localhost:8080); returns the URL. */
function deployToGke(name: string, manifests: Manifest[], context: string): string {
  const kubectl = (...args: string[]) => [`--context=${context}`, ...args];
  run('kubectl', kubectl('apply', '-f', '-'), toYaml(manifests));
  const namespace = manifests.at(-1)?.metadata.namespace ?? 'default';
  run('kubectl', kubectl('wait', '--for=condition=Ready', `ksvc/${name}`, `--namespace=${namespace}`, '--timeout=300s'));
  return output('kubectl', kubectl('get', `ksvc/${name}`, `--namespace=${namespace}`, '-o', 'jsonpath={.status.url}'));
}

function deployToCloudRun(name: string, manifests: Manifest[], project: string, region: string): string {
  // Cloud Run takes exactly one Service per file.
  const dir = mkdtempSync(path.join(tmpdir(), `deploy-${name}-`));
  try {
    const file = path.join(dir, 'service.yaml');
    writeFileSync(file, toYaml(manifests.filter(isKnativeService)));
    run('gcloud', ['run', 'services', 'replace', file, `--region=${region}`, `--project=${project}`]);
    return output('gcloud', ['run', 'services', 'describe', name, `--region=${region}`, `--project=${project}`, '--format=value(status.url)']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const DEPLOY_COMMAND = {
  command: 'npm run deploy',
  synopsis: '<function> [options]',
  description: [
    'Deploys one function: renders its Knative Service (knative/overlays/<target>) offline, fills in the',
    'project, region, image and push audience, validates it, and refuses it while any placeholder is',
    'left; then applies it and prints the service URL (--dry-run prints the manifest instead).',
  ].join('\n'),
  positionals: [{ name: '<function>', help: FUNCTION_NAMES.join(', ') }],
  options: {
    target: { type: 'string', value: 'T', help: `${TARGETS.join(' or ')}`, defaultText: 'gke' },
    project: { type: 'string', value: 'P', help: 'Google Cloud project', defaultText: '`gcloud config get-value project`' },
    region: { type: 'string', value: 'R', help: 'region of the Artifact Registry, Cloud SQL and Cloud Run', defaultText: '`gcloud config get-value run/region`, else compute/region' },
    context: { type: 'string', value: 'CTX', help: 'kubectl context of the GKE cluster (required on gke unless --dry-run; `kubectl config get-contexts`)' },
    image: { type: 'string', value: 'IMAGE', help: 'the image to run', defaultText: 'REGION-docker.pkg.dev/PROJECT/telemetry/<function>:latest' },
    'project-number': { type: 'string', value: 'N', help: 'on cloud-run, for the push audience of ingest/deadletter', defaultText: '`gcloud projects describe`' },
    'push-audience': { type: 'string', value: 'URL', help: 'PUSH_AUTH_AUDIENCE of ingest/deadletter', defaultText: 'gke: https://<function>.telemetry.svc.cluster.local/, cloud-run: the service\'s run.app URL' },
    'dry-run': { type: 'boolean', help: 'print the filled manifest; talk to no cluster' },
  },
  notes: [
    'examples:',
    '  npm run deploy -- ingest --dry-run --project my-proj --region europe-west1',
    '  npm run deploy -- ingest --target gke --context gke_my-proj_europe-west1_telemetry',
    '  npm run deploy -- ingest --target cloud-run --project my-proj --region europe-west1',
  ],
} as const;

export interface DeployArgs {
  name: FunctionName;
  target: Target;
  image?: string;
  dryRun: boolean;
  project?: string;
  region?: string;
  context?: string;
  projectNumber?: string;
  pushAudience?: string;
}

/** Parses and checks the arguments; throws UsageError naming every problem. */
export function parseDeployArgs(argv: string[]): DeployArgs {
  const { values, positionals, help } = parseCommandLine(DEPLOY_COMMAND, argv);
  if (help) throw new UsageError('--help');
  const problems: string[] = [];
  const name = positionals[0] ?? '';
  const target = values.target ?? 'gke';
  if (!isFunctionName(name)) problems.push(`the function must be one of ${FUNCTION_NAMES.join(', ')}${name ? `, not ${name}` : ''}`);
  if (!(TARGETS as readonly string[]).includes(target)) problems.push(`--target must be one of ${TARGETS.join(', ')}, not ${target}`);
  if (target === 'gke' && !values['dry-run'] && !values.context) {
    problems.push('--context is required on gke: the kubectl context of your cluster (kubectl config get-contexts), so that nothing is applied to whatever kubectl falls back on');
  }
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return {
    name: name as FunctionName,
    target: target as Target,
    image: values.image,
    dryRun: values['dry-run'] ?? false,
    project: values.project,
    region: values.region,
    context: values.context,
    projectNumber: values['project-number'],
    pushAudience: values['push-audience'],
  };
}

async function main(): Promise<void> {
  runCli(DEPLOY_COMMAND);
  let args: DeployArgs;
  try {
    args = parseDeployArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) usageFailure(DEPLOY_COMMAND, error.message);
    throw error;
  }
  const project = args.project ?? gcloudValue(['config', 'get-value', 'project']);
  const region = args.region ?? gcloudValue(['config', 'get-value', 'run/region']) ?? gcloudValue(['config', 'get-value', 'compute/region']);
  if (!project || !region) {
    usageFailure(DEPLOY_COMMAND, `${[!project && '--project', !region && '--region'].filter(Boolean).join(' and ')} needed: pass it, or set it with gcloud config set ${!project ? 'project' : 'run/region'}`);
  }
  const pushAudience =
    args.pushAudience ??
    defaultPushAudience(args.name, args.target, {
      region,
      projectNumber: args.projectNumber ?? (args.target === 'cloud-run' ? gcloudValue(['projects', 'describe', project, '--format=value(projectNumber)']) : undefined),
    });
  const pushes = args.name === 'ingest' || args.name === 'deadletter';
  if (pushes && !pushAudience) usageFailure(DEPLOY_COMMAND, `the project number of ${project} could not be read: pass --project-number (or --push-audience)`);
  const manifests = fillManifests(selectFunction(renderOverlay(args.target), args.name, args.image), { project, region, pushAudience: pushAudience ?? '' });
  // Refuse what Knative's webhook or Cloud Run would reject, and anything left unfilled, before touching the cluster.
  const { validateService, findPlaceholders } = await import('./manifest-rules.ts');
  const issues = [...validateService(manifests.at(-1)!, args.target === 'gke' ? 'knative' : 'cloud-run'), ...findPlaceholders(manifests)];
  if (issues.length > 0) throw new Error(`the ${args.name} manifest is not ready to apply:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  if (args.dryRun) {
    process.stdout.write(toYaml(manifests));
    return;
  }
  const url = args.target === 'gke' ? deployToGke(args.name, manifests, args.context!) : deployToCloudRun(args.name, manifests, project, region);
  process.stdout.write(`${args.name} is ready at ${url}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main().catch((error: unknown) => {
    console.error(`npm run deploy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
