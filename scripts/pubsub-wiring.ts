/**
 * `npm run wiring -- [--apply] [--target cloud-run|gke] [--trigger push|eventarc]
 *   [--project P] [--project-number N] [--region R] [--ingest-url URL] [--deadletter-url URL]
 *   [--registry-url URL]` (`--help` for every option)
 *
 * The BigQuery dataset, table and views (scripts/bigquery-setup.ts), then Pub/Sub wiring as code: service accounts, IAM bindings, topics, the authenticated push
 * subscription to ingest (ack deadline, retry and dead-letter policy), the dead-letter
 * subscription to deadletter, or the Eventarc trigger alternative, and (Cloud Run) the Cloud
 * Scheduler job that runs maintenance. Prints the `gcloud`
 * commands (dry run, the default); `--apply` runs them, tolerating "already exists".
 * @see https://cloud.google.com/pubsub/docs/push
 * @see https://cloud.google.com/pubsub/docs/handling-failures
 * @see https://cloud.google.com/eventarc/docs/run/route-trigger-cloud-pubsub
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeWarehouseSetup, setUpWarehouse, type WarehouseTarget } from './bigquery-setup.ts';
import { parseCommandLine, runCli, UsageError, usageFailure } from './cli.ts';
import { gcloudValue } from './gcloud.ts';
import { FUNCTION_NAMES, PUSH_FUNCTIONS } from '../functions/index.ts';
import { loadConfig, type Config } from '../shared/config.ts';
import { pubsubTopology, type PubsubTopology, type PushSubscriptionSpec, type TopicSpec } from '../shared/pubsub/topology.ts';

/** gcloud's duration flags: whole seconds. */
const gcloudSeconds = (ms: number) => `${Math.round(ms / 1000)}s`;

export interface WiringOptions {
  project: string;
  projectNumber: string;
  region: string;
  target: 'cloud-run' | 'gke';
  trigger: 'push' | 'eventarc';
  ingestUrl: string;
  deadletterUrl: string;
  /** Topics, push subscriptions and their delivery policy (shared/pubsub/topology.ts, production). */
  topology: PubsubTopology;
  sqlInstance: string;
  gkeCluster: string;
  namespace: string;
  /** The registry's URL: Cloud Scheduler calls its POST /v1/maintenance:run (docs/lifecycle.md). */
  registryUrl?: string;
}

/** When `npm run maintain` runs in production: daily, 03:17 UTC. */
export const MAINTENANCE_SCHEDULE = '17 3 * * *';

export interface WiringStep {
  /** Why this group of commands exists (printed as a comment). */
  section: string;
  commands: string[][];
}

const saEmail = (name: string, project: string) => `${name}@${project}.iam.gserviceaccount.com`;
const member = (email: string) => `--member=serviceAccount:${email}`;

