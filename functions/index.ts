/**
 * The functions of the pipeline by name, each loaded only when asked for.
 */
import type { FunctionModule } from '../shared/runtime/function.ts';

export const FUNCTION_NAMES = ['bridge', 'ingest', 'registry', 'deadletter', 'readings'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export const isFunctionName = (name: string): name is FunctionName => (FUNCTION_NAMES as readonly string[]).includes(name);

/** The functions Pub/Sub pushes to (their callers are Pub/Sub's service accounts, not people). */
export const PUSH_FUNCTIONS = ['ingest', 'deadletter'] as const satisfies readonly FunctionName[];

export const isPushFunction = (name: FunctionName): boolean => (PUSH_FUNCTIONS as readonly string[]).includes(name);

export async function loadFunction(name: FunctionName): Promise<FunctionModule> {
  const loaded = (await import(`./${name}/index.ts`)) as { default: FunctionModule };
  return loaded.default;
}
