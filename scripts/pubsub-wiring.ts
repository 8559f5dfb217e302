/**
 * `npm run wiring -- [--apply] [--target cloud-run|gke] [--trigger push|eventarc]
 *   [--project P] [--project-number N] [--region R] [--ingest-url URL] [--deadletter-url URL]
 *   [--registry-url URL]`
 *
 * Pub/Sub wiring as code: service accounts, IAM bindings, topics, the authenticated push
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
import { parseArgs } from 'node:util';

export const FUNCTIONS = ['bridge', 'ingest', 'registry', 'deadletter'] as const;

/**
 * Delivery policy of both push subscriptions. The ack deadline must not exceed the
 * receiving Service's timeoutSeconds (test/manifests.test.ts checks it against the
 * rendered manifests); five attempts with 10 s..10 min backoff outlive a database failover
 * before a message is dead-lettered.
 */
export const DELIVERY = {
  ackDeadlineSeconds: 60,
  minRetryDelay: '10s',
  maxRetryDelay: '600s',
  maxDeliveryAttempts: 5,
  messageRetention: '7d',
} as const;

export interface WiringOptions {
  project: string;
  projectNumber: string;
  region: string;
  target: 'cloud-run' | 'gke';
  trigger: 'push' | 'eventarc';
  ingestUrl: string;
  deadletterUrl: string;
  topic: string;
  deadLetterTopic: string;
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
  const ingestSubscription = 'telemetry-ingest';
  const deadLetterSubscription = 'telemetry-dead-letter-deadletter';