/** Every gcloud command, in the order they must run. */
export function wiringSteps(o: WiringOptions): WiringStep[] {
  const p = `--project=${o.project}`;
  const pushSa = saEmail('telemetry-push', o.project);
  const serviceAgent = `service-${o.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  const fnSa = (fn: string) => saEmail(`telemetry-${fn}`, o.project);
  const { topology } = o;
  const { delivery } = topology;
  const { telemetry, deadLetter: deadLetters, state: states } = topology.topics;
  const pushed = (to: PushSubscriptionSpec['pushTo']) => topology.subscriptions.find((s) => s.pushTo === to) as PushSubscriptionSpec;
  const retention = (topic: TopicSpec) => (topic.messageRetention ? [`--message-retention-duration=${topic.messageRetention}`] : []);

  const steps: WiringStep[] = [
    {
      section: 'APIs',
      commands: [
        [
          'gcloud',
          'services',
          'enable',
          'pubsub.googleapis.com',
          'run.googleapis.com',
          'eventarc.googleapis.com',
          'sqladmin.googleapis.com',
          'bigquery.googleapis.com',
          'iamcredentials.googleapis.com',
          p,
        ],
      ],
    },
    {
      section: 'Service accounts: one per function (least privilege) and one that signs push requests',
      commands: [...FUNCTION_NAMES, 'push'].map((fn) => [
        'gcloud',
        'iam',
        'service-accounts',
        'create',
        `telemetry-${fn}`,
        `--display-name=telemetry ${fn}`,
        p,
      ]),
    },
    {
      section: 'Topics',
      commands: Object.values(topology.topics).map((topic) => ['gcloud', 'pubsub', 'topics', 'create', topic.name, ...retention(topic), p]),
    },
    {
      section: 'IAM: bridge publishes; ingest writes BigQuery; every function reaches Cloud SQL as an IAM database user',
      commands: [
        ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', telemetry.name, member(fnSa('bridge')), '--role=roles/pubsub.publisher', p],
        ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', states.name, member(fnSa('bridge')), '--role=roles/pubsub.publisher', p],
        ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa('ingest')), '--role=roles/bigquery.dataEditor', '--condition=None'],
        ...FUNCTION_NAMES.flatMap((fn) => [
          ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa(fn)), '--role=roles/cloudsql.client', '--condition=None'],
          ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa(fn)), '--role=roles/cloudsql.instanceUser', '--condition=None'],
          [
            'gcloud',
            'sql',
            'users',
            'create',
            fnSa(fn).replace(/\.gserviceaccount\.com$/, ''),
            `--instance=${o.sqlInstance}`,
            '--type=cloud_iam_service_account',
            p,
          ],
        ]),
      ],
    },
    {
      section: 'IAM: the Pub/Sub service agent mints OIDC tokens as the push account and forwards to the dead-letter topic',
      commands: [
        ['gcloud', 'iam', 'service-accounts', 'add-iam-policy-binding', pushSa, member(serviceAgent), '--role=roles/iam.serviceAccountTokenCreator', p],
        ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', deadLetters.name, member(serviceAgent), '--role=roles/pubsub.publisher', p],
      ],
    },
  ];

  if (o.target === 'cloud-run') {
    steps.push({
      section: 'IAM: only the push account may invoke ingest and deadletter',
      commands: PUSH_FUNCTIONS.map((fn) => [
        'gcloud',
        'run',
        'services',
        'add-iam-policy-binding',
        fn,
        `--region=${o.region}`,
        member(pushSa),
        '--role=roles/run.invoker',
        p,
      ]),
    });
  } else {
    steps.push({
      section: 'Workload Identity: each Kubernetes service account acts as its Google service account',
      commands: FUNCTION_NAMES.map((fn) => [
        'gcloud',
        'iam',
        'service-accounts',
        'add-iam-policy-binding',
        fnSa(fn),
        '--role=roles/iam.workloadIdentityUser',
        `--member=serviceAccount:${o.project}.svc.id.goog[${o.namespace}/telemetry-${fn}]`,
        p,
      ]),
    });
  }

  if (o.trigger === 'push') {
    const ingest = pushed('ingest');
    const deadletter = pushed('deadletter');
    const pushFlags = (subscription: PushSubscriptionSpec, url: string) => [
      `--topic=${subscription.topic}`,
      `--push-endpoint=${url}`,
      `--push-auth-service-account=${pushSa}`,
      `--push-auth-token-audience=${url}`,
      `--ack-deadline=${delivery.ackDeadlineSeconds}`,
      `--min-retry-delay=${gcloudSeconds(delivery.minBackoffMs)}`,
      `--max-retry-delay=${gcloudSeconds(delivery.maxBackoffMs)}`,
      ...(subscription.deadLetterTopic
        ? [`--dead-letter-topic=${subscription.deadLetterTopic}`, `--max-delivery-attempts=${delivery.maxDeliveryAttempts}`]
        : []),
    ];
    steps.push(
      {
        section: `Push subscription to ingest: OIDC-authenticated, exponential backoff, dead-letter after ${delivery.maxDeliveryAttempts} attempts`,
        commands: [
          ['gcloud', 'pubsub', 'subscriptions', 'create', ingest.name, ...pushFlags(ingest, o.ingestUrl), p],
          // The service agent must be able to acknowledge what it forwards to the dead-letter topic.
          ['gcloud', 'pubsub', 'subscriptions', 'add-iam-policy-binding', ingest.name, member(serviceAgent), '--role=roles/pubsub.subscriber', p],
        ],
      },
      {
        section: 'Dead-letter subscription to deadletter (no further dead-lettering: deadletter stores everything it receives)',
        commands: [['gcloud', 'pubsub', 'subscriptions', 'create', deadletter.name, ...pushFlags(deadletter, o.deadletterUrl), ...retention(deadLetters), p]],
      },
    );
  } else {
    const destination =
      o.target === 'cloud-run'
        ? [`--destination-run-service=ingest`, `--destination-run-region=${o.region}`, '--destination-run-path=/']
        : [
            `--destination-gke-cluster=${o.gkeCluster}`,
            `--destination-gke-location=${o.region}`,
            `--destination-gke-namespace=${o.namespace}`,
            '--destination-gke-service=ingest',
            '--destination-gke-path=/',
          ];
    steps.push({
      section:
        'Eventarc alternative: a trigger delivers binary-mode CloudEvents (it creates and owns the push subscription; set its dead-letter policy with `gcloud pubsub subscriptions update`)',
      commands: [
        [
          'gcloud',
          'eventarc',
          'triggers',
          'create',
          'telemetry-ingest',
          `--location=${o.region}`,
          ...destination,
          '--event-filters=type=google.cloud.pubsub.topic.v1.messagePublished',
          `--transport-topic=projects/${o.project}/topics/${telemetry.name}`,
          `--service-account=${pushSa}`,
          p,
        ],
      ],
    });
  }
  if (o.target === 'cloud-run') {
    // On GKE the CronJob in knative/overlays/gke/maintain-cronjob.yaml runs it instead.
    const schedulerSa = saEmail('telemetry-scheduler', o.project);
    const registryUrl = (o.registryUrl ?? 'https://REGISTRY_URL').replace(/\/$/, '');
    steps.push({
      section: 'Maintenance schedule: Cloud Scheduler calls the registry with an OIDC token (retention, partitions; see docs/lifecycle.md)',
      commands: [
        ['gcloud', 'services', 'enable', 'cloudscheduler.googleapis.com', p],
        ['gcloud', 'iam', 'service-accounts', 'create', 'telemetry-scheduler', '--display-name=telemetry maintenance schedule', p],
        ['gcloud', 'run', 'services', 'add-iam-policy-binding', 'registry', `--region=${o.region}`, member(schedulerSa), '--role=roles/run.invoker', p],
        [
          'gcloud',
          'scheduler',
          'jobs',
          'create',
          'http',
          'telemetry-maintain',
          `--location=${o.region}`,
          `--schedule=${MAINTENANCE_SCHEDULE}`,
          '--time-zone=Etc/UTC',
          `--uri=${registryUrl}/v1/maintenance:run`,
          '--http-method=POST',
          '--headers=Content-Type=application/json',
          '--message-body={}',
          `--oidc-service-account-email=${schedulerSa}`,
          `--oidc-token-audience=${registryUrl}`,
          '--attempt-deadline=60s',
          '--max-retry-attempts=3',
          p,
        ],
      ],
    });
  }
  return steps;
}

/** A command as one copy-pasteable shell line. */
export function shellQuote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function renderScript(steps: WiringStep[]): string {
  return steps.map((s) => [`# ${s.section}`, ...s.commands.map(shellQuote)].join('\n')).join('\n\n') + '\n';
}

