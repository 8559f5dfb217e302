/**
 * The deployment surface, validated offline: both overlays render with `kubectl kustomize`,
 * every Service passes Knative's schema and webhook rules (and Cloud Run's for its overlay),
 * the connection budget and delivery policy hold, `deploy --dry-run` prints one function,
 * and the wiring prints the gcloud commands with their flags. Each validator is also fed a
 * deliberately broken manifest, so that a rule that never fires cannot pass unnoticed.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { isKnativeService, nodeFlagsOf, renderOverlay, selectFunction, TARGETS, type Manifest, type Target } from '../scripts/deploy/manifests.ts';
import { connectionBudget, validateMaintenanceCronJob, validateService } from '../scripts/deploy/manifest-rules.ts';
import { MAINTENANCE_SCHEDULE } from '../scripts/pubsub-wiring.ts';
import { PRODUCTION_DELIVERY } from '../shared/pubsub/topology.ts';
import { FUNCTION_NAMES } from '../functions/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = process.execPath;
// Cloud SQL's 100 connections, minus 3 reserved for superusers and 10 for operators/migrations.
const CONNECTION_LIMIT = 100 - 3 - 10;

let gke: Manifest[];
let cloudRun: Manifest[];
beforeAll(() => {
  gke = renderOverlay('gke');
  cloudRun = renderOverlay('cloud-run');
});

const services = (manifests: Manifest[]) => manifests.filter(isKnativeService);
const serviceNamed = (manifests: Manifest[], name: string) => structuredClone(services(manifests).find((m) => m.metadata.name === name)!);
const annotationsOf = (m: Manifest) => m.spec!.template!.metadata!.annotations!;
const containerOf = (m: Manifest) => m.spec!.template!.spec!.containers![0]!;

describe('rendered overlays', () => {
  it('gke: one Service per function, in the telemetry namespace, with its config and service accounts', () => {
    expect(
      services(gke)
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual([...FUNCTION_NAMES].sort());
    expect(gke.every((m) => m.kind === 'Namespace' || m.metadata.namespace === 'telemetry')).toBe(true);
    expect(gke.filter((m) => m.kind === 'ConfigMap').map((m) => m.metadata.name)).toEqual(['telemetry-config']);
    expect(gke.filter((m) => m.kind === 'ServiceAccount')).toHaveLength(FUNCTION_NAMES.length);
  });

  it('cloud-run: only the four Services (Cloud Run has no ConfigMaps or namespaces)', () => {
    expect(cloudRun.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(FUNCTION_NAMES.map((n) => `Service/${n}`).sort());
  });

  for (const target of TARGETS) {
    for (const name of FUNCTION_NAMES) {
      it(`${target}/${name} passes the schema and ${target === 'gke' ? 'Knative' : 'Cloud Run'} rules`, () => {
        const manifests = target === 'gke' ? gke : cloudRun;
        expect(validateService(serviceNamed(manifests, name), target)).toEqual([]);
      });
    }
  }

  it("starts this project's Node with each container's Node flags (NODE_OPTIONS and args), and the heap they ask for", () => {
    for (const m of [...services(gke), ...services(cloudRun)]) {
      const { nodeOptions, flags } = nodeFlagsOf(containerOf(m));
      const heap = execFileSync(NODE, [...flags, '-e', "process.stdout.write(String(require('node:v8').getHeapStatistics().heap_size_limit))"], {
        env: { ...process.env, NODE_OPTIONS: nodeOptions.join(' ') },
        encoding: 'utf8',
      });
      // Every Service caps its old space below its memory limit; a flag in args wins.
      const maxOld = [...nodeOptions, ...flags].findLast((flag) => flag.startsWith('--max-old-space-size='))?.split('=')[1];
      expect(maxOld, m.metadata.name).toMatch(/^\d+$/);
      // The limit V8 reports is the old space plus the young generation.
      expect(Number(heap) / 2 ** 20, m.metadata.name).toBeGreaterThanOrEqual(Number(maxOld));
    }
  });

  it('scales every function to zero, with request-based KPA autoscaling on Knative', () => {
    for (const m of services(gke)) {
      const a = annotationsOf(m);
      expect(a['autoscaling.knative.dev/min-scale'], m.metadata.name).toBe('0');
      expect(a['autoscaling.knative.dev/class']).toBe('kpa.autoscaling.knative.dev');
      expect(a['autoscaling.knative.dev/metric']).toBe('concurrency');
    }
    for (const m of services(cloudRun)) expect(annotationsOf(m)['autoscaling.knative.dev/minScale'], m.metadata.name).toBe('0');
  });

  it('lets ingest batch: a high containerConcurrency, and CPU kept between requests on Cloud Run', () => {
    expect(containerOf(serviceNamed(gke, 'ingest')).name).toBe('ingest');
    expect(serviceNamed(gke, 'ingest').spec!.template!.spec!.containerConcurrency).toBeGreaterThanOrEqual(200);
    expect(annotationsOf(serviceNamed(cloudRun, 'ingest'))['run.googleapis.com/cpu-throttling']).toBe('false');
    for (const m of services(cloudRun)) {
      expect(annotationsOf(m)['run.googleapis.com/startup-cpu-boost']).toBe('true');
      expect(annotationsOf(m)['run.googleapis.com/cloudsql-instances']).toMatch(/^[^:]+:[^:]+:[^:]+$/);
    }
  });

  it('keeps Σ PG_POOL_MAX × max-scale under the Cloud SQL connection limit on both platforms', () => {
    expect(connectionBudget(services(gke))).toBeLessThanOrEqual(CONNECTION_LIMIT);
    expect(connectionBudget(services(cloudRun))).toBe(connectionBudget(services(gke)));
    const unbounded = services(gke).map((m) => (m.metadata.name === 'ingest' ? withAnnotation(m, 'autoscaling.knative.dev/max-scale', '40') : m));
    expect(connectionBudget(unbounded)).toBeGreaterThan(CONNECTION_LIMIT);
  });

  it('gives the push receivers a timeout of at least the subscription ack deadline', () => {
    for (const name of ['ingest', 'deadletter']) {
      for (const manifests of [gke, cloudRun]) {
        expect(serviceNamed(manifests, name).spec!.template!.spec!.timeoutSeconds).toBeGreaterThanOrEqual(PRODUCTION_DELIVERY.ackDeadlineSeconds);
      }
    }
  });

  it('configures push OIDC verification for ingest and deadletter only', () => {
    for (const m of services(gke)) {
      const names = (containerOf(m).env ?? []).map((e) => e.name);
      expect(names.includes('PUSH_AUTH_AUDIENCE'), m.metadata.name).toBe(m.metadata.name === 'ingest' || m.metadata.name === 'deadletter');
    }
  });
});

function withAnnotation(m: Manifest, key: string, value: string | undefined): Manifest {
  const copy = structuredClone(m);
  const annotations = annotationsOf(copy);
  if (value === undefined) delete annotations[key];
  else annotations[key] = value;
  return copy;
}

function mutate(m: Manifest, change: (m: Manifest) => void): Manifest {
  const copy = structuredClone(m);
  change(copy);
  return copy;
}

describe('the validators catch what the platforms reject', () => {
  const cases: { name: string; target: Target; manifest: () => Manifest; path: string }[] = [
    {
      name: 'containerConcurrency over 1000',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'ingest'), (m) => (m.spec!.template!.spec!.containerConcurrency = 1001)),
      path: 'spec.template.spec.containerConcurrency',
    },
    {
      name: 'containerConcurrency not an integer (schema)',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'ingest'), (m) => ((m.spec!.template!.spec! as Record<string, unknown>).containerConcurrency = 'lots')),
      path: 'schema',
    },
    {
      name: 'timeoutSeconds over Knative’s 600',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'ingest'), (m) => (m.spec!.template!.spec!.timeoutSeconds = 601)),
      path: 'spec.template.spec.timeoutSeconds',
    },
    {
      name: 'timeoutSeconds over Cloud Run’s 3600',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (m.spec!.template!.spec!.timeoutSeconds = 3601)),
      path: 'spec.template.spec.timeoutSeconds',
    },
    {
      name: 'min-scale above max-scale',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/min-scale', '20'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/min-scale',
    },
    {
      name: 'negative max-scale',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/max-scale', '-1'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/max-scale',
    },
    {
      name: 'KPA with a CPU metric',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/metric', 'cpu'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/metric',
    },
    {
      name: 'target 0',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/target', '0'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/target',
    },
    {
      name: 'target above containerConcurrency',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/target', '5000'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/target',
    },
    {
      name: 'target-utilization-percentage 150',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/target-utilization-percentage', '150'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/target-utilization-percentage',
    },
    {
      name: 'scale-down-delay not a duration',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/scale-down-delay', '5 minutes'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/scale-down-delay',
    },
    {
      name: 'scale-down-delay over an hour',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/scale-down-delay', '2h'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/scale-down-delay',
    },
    {
      name: 'misspelt autoscaling annotation',
      target: 'gke',
      manifest: () => withAnnotation(serviceNamed(gke, 'bridge'), 'autoscaling.knative.dev/maxscale', '3'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/maxscale',
    },
    {
      name: 'reserved PORT variable',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => containerOf(m).env!.unshift({ name: 'PORT', value: '9090' })),
      path: 'spec.template.spec.containers.0.env.0',
    },
    {
      name: 'probe on another port',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).startupProbe = { httpGet: { path: '/healthz', port: 9999 } })),
      path: 'spec.template.spec.containers.0.startupProbe.httpGet.port',
    },
    {
      name: 'no probe at all',
      target: 'gke',
      manifest: () =>
        mutate(serviceNamed(gke, 'bridge'), (m) => {
          delete containerOf(m).startupProbe;
          delete containerOf(m).readinessProbe;
        }),
      path: 'spec.template.spec.containers.0',
    },
    {
      name: 'memory request above its limit',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).resources!.requests!.memory = '1Gi')),
      path: 'spec.template.spec.containers.0.resources.requests.memory',
    },
    {
      name: 'a Knative-only annotation on Cloud Run',
      target: 'cloud-run',
      manifest: () => withAnnotation(serviceNamed(cloudRun, 'ingest'), 'autoscaling.knative.dev/target', '100'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/target',
    },
    {
      name: 'minScale above maxScale on Cloud Run',
      target: 'cloud-run',
      manifest: () => withAnnotation(serviceNamed(cloudRun, 'ingest'), 'autoscaling.knative.dev/minScale', '50'),
      path: 'spec.template.metadata.annotations.autoscaling.knative.dev/minScale',
    },
    {
      name: 'envFrom on Cloud Run',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (containerOf(m).envFrom = [{ configMapRef: { name: 'telemetry-config' } }])),
      path: 'spec.template.spec.containers.0.envFrom',
    },
    {
      name: 'readiness probe on Cloud Run',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (containerOf(m).readinessProbe = { httpGet: { path: '/healthz' } })),
      path: 'spec.template.spec.containers.0.readinessProbe',
    },
    {
      name: 'less than one CPU with concurrency on Cloud Run',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (containerOf(m).resources!.limits!.cpu = '500m')),
      path: 'spec.template.spec.containers.0.resources.limits.cpu',
    },
    {
      name: 'Kubernetes label key on Cloud Run',
      target: 'cloud-run',
      manifest: () =>
        mutate(serviceNamed(cloudRun, 'ingest'), (m) => ((m.metadata as Record<string, unknown>).labels = { 'app.kubernetes.io/name': 'ingest' })),
      path: 'metadata.labels.app.kubernetes.io/name',
    },
    {
      name: 'unknown ingress on Cloud Run',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (m.metadata.annotations!['run.googleapis.com/ingress'] = 'public')),
      path: 'metadata.annotations.run.googleapis.com/ingress',
    },
    {
      name: 'container args that do not end with the bundle',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).args = ['--initial-old-space-size=96'])),
      path: 'spec.template.spec.containers.0.args',
    },
    {
      name: 'a Node flag NODE_OPTIONS refuses (the container would not start)',
      target: 'cloud-run',
      manifest: () =>
        mutate(serviceNamed(cloudRun, 'bridge'), (m) => {
          const nodeOptions = containerOf(m).env!.find((e) => e.name === 'NODE_OPTIONS')!;
          nodeOptions.value = `${nodeOptions.value} --initial-old-space-size=96`;
        }),
      path: 'spec.template.spec.containers.0.env.NODE_OPTIONS',
    },
    {
      name: 'a heap that does not fit the memory limit',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).resources!.limits!.memory = '160Mi')),
      path: 'spec.template.spec.containers.0.resources.limits.memory',
    },
    {
      name: 'a heap size that is not a number',
      target: 'gke',
      manifest: () =>
        mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).env!.find((e) => e.name === 'NODE_OPTIONS')!.value = '--max-old-space-size=lots')),
      path: 'spec.template.spec.containers.0.env.NODE_OPTIONS',
    },
    {
      name: 'an initial old space above the maximum',
      target: 'gke',
      manifest: () => mutate(serviceNamed(gke, 'bridge'), (m) => (containerOf(m).args = ['--initial-old-space-size=200', 'index.mjs'])),
      path: 'spec.template.spec.containers.0.args',
    },
    {
      name: 'Kubernetes service account on Cloud Run',
      target: 'cloud-run',
      manifest: () => mutate(serviceNamed(cloudRun, 'ingest'), (m) => (m.spec!.template!.spec!.serviceAccountName = 'telemetry-ingest')),
      path: 'spec.template.spec.serviceAccountName',
    },
  ];
  for (const c of cases) {
    it(`${c.target}: ${c.name}`, () => {
      expect(validateService(c.manifest(), c.target).map((i) => i.path)).toContain(c.path);
    });
  }
});

const runScript = (script: string, args: string[]) => execFileSync(NODE, [path.join(ROOT, 'scripts', script), ...args], { cwd: ROOT, encoding: 'utf8' });

describe('npm run deploy -- <function> --dry-run', () => {
  for (const target of ['gke', 'cloud-run'] as const) {
    it(`prints only ingest for ${target}, with the image asked for`, () => {
      const out = runScript('deploy.ts', [
        'ingest',
        '--target',
        target,
        '--image',
        'europe-docker.pkg.dev/demo/telemetry/ingest@sha256:1234',
        '--dry-run',
        '--project',
        'demo',
        '--region',
        'europe-west1',
        '--project-number',
        '123',
      ]);
      const docs = parseAllDocuments(out).map((d) => d.toJS() as Manifest);
      const knative = docs.filter(isKnativeService);
      expect(knative.map((m) => m.metadata.name)).toEqual(['ingest']);
      expect(containerOf(knative[0]!).image).toBe('europe-docker.pkg.dev/demo/telemetry/ingest@sha256:1234');
      expect(docs.map((m) => m.kind).sort()).toEqual(target === 'gke' ? ['ConfigMap', 'Namespace', 'Service', 'ServiceAccount'] : ['Service']);
      expect(out).not.toMatch(/name: (bridge|registry|deadletter)$/m);
    });
  }

  it('selects only what the Service refers to', () => {
    const selected = selectFunction(gke, 'registry');
    expect(selected.filter((m) => m.kind === 'ServiceAccount').map((m) => m.metadata.name)).toEqual(['telemetry-registry']);
  });

  it('names every problem in the arguments and exits 2', () => {
    let failure: { status: number; stderr: string } | undefined;
    try {
      runScript('deploy.ts', ['nosuch', '--target', 'aws', '--dry-run']);
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toContain('not nosuch');
    expect(failure?.stderr).toContain('not aws');
  });
});

describe('npm run wiring (dry run)', () => {
  it('prints the service accounts, IAM bindings, topics and push subscriptions with their policies', () => {
    const out = runScript('pubsub-wiring.ts', [
      '--project',
      'demo-proj',
      '--project-number',
      '123456',
      '--ingest-url',
      'https://ingest.example/',
      '--deadletter-url',
      'https://dl.example/',
    ]);
    const lines = out.split('\n').filter((l) => l.startsWith('gcloud '));
    const find = (...parts: string[]) => lines.filter((l) => parts.every((p) => l.includes(p)));
    for (const fn of [...FUNCTION_NAMES, 'push']) expect(find('iam service-accounts create', `telemetry-${fn} `)).toHaveLength(1);
    expect(find('pubsub topics create telemetry ')).toHaveLength(1);
    expect(find('pubsub topics create telemetry-dead-letter ')).toHaveLength(1);
    expect(find('topics add-iam-policy-binding telemetry ', 'telemetry-bridge@demo-proj.iam.gserviceaccount.com', 'roles/pubsub.publisher')).toHaveLength(1);
    expect(
      find(
        'service-accounts add-iam-policy-binding telemetry-push@',
        'service-123456@gcp-sa-pubsub.iam.gserviceaccount.com',
        'roles/iam.serviceAccountTokenCreator',
      ),
    ).toHaveLength(1);
    expect(find('topics add-iam-policy-binding telemetry-dead-letter', 'service-123456@gcp-sa-pubsub', 'roles/pubsub.publisher')).toHaveLength(1);
    expect(find('subscriptions add-iam-policy-binding telemetry-ingest', 'service-123456@gcp-sa-pubsub', 'roles/pubsub.subscriber')).toHaveLength(1);
    expect(find('run services add-iam-policy-binding ingest', 'telemetry-push@', 'roles/run.invoker')).toHaveLength(1);
    expect(find('run services add-iam-policy-binding deadletter', 'telemetry-push@', 'roles/run.invoker')).toHaveLength(1);
    expect(find('telemetry-ingest@', 'roles/bigquery.dataEditor')).toHaveLength(1);
    expect(find('roles/cloudsql.client')).toHaveLength(FUNCTION_NAMES.length);
    expect(find('roles/cloudsql.instanceUser')).toHaveLength(FUNCTION_NAMES.length);

    const [ingestSub] = find('pubsub subscriptions create telemetry-ingest ');
    for (const flag of [
      '--topic=telemetry ',
      '--push-endpoint=https://ingest.example/',
      '--push-auth-service-account=telemetry-push@demo-proj.iam.gserviceaccount.com',
      '--push-auth-token-audience=https://ingest.example/',
      `--ack-deadline=${PRODUCTION_DELIVERY.ackDeadlineSeconds}`,
      '--min-retry-delay=10s',
      '--max-retry-delay=600s',
      '--dead-letter-topic=telemetry-dead-letter',
      '--max-delivery-attempts=10',
    ]) {
      expect(ingestSub, flag).toContain(flag);
    }
    const [deadLetterSub] = find('pubsub subscriptions create', '--topic=telemetry-dead-letter');
    expect(deadLetterSub).toContain('--push-endpoint=https://dl.example/');
    expect(deadLetterSub).toContain('--push-auth-service-account=telemetry-push@');
    expect(deadLetterSub).not.toContain('--dead-letter-topic');
  });

  it('prints the Eventarc trigger alternative, to Cloud Run or to GKE', () => {
    const toRun = runScript('pubsub-wiring.ts', ['--trigger', 'eventarc', '--project', 'demo-proj']);
    const trigger = toRun.split('\n').find((l) => l.startsWith('gcloud eventarc triggers create'));
    expect(trigger).toContain('--event-filters=type=google.cloud.pubsub.topic.v1.messagePublished');
    expect(trigger).toContain('--transport-topic=projects/demo-proj/topics/telemetry');
    expect(trigger).toContain('--destination-run-service=ingest');
    expect(toRun).not.toContain('pubsub subscriptions create');
    const toGke = runScript('pubsub-wiring.ts', ['--trigger', 'eventarc', '--target', 'gke', '--project', 'demo-proj']);
    expect(toGke).toContain('--destination-gke-service=ingest');
    expect(toGke).toContain('roles/iam.workloadIdentityUser');
    expect(toGke).not.toContain('roles/run.invoker');
  });
});

describe('the maintenance schedule', () => {
  const cronJob = () =>
    structuredClone(gke.find((m) => m.kind === 'CronJob' && m.metadata.name === 'telemetry-maintain')) as unknown as Record<string, unknown>;
  const jobSpec = (m: Record<string, unknown>) =>
    (m.spec as { jobTemplate: { spec: Record<string, unknown> & { template: { spec: { containers: Record<string, unknown>[] } } } } }).jobTemplate.spec;

  it('gke: a CronJob in the telemetry namespace calls the registry, and passes the rules', () => {
    const job = cronJob();
    expect((job.metadata as { namespace?: string }).namespace).toBe('telemetry');
    expect(validateMaintenanceCronJob(job)).toEqual([]);
    expect(JSON.stringify(job)).toContain('http://registry.telemetry.svc.cluster.local/v1/maintenance:run');
    expect(cloudRun.some((m) => m.kind === 'CronJob')).toBe(false);
  });

  const broken: { name: string; change: (m: Record<string, unknown>) => void; path: string }[] = [
    { name: 'a six-field schedule', change: (m) => ((m.spec as Record<string, unknown>).schedule = '0 17 3 * * *'), path: 'spec.schedule' },
    { name: 'hour 24', change: (m) => ((m.spec as Record<string, unknown>).schedule = '0 24 * * *'), path: 'spec.schedule' },
    { name: 'overlapping runs allowed', change: (m) => ((m.spec as Record<string, unknown>).concurrencyPolicy = 'Allow'), path: 'spec.concurrencyPolicy' },
    { name: 'no deadline', change: (m) => delete jobSpec(m).activeDeadlineSeconds, path: 'spec.jobTemplate.spec.activeDeadlineSeconds' },
    {
      name: 'an image on latest',
      change: (m) => (jobSpec(m).template.spec.containers[0]!.image = 'curlimages/curl:latest'),
      path: 'spec.jobTemplate.spec.template.spec.containers.0.image',
    },
    {
      name: 'no limits',
      change: (m) => delete jobSpec(m).template.spec.containers[0]!.resources,
      path: 'spec.jobTemplate.spec.template.spec.containers.0.resources.limits',
    },
    {
      name: 'calling something else',
      change: (m) => (jobSpec(m).template.spec.containers[0]!.args = ['curl http://registry/v1/devices']),
      path: 'spec.jobTemplate.spec.template.spec.containers.0.args',
    },
  ];
  for (const c of broken) {
    it(`catches ${c.name}`, () => {
      const job = cronJob();
      c.change(job);
      expect(validateMaintenanceCronJob(job).map((i) => i.path)).toContain(c.path);
    });
  }

  it('cloud-run: the wiring prints a Cloud Scheduler job with OIDC calling the registry, and lets only its account invoke', () => {
    const out = runScript('pubsub-wiring.ts', ['--project', 'demo-proj', '--registry-url', 'https://registry.example/']);
    const lines = out.split('\n').filter((l) => l.startsWith('gcloud '));
    const job = lines.find((l) => l.startsWith('gcloud scheduler jobs create http telemetry-maintain'));
    for (const flag of [
      `'--schedule=${MAINTENANCE_SCHEDULE}'`,
      '--uri=https://registry.example/v1/maintenance:run',
      '--http-method=POST',
      '--oidc-service-account-email=telemetry-scheduler@demo-proj.iam.gserviceaccount.com',
      '--oidc-token-audience=https://registry.example',
    ]) {
      expect(job, flag).toContain(flag);
    }
    expect(
      lines.filter((l) => l.includes('run services add-iam-policy-binding registry') && l.includes('telemetry-scheduler@') && l.includes('roles/run.invoker')),
    ).toHaveLength(1);
    const gkeOut = runScript('pubsub-wiring.ts', ['--project', 'demo-proj', '--target', 'gke']);
    expect(gkeOut).not.toContain('gcloud scheduler');
  });
});
