/**
 * How a function's Knative manifest (knative/base/<name>.yaml) runs Node: the benchmarks start
 * the function the way its container does, with the same heap flags.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { nodeFlagsOf, type Manifest } from '../../scripts/deploy/manifests.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ManifestRuntime {
  /** The container's NODE_OPTIONS ('' when unset). */
  nodeOptions: string;
  /** The Node flags its args put before the bundle (flags NODE_OPTIONS refuses). */
  nodeFlags: string[];
  /** The container's memory limit in MiB. */
  limitMb: number;
}

export function manifestRuntime(name: string): ManifestRuntime {
  const file = `knative/base/${name}.yaml`;
  const manifest = parse(readFileSync(join(ROOT, file), 'utf8')) as Manifest;
  const container = manifest.spec?.template?.spec?.containers?.[0];
  if (!container) throw new Error(`${file} has no container`);
  const memory = container.resources?.limits?.memory ?? '';
  const limit = /^(\d+)Mi$/.exec(memory);
  if (!limit) throw new Error(`${file}: memory limit ${memory} is not in Mi`);
  // The deploy rules (scripts/deploy/manifest-rules.ts) check that args end with the bundle.
  const { nodeOptions, flags } = nodeFlagsOf(container);
  return { nodeOptions: nodeOptions.join(' '), nodeFlags: flags, limitMb: Number(limit[1]) };
}

/** The runtime as results name it: `NODE_OPTIONS … + flags …`. */
export function describeRuntime(runtime: ManifestRuntime): string {
  const parts = [`NODE_OPTIONS ${runtime.nodeOptions || '(none)'}`];
  if (runtime.nodeFlags.length > 0) parts.push(`node ${runtime.nodeFlags.join(' ')}`);
  return parts.join(', ');
}

/** How Knative serves a function (knative/base/<name>.yaml): what a load on one instance must respect. */
export interface ManifestServing {
  /** Requests one instance takes at once (containerConcurrency): the load a benchmark puts on it. */
  containerConcurrency: number;
  /** How long Knative lets a request run (timeoutSeconds) before it answers for it. */
  timeoutSeconds: number;
  /** The container's PG_POOL_MAX. */
  poolMax: number;
}

export function manifestServing(name: string): ManifestServing {
  const file = `knative/base/${name}.yaml`;
  const spec = (parse(readFileSync(join(ROOT, file), 'utf8')) as Manifest).spec?.template?.spec;
  const poolMax = Number(spec?.containers?.[0]?.env?.find((e) => e.name === 'PG_POOL_MAX')?.value);
  const serving = { containerConcurrency: spec?.containerConcurrency ?? NaN, timeoutSeconds: spec?.timeoutSeconds ?? NaN, poolMax };
  // The deploy rules require all three; a manifest without one is not the one deployed.
  for (const [key, value] of Object.entries(serving)) if (!Number.isInteger(value) || value <= 0) throw new Error(`${file}: no ${key}`);
  return serving;
}