export const WIRING_COMMAND = {
  command: 'npm run wiring',
  synopsis: '[options]',
  description: [
    'The cloud resources around the functions, as code: the BigQuery dataset, measurements table and',
    'views (through the BigQuery API), then service accounts, IAM, topics and the authenticated push',
    'subscriptions (gcloud). Prints the plan (the default, a dry run); --apply carries it out, and a',
    "second --apply changes nothing. Push subscriptions need the deployed functions' URLs: given, or",
    'read from the deployed services.',
  ].join('\n'),
  options: {
    apply: { type: 'boolean', help: 'create everything (else print the plan)' },
    'dry-run': { type: 'boolean', help: 'print the plan (the default; wins over --apply)' },
    project: { type: 'string', value: 'P', help: 'Google Cloud project', defaultText: 'GOOGLE_CLOUD_PROJECT, else `gcloud config get-value project`' },
    'project-number': { type: 'string', value: 'N', help: 'for the Pub/Sub service agent', defaultText: '`gcloud projects describe`' },
    region: { type: 'string', value: 'R', help: 'region of Cloud Run, Eventarc and the dataset', defaultText: 'us-central1' },
    target: { type: 'string', value: 'T', help: 'cloud-run or gke', defaultText: 'cloud-run' },
    trigger: { type: 'string', value: 'T', help: 'push (subscriptions) or eventarc (a trigger)', defaultText: 'push' },
    'ingest-url': { type: 'string', value: 'URL', help: 'where Pub/Sub pushes telemetry', defaultText: "the deployed ingest's URL" },
    'deadletter-url': { type: 'string', value: 'URL', help: 'where Pub/Sub pushes dead letters', defaultText: "the deployed deadletter's URL" },
    'registry-url': { type: 'string', value: 'URL', help: 'the registry, for the Cloud Scheduler maintenance job', defaultText: "the deployed registry's URL" },
    context: { type: 'string', value: 'CTX', help: 'on gke: the kubectl context to read the deployed URLs from' },
    'sql-instance': { type: 'string', value: 'NAME', help: 'Cloud SQL instance for the IAM database users', defaultText: 'telemetry' },
    'gke-cluster': { type: 'string', value: 'NAME', help: 'GKE cluster (eventarc on gke)', defaultText: 'telemetry' },
    dataset: { type: 'string', value: 'NAME', help: 'BigQuery dataset', defaultText: 'BIGQUERY_DATASET, else telemetry' },
    'bigquery-location': { type: 'string', value: 'LOC', help: 'location of the dataset', defaultText: 'the region' },
    'bigquery-endpoint': {
      type: 'string',
      value: 'URL',
      help: "a BigQuery-compatible endpoint instead of Google's (emulators, tests); no credentials are sent",
    },
    'skip-bigquery': { type: 'boolean', help: 'leave the BigQuery objects out' },
    'bigquery-only': { type: 'boolean', help: 'only the BigQuery objects (no gcloud commands, no URLs needed)' },
  },
} as const;

