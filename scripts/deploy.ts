/**
 * `npm run deploy -- <function> [--target gke|cloud-run] [--image IMAGE] [--dry-run]`
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
import { parseArgs } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { FUNCTION_NAMES, isFunctionName, type FunctionName } from '../functions/index.ts';

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

function run(command: string, args: string[], input?: string): void {
  const result = spawnSync(command, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], encoding: 'utf8' });
  if (result.error) throw new Error(`${command} could not be started: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
}

function deployToGke(name: string, manifests: Manifest[]): void {
  run('kubectl', ['apply', '-f', '-'], toYaml(manifests));
  const namespace = manifests.at(-1)?.metadata.namespace ?? 'default';
  run('kubectl', ['wait', '--for=condition=Ready', `ksvc/${name}`, `--namespace=${namespace}`, '--timeout=300s']);
}

function deployToCloudRun(name: string, manifests: Manifest[], region: string | undefined): void {
  // Cloud Run takes exactly one Service per file.
  const dir = mkdtempSync(path.join(tmpdir(), `deploy-${name}-`));
  try {
    const file = path.join(dir, 'service.yaml');
    writeFileSync(file, toYaml(manifests.filter(isKnativeService)));
    run('gcloud', ['run', 'services', 'replace', file, ...(region ? [`--region=${region}`] : [])]);
    run('gcloud', ['run', 'services', 'describe', name, ...(region ? [`--region=${region}`] : []), '--format=value(status.url,status.conditions[0].status)']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseDeployArgs(argv: string[]): { name: FunctionName; target: Target; image?: string; dryRun: boolean; region?: string } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string', default: 'gke' },
      image: { type: 'string' },
      region: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const problems: string[] = [];
  const name = positionals[0] ?? '';
  if (!isFunctionName(name)) problems.push(`the function must be one of ${FUNCTION_NAMES.join(', ')}${name ? `, not ${name}` : ''}`);
  if (positionals.length > 1) problems.push(`one function at a time (got ${positionals.join(', ')})`);
  if (!(TARGETS as readonly string[]).includes(values.target)) problems.push(`--target must be one of ${TARGETS.join(', ')}, not ${values.target}`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return { name: name as FunctionName, target: values.target as Target, image: values.image, dryRun: values['dry-run'], region: values.region };
}

async function main(): Promise<void> {
  const args = parseDeployArgs(process.argv.slice(2));
  const manifests = selectFunction(renderOverlay(args.target), args.name, args.image);
  // Refuse what Knative's webhook or Cloud Run would reject, before touching the cluster.
  const { validateService } = await import('./manifest-rules.ts');
  const issues = validateService(manifests.at(-1)!, args.target === 'gke' ? 'knative' : 'cloud-run');
  if (issues.length > 0) throw new Error(`the ${args.name} manifest is invalid:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  if (args.dryRun) {
    process.stdout.write(toYaml(manifests));
    return;
  }
  if (args.target === 'gke') deployToGke(args.name, manifests);
  else deployToCloudRun(args.name, manifests, args.region);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main().catch((error: unknown) => {
    console.error(`deploy: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`usage: npm run deploy -- <${FUNCTION_NAMES.join('|')}> [--target gke|cloud-run] [--image IMAGE] [--dry-run]`);
    process.exit(error instanceof Error && /must be|one function/.test(error.message) ? 2 : 1);
  });
}
