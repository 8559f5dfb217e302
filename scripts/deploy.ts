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
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTION_NAMES, isFunctionName, isPushFunction, type FunctionName } from '../functions/index.ts';
import { parseCommandLine, runCli, UsageError, usageFailure } from './cli.ts';
import {
  defaultPushAudience,
  fillManifests,
  isKnativeService,
  renderOverlay,
  selectFunction,
  TARGETS,
  toYaml,
  type Manifest,
  type Target,
} from './deploy/manifests.ts';
import { gcloudValue } from './gcloud.ts';

function run(command: string, args: string[], input?: string): void {
  const result = spawnSync(command, args, {
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'],
    encoding: 'utf8',
    timeout: 600_000,
  });
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
    region: {
      type: 'string',
      value: 'R',
      help: 'region of the Artifact Registry, Cloud SQL and Cloud Run',
      defaultText: '`gcloud config get-value run/region`, else compute/region',
    },
    context: { type: 'string', value: 'CTX', help: 'kubectl context of the GKE cluster (required on gke unless --dry-run; `kubectl config get-contexts`)' },
    image: { type: 'string', value: 'IMAGE', help: 'the image to run', defaultText: 'REGION-docker.pkg.dev/PROJECT/telemetry/<function>:latest' },
    'project-number': {
      type: 'string',
      value: 'N',
      help: 'on cloud-run, for the push audience of ingest/deadletter',
      defaultText: '`gcloud projects describe`',
    },
    'push-audience': {
      type: 'string',
      value: 'URL',
      help: 'PUSH_AUTH_AUDIENCE of ingest/deadletter',
      defaultText: "gke: https://<function>.telemetry.svc.cluster.local/, cloud-run: the service's run.app URL",
    },
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
    problems.push(
      '--context is required on gke: the kubectl context of your cluster (kubectl config get-contexts), so that nothing is applied to whatever kubectl falls back on',
    );
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
    usageFailure(
      DEPLOY_COMMAND,
      `${[!project && '--project', !region && '--region'].filter(Boolean).join(' and ')} needed: pass it, or set it with gcloud config set ${!project ? 'project' : 'run/region'}`,
    );
  }
  const pushAudience =
    args.pushAudience ??
    defaultPushAudience(args.name, args.target, {
      region,
      projectNumber:
        args.projectNumber ?? (args.target === 'cloud-run' ? gcloudValue(['projects', 'describe', project, '--format=value(projectNumber)']) : undefined),
    });
  const pushes = isPushFunction(args.name);
  if (pushes && !pushAudience) usageFailure(DEPLOY_COMMAND, `the project number of ${project} could not be read: pass --project-number (or --push-audience)`);
  const manifests = fillManifests(selectFunction(renderOverlay(args.target), args.name, args.image), { project, region, pushAudience: pushAudience ?? '' });
  // Refuse what Knative's webhook or Cloud Run would reject, and anything left unfilled, before touching the cluster.
  const { validateService, findPlaceholders } = await import('./deploy/manifest-rules.ts');
  const issues = [...validateService(manifests.at(-1)!, args.target), ...findPlaceholders(manifests)];
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