  const steps: WiringStep[] = [
    {
      section: 'APIs',
      commands: [['gcloud', 'services', 'enable', 'pubsub.googleapis.com', 'run.googleapis.com', 'eventarc.googleapis.com', 'sqladmin.googleapis.com', 'bigquery.googleapis.com', 'iamcredentials.googleapis.com', p]],
    },
    {
      section: 'Service accounts: one per function (least privilege) and one that signs push requests',
      commands: [...FUNCTIONS, 'push'].map((fn) => ['gcloud', 'iam', 'service-accounts', 'create', `telemetry-${fn}`, `--display-name=telemetry ${fn}`, p]),
    },
    {
      section: 'Topics',
      commands: [
        ['gcloud', 'pubsub', 'topics', 'create', o.topic, `--message-retention-duration=${DELIVERY.messageRetention}`, p],
        ['gcloud', 'pubsub', 'topics', 'create', o.deadLetterTopic, `--message-retention-duration=${DELIVERY.messageRetention}`, p],
      ],
    },
    {
      section: 'IAM: bridge publishes; ingest writes BigQuery; every function reaches Cloud SQL as an IAM database user',
      commands: [
        ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', o.topic, member(fnSa('bridge')), '--role=roles/pubsub.publisher', p],
        ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa('ingest')), '--role=roles/bigquery.dataEditor', '--condition=None'],
        ...FUNCTIONS.flatMap((fn) => [
          ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa(fn)), '--role=roles/cloudsql.client', '--condition=None'],
          ['gcloud', 'projects', 'add-iam-policy-binding', o.project, member(fnSa(fn)), '--role=roles/cloudsql.instanceUser', '--condition=None'],
          ['gcloud', 'sql', 'users', 'create', fnSa(fn).replace(/\.gserviceaccount\.com$/, ''), `--instance=${o.sqlInstance}`, '--type=cloud_iam_service_account', p],
        ]),
      ],
    },
    {
      section: 'IAM: the Pub/Sub service agent mints OIDC tokens as the push account and forwards to the dead-letter topic',
      commands: [
        ['gcloud', 'iam', 'service-accounts', 'add-iam-policy-binding', pushSa, member(serviceAgent), '--role=roles/iam.serviceAccountTokenCreator', p],
        ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', o.deadLetterTopic, member(serviceAgent), '--role=roles/pubsub.publisher', p],
      ],
    },
  ];

  if (o.target === 'cloud-run') {
    steps.push({
      section: 'IAM: only the push account may invoke ingest and deadletter',
      commands: ['ingest', 'deadletter'].map((fn) => ['gcloud', 'run', 'services', 'add-iam-policy-binding', fn, `--region=${o.region}`, member(pushSa), '--role=roles/run.invoker', p]),
    });
  } else {
    steps.push({
      section: 'Workload Identity: each Kubernetes service account acts as its Google service account',
      commands: FUNCTIONS.map((fn) => [
        'gcloud', 'iam', 'service-accounts', 'add-iam-policy-binding', fnSa(fn),
        '--role=roles/iam.workloadIdentityUser', `--member=serviceAccount:${o.project}.svc.id.goog[${o.namespace}/telemetry-${fn}]`, p,
      ]),
    });
  }

  if (o.trigger === 'push') {
    const pushFlags = (url: string) => [
      `--push-endpoint=${url}`,
      `--push-auth-service-account=${pushSa}`,
      `--push-auth-token-audience=${url}`,
      `--ack-deadline=${DELIVERY.ackDeadlineSeconds}`,
      `--min-retry-delay=${DELIVERY.minRetryDelay}`,
      `--max-retry-delay=${DELIVERY.maxRetryDelay}`,
    ];
    steps.push(
      {
        section: 'Push subscription to ingest: OIDC-authenticated, exponential backoff, dead-letter after 5 attempts',
        commands: [
          ['gcloud', 'pubsub', 'subscriptions', 'create', ingestSubscription, `--topic=${o.topic}`, ...pushFlags(o.ingestUrl), `--dead-letter-topic=${o.deadLetterTopic}`, `--max-delivery-attempts=${DELIVERY.maxDeliveryAttempts}`, p],
          // The service agent must be able to acknowledge what it forwards to the dead-letter topic.
          ['gcloud', 'pubsub', 'subscriptions', 'add-iam-policy-binding', ingestSubscription, member(serviceAgent), '--role=roles/pubsub.subscriber', p],
        ],
      },
      {
        section: 'Dead-letter subscription to deadletter (no further dead-lettering: deadletter stores everything it receives)',
        commands: [['gcloud', 'pubsub', 'subscriptions', 'create', deadLetterSubscription, `--topic=${o.deadLetterTopic}`, ...pushFlags(o.deadletterUrl), `--message-retention-duration=${DELIVERY.messageRetention}`, p]],
      },
    );
  } else {
    const destination =
      o.target === 'cloud-run'
        ? [`--destination-run-service=ingest`, `--destination-run-region=${o.region}`, '--destination-run-path=/']
        : [`--destination-gke-cluster=${o.gkeCluster}`, `--destination-gke-location=${o.region}`, `--destination-gke-namespace=${o.namespace}`, '--destination-gke-service=ingest', '--destination-gke-path=/'];
    steps.push({
      section: 'Eventarc alternative: a trigger delivers binary-mode CloudEvents (it creates and owns the push subscription; set its dead-letter policy with `gcloud pubsub subscriptions update`)',
      commands: [
        [
          'gcloud', 'eventarc', 'triggers', 'create', 'telemetry-ingest', `--location=${o.region}`, ...destination,
          '--event-filters=type=google.cloud.pubsub.topic.v1.messagePublished', `--transport-topic=projects/${o.project}/topics/${o.topic}`,
          `--service-account=${pushSa}`, p,
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
          'gcloud', 'scheduler', 'jobs', 'create', 'http', 'telemetry-maintain', `--location=${o.region}`, `--schedule=${MAINTENANCE_SCHEDULE}`, '--time-zone=Etc/UTC',
          `--uri=${registryUrl}/v1/maintenance:run`, '--http-method=POST', '--headers=Content-Type=application/json', '--message-body={}',
          `--oidc-service-account-email=${schedulerSa}`, `--oidc-token-audience=${registryUrl}`, '--attempt-deadline=60s', '--max-retry-attempts=3', p,
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

function optionsFromArgs(argv: string[]): { options: WiringOptions; apply: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      apply: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      target: { type: 'string', default: 'cloud-run' },
      trigger: { type: 'string', default: 'push' },
      project: { type: 'string', default: process.env.GOOGLE_CLOUD_PROJECT ?? 'PROJECT' },
      'project-number': { type: 'string' },
      region: { type: 'string', default: 'us-central1' },
      'ingest-url': { type: 'string' },
      'deadletter-url': { type: 'string' },
      'sql-instance': { type: 'string', default: 'telemetry' },
      'gke-cluster': { type: 'string', default: 'telemetry' },
      'registry-url': { type: 'string' },
    },
  });
  const problems: string[] = [];
  if (values.target !== 'cloud-run' && values.target !== 'gke') problems.push(`--target must be cloud-run or gke, not ${values.target}`);
  if (values.trigger !== 'push' && values.trigger !== 'eventarc') problems.push(`--trigger must be push or eventarc, not ${values.trigger}`);
  const apply = values.apply && !values['dry-run'];
  if (apply && values.trigger === 'push' && (!values['ingest-url'] || !values['deadletter-url'])) problems.push('--apply with push subscriptions needs --ingest-url and --deadletter-url');
  if (problems.length > 0) throw new Error(problems.join('; '));
  return {
    apply,
    options: {
      project: values.project,
      projectNumber: values['project-number'] ?? 'PROJECT_NUMBER',
      region: values.region,
      target: values.target as WiringOptions['target'],
      trigger: values.trigger as WiringOptions['trigger'],
      ingestUrl: values['ingest-url'] ?? 'https://INGEST_URL/',
      deadletterUrl: values['deadletter-url'] ?? 'https://DEADLETTER_URL/',
      topic: process.env.TELEMETRY_TOPIC ?? 'telemetry',
      deadLetterTopic: process.env.DEAD_LETTER_TOPIC ?? 'telemetry-dead-letter',
      sqlInstance: values['sql-instance'],
      gkeCluster: values['gke-cluster'],
      namespace: 'telemetry',
      ...(values['registry-url'] ? { registryUrl: values['registry-url'] } : {}),
    },
  };
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
  const { options, apply } = optionsFromArgs(process.argv.slice(2));
  if (!apply) {
    process.stdout.write(renderScript(wiringSteps(options)));
    return;
  }
  if (options.projectNumber === 'PROJECT_NUMBER') options.projectNumber = lookUpProjectNumber(options.project);
  runSteps(wiringSteps(options));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main().catch((error: unknown) => {
    console.error(`wiring: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