export interface WiringRun {
  options: WiringOptions;
  apply: boolean;
  warehouse?: WarehouseTarget;
  bigQueryEndpoint?: string;
  bigQueryOnly: boolean;
  /** Where to read the deployed URLs from when not given. */
  context?: string;
  urlsGiven: { ingest: boolean; deadletter: boolean };
}

/** The command line, over the configuration (loadConfig) for the project, dataset and topics. */
export function optionsFromArgs(argv: string[], config: Config = loadConfig()): WiringRun {
  const { values, help } = parseCommandLine(WIRING_COMMAND, argv);
  if (help) throw new UsageError('--help');
  const target = values.target ?? 'cloud-run';
  const trigger = values.trigger ?? 'push';
  const problems: string[] = [];
  if (target !== 'cloud-run' && target !== 'gke') problems.push(`--target must be cloud-run or gke, not ${target}`);
  if (trigger !== 'push' && trigger !== 'eventarc') problems.push(`--trigger must be push or eventarc, not ${trigger}`);
  if (values['bigquery-only'] && values['skip-bigquery']) problems.push('--bigquery-only and --skip-bigquery contradict each other');
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  const apply = (values.apply ?? false) && !(values['dry-run'] ?? false);
  const project = values.project ?? config.googleCloudProject ?? (apply ? gcloudValue(['config', 'get-value', 'project']) : undefined) ?? 'PROJECT';
  if (apply && project === 'PROJECT') throw new UsageError('--project needed: pass it, or set GOOGLE_CLOUD_PROJECT or gcloud config set project');
  const region = values.region ?? 'us-central1';
  return {
    apply,
    warehouse: values['skip-bigquery']
      ? undefined
      : { project, dataset: values.dataset ?? config.bigQueryDataset, location: values['bigquery-location'] ?? region },
    bigQueryEndpoint: values['bigquery-endpoint'],
    bigQueryOnly: values['bigquery-only'] ?? false,
    context: values.context,
    urlsGiven: { ingest: values['ingest-url'] !== undefined, deadletter: values['deadletter-url'] !== undefined },
    options: {
      project,
      projectNumber: values['project-number'] ?? 'PROJECT_NUMBER',
      region,
      target: target as WiringOptions['target'],
      trigger: trigger as WiringOptions['trigger'],
      ingestUrl: values['ingest-url'] ?? 'https://INGEST_URL/',
      deadletterUrl: values['deadletter-url'] ?? 'https://DEADLETTER_URL/',
      topology: pubsubTopology(config, 'production'),
      sqlInstance: values['sql-instance'] ?? 'telemetry',
      gkeCluster: values['gke-cluster'] ?? 'telemetry',
      namespace: 'telemetry',
      ...(values['registry-url'] ? { registryUrl: values['registry-url'] } : {}),
    },
  };
}

