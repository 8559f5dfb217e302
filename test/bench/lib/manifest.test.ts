/**
 * How the benchmarks read a Knative manifest (bench/lib/manifest.ts): the serving limits a
 * load on one instance must respect, as knative/base sets them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { manifestServing } from '../../../bench/lib/manifest.ts';
import { FUNCTION_NAMES } from '../../../functions/index.ts';

describe('manifestServing', () => {
  it.each(FUNCTION_NAMES)("gives the %s Service's containerConcurrency, timeoutSeconds and PG_POOL_MAX", (name) => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', '..', 'knative', 'base', `${name}.yaml`), 'utf8');
    const spec = (parse(text) as { spec: { template: { spec: { containerConcurrency: number; timeoutSeconds: number } } } }).spec.template.spec;
    const serving = manifestServing(name);
    expect(serving).toMatchObject({ containerConcurrency: spec.containerConcurrency, timeoutSeconds: spec.timeoutSeconds });
    expect(text).toContain(`name: PG_POOL_MAX\n              value: "${serving.poolMax}"`);
  });

  it('gives the ingest its hard cap of 400 pushes', () => {
    expect(manifestServing('ingest').containerConcurrency).toBe(400);
  });
});
