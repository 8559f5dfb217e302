/**
 * The project's Kubernetes manifests as data: the overlays rendered offline, one function's
 * objects picked out of them, and the placeholders filled. `npm run deploy`, the capacity
 * plan and the manifest checks read them through here.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { FunctionName } from '../../functions/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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
          args?: string[];
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

/** The bundle a function's image runs with its entrypoint, `node`: container args end with it. */
export const BUNDLE = 'index.mjs';

/** One container of a Service's revision template. */
export type Container = NonNullable<NonNullable<NonNullable<Manifest['spec']>['template']>['spec']>['containers'] extends (infer C)[] | undefined ? C : never;

/**
 * How a container runs Node: the flags in its NODE_OPTIONS, and the args that replace the
 * image's command (Node flags, then the bundle). A flag in args wins over the same in NODE_OPTIONS.
 */
export function nodeFlagsOf(container: Container): { nodeOptions: string[]; args: string[]; flags: string[] } {
  const nodeOptions =
    container.env
      ?.find((e) => e.name === 'NODE_OPTIONS')
      ?.value?.split(/\s+/)
      .filter(Boolean) ?? [];
  const args = container.args ?? [BUNDLE];
  return { nodeOptions, args, flags: args.slice(0, -1) };
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
