/**
 * How a function's Knative manifest (knative/base/<name>.yaml) runs Node: the benchmarks start
 * the function the way its container does, with the same heap flags.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ManifestRuntime {
  /** The container's NODE_OPTIONS ('' when unset). */
  nodeOptions: string;
  /** The Node flags its args put before the bundle (flags NODE_OPTIONS refuses). */
  nodeFlags: string[];
  /** The container's memory limit in MiB. */
  limitMb: number;
}

interface ManifestContainer {
  args?: string[];
  env?: { name: string; value?: string }[];
  resources: { limits: { memory: string } };
}

export function manifestRuntime(name: string): ManifestRuntime {
  const file = `knative/base/${name}.yaml`;
  const manifest = parse(readFileSync(join(ROOT, file), 'utf8')) as { spec: { template: { spec: { containers: ManifestContainer[] } } } };
  const container = manifest.spec.template.spec.containers[0];
  if (!container) throw new Error(`${file} has no container`);
  const limit = /^(\d+)Mi$/.exec(container.resources.limits.memory);
  if (!limit) throw new Error(`${file}: memory limit ${container.resources.limits.memory} is not in Mi`);
  const args = container.args ?? ['index.mjs'];
  if (args.at(-1) !== 'index.mjs') throw new Error(`${file}: args must end with index.mjs`);
  return {
    nodeOptions: container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '',
    nodeFlags: args.slice(0, -1),
    limitMb: Number(limit[1]),
  };
}

/** The runtime as results name it: `NODE_OPTIONS … + flags …`. */
export function describeRuntime(runtime: ManifestRuntime): string {
  const parts = [`NODE_OPTIONS ${runtime.nodeOptions || '(none)'}`];
  if (runtime.nodeFlags.length > 0) parts.push(`node ${runtime.nodeFlags.join(' ')}`);
  return parts.join(', ');
}
