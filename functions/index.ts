/**
 * The functions of the pipeline by name, each loaded only when asked for.
 */
import type { FunctionModule } from '../shared/runtime/function.ts';

export const FUNCTION_NAMES = ['bridge', 'ingest', 'registry', 'deadletter', 'readings'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export const isFunctionName = (name: string): name is FunctionName => (FUNCTION_NAMES as readonly string[]).includes(name);

export async function loadFunction(name: FunctionName): Promise<FunctionModule> {
  const loaded = (await import(`./${name}/index.ts`)) as { default: FunctionModule };
  return loaded.default;
}