/** The URL of a deployed function, read from Cloud Run or the cluster; undefined when it cannot be. */
export function deployedUrl(name: string, run: WiringRun): string | undefined {
  const { options } = run;
  const [command, args] =
    options.target === 'cloud-run'
      ? ['gcloud', ['run', 'services', 'describe', name, `--region=${options.region}`, `--project=${options.project}`, '--format=value(status.url)']]
      : run.context
        ? ['kubectl', [`--context=${run.context}`, 'get', `ksvc/${name}`, `--namespace=${options.namespace}`, '-o', 'jsonpath={.status.url}']]
        : [undefined, []];
  if (!command) return undefined;
  const result = spawnSync(command, args as string[], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = result.status === 0 ? result.stdout.trim() : '';
  return url ? `${url.replace(/\/$/, '')}/` : undefined;
}

function runSteps(steps: WiringStep[]): void {
  for (const step of steps) {
    console.log(`# ${step.section}`);
    for (const [command, ...args] of step.commands) {
      console.log(shellQuote([command!, ...args]));
      const result = spawnSync(command!, args, { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
      // Re-running the wiring must converge, not stop at the first resource that exists.
      if (result.status !== 0 && !/already exists|ALREADY_EXISTS/i.test(result.stderr)) {
        process.stderr.write(result.stderr);
        throw new Error(`command failed (exit ${result.status}): ${shellQuote([command!, ...args])}`);
      }
    }
  }
}

function lookUpProjectNumber(project: string): string {
  const result = spawnSync('gcloud', ['projects', 'describe', project, '--format=value(projectNumber)'], { encoding: 'utf8' });
  if (result.status !== 0 || !result.stdout.trim()) throw new Error(`cannot read the project number of ${project}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

async function main(): Promise<void> {
  runCli(WIRING_COMMAND);
  let run: WiringRun;
  try {
    run = optionsFromArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) usageFailure(WIRING_COMMAND, error.message);
    throw error;
  }
  const { options, apply, warehouse } = run;
  // Push subscriptions need the functions' real URLs: given, or read from what is deployed.
  if (options.trigger === 'push' && !run.bigQueryOnly) {
    for (const name of PUSH_FUNCTIONS) {
      if (run.urlsGiven[name]) continue;
      const url = deployedUrl(name, run);
      if (url) options[name === 'ingest' ? 'ingestUrl' : 'deadletterUrl'] = url;
      else if (apply) {
        usageFailure(
          WIRING_COMMAND,
          `no URL for ${name}: pass --${name}-url, or deploy it first (npm run deploy -- ${name})${options.target === 'gke' ? ' and pass --context' : ''}`,
        );
      }
    }
  }
  if (!apply) {
    if (!run.bigQueryOnly) process.stdout.write(renderScript(wiringSteps(options)));
    if (warehouse) process.stdout.write(`${run.bigQueryOnly ? '' : '\n'}${describeWarehouseSetup(warehouse).join('\n')}\n`);
    return;
  }
  if (!run.bigQueryOnly) {
    if (options.projectNumber === 'PROJECT_NUMBER') options.projectNumber = lookUpProjectNumber(options.project);
    // The APIs first (BigQuery's among them), then the warehouse objects.
    runSteps(wiringSteps(options));
  }
  if (warehouse) {
    const { OAuth2Client } = await import('google-auth-library');
    // A stand-in endpoint gets a placeholder token rather than the operator's credentials.
    const authClient = run.bigQueryEndpoint ? new OAuth2Client() : undefined;
    authClient?.setCredentials({ access_token: 'not-sent-to-google', expiry_date: Date.now() + 3_600_000 });
    for (const line of await setUpWarehouse(warehouse, { apiEndpoint: run.bigQueryEndpoint, authClient })) console.log(`# BigQuery: ${line}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main().catch((error: unknown) => {
    console.error(`npm run wiring: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
