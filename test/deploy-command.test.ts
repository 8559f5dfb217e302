/**
 * `npm run deploy` as an operator meets it, spawned as the real command: every function on both
 * targets renders with nothing left to fill, a leftover placeholder is refused, a GKE deploy
 * without an explicit cluster context never reaches kubectl, and the project and region come
 * from the flags or gcloud's configuration (here an empty one, so that the machine's own
 * gcloud settings cannot leak in).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { isKnativeService, type Manifest } from '../scripts/deploy/manifests.ts';
import { findPlaceholders, PLACEHOLDER_PATTERNS } from '../scripts/deploy/manifest-rules.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const gcloudConfig = mkdtempSync(path.join(tmpdir(), 'deploy-gcloud-config-'));
afterAll(() => rmSync(gcloudConfig, { recursive: true, force: true }));

function deploy(args: string[]) {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'deploy.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CLOUDSDK_CONFIG: gcloudConfig, KUBECONFIG: path.join(gcloudConfig, 'no-kubeconfig') },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run deploy -- <function> --dry-run --project p --region r', () => {
  for (const target of ['gke', 'cloud-run'] as const) {
    for (const name of FUNCTION_NAMES) {
      it(`prints ${name} for ${target} with every placeholder filled`, () => {
        const run = deploy([name, '--dry-run', '--target', target, '--project', 'p-demo-1', '--region', 'europe-west1', '--project-number', '123456']);
        expect(run.code, run.stderr).toBe(0);
        const docs = parseAllDocuments(run.stdout).map((d) => d.toJS() as Manifest);
        expect(docs.filter(isKnativeService).map((m) => m.metadata.name)).toEqual([name]);
        expect(findPlaceholders(docs)).toEqual([]);
        expect(run.stdout).toContain('p-demo-1');
        expect(run.stdout).toContain('europe-west1-docker.pkg.dev/p-demo-1/telemetry/');
      });
    }
  }

  it('fills the push audience: the run.app URL on Cloud Run, the cluster address on GKE', () => {
    const audience = (target: string) => {
      const run = deploy(['ingest', '--dry-run', '--target', target, '--project', 'p-demo-1', '--region', 'europe-west1', '--project-number', '123456']);
      const service = parseAllDocuments(run.stdout)
        .map((d) => d.toJS() as Manifest)
        .find(isKnativeService);
      return service?.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'PUSH_AUTH_AUDIENCE')?.value;
    };
    expect(audience('cloud-run')).toBe('https://ingest-123456.europe-west1.run.app/');
    expect(audience('gke')).toBe('https://ingest.telemetry.svc.cluster.local/');
  });
});

describe('npm run deploy refuses', () => {
  it('a manifest with a placeholder left in it, naming where', () => {
    const run = deploy(['registry', '--dry-run', '--project', 'p-demo-1', '--region', 'europe-west1', '--image', 'registry.example.com/telemetry/registry:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Service\/registry\.spec\.template\.spec\.containers\[0\]\.image: still a placeholder: registry\.example\.com/);
    expect(run.stdout).toBe('');
  });

  it('a GKE deploy without --context, before any kubectl runs', () => {
    const run = deploy(['ingest', '--project', 'p-demo-1', '--region', 'europe-west1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--context is required on gke/);
  });

  it('to guess the project and region when neither the flags nor gcloud name them', () => {
    const run = deploy(['ingest', '--dry-run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--project and --region needed/);
  });

  it('a Cloud Run push function whose project number cannot be read', () => {
    const run = deploy(['ingest', '--dry-run', '--target', 'cloud-run', '--project', 'p-demo-1', '--region', 'europe-west1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/pass --project-number/);
  });
});

describe('the placeholder rule', () => {
  it('knows the words the committed manifests use, and not the real values', () => {
    for (const text of ['PROJECT', 'REGION-docker.pkg.dev/PROJECT/x', 'https://ingest.telemetry.example.com/', 'PROJECT:REGION:telemetry', '<your-project>']) {
      expect(
        PLACEHOLDER_PATTERNS.some((p) => p.test(text)),
        text,
      ).toBe(true);
    }
    for (const text of ['GOOGLE_CLOUD_PROJECT', 'p-demo-1:europe-west1:telemetry', 'https://ingest-1.europe-west1.run.app/']) {
      expect(
        PLACEHOLDER_PATTERNS.some((p) => p.test(text)),
        text,
      ).toBe(false);
    }
  });
});
