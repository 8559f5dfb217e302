/** The terminal table and the SVG chart of a plan built from small, hand-made inputs. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../scripts/plan/capacity.ts';
import { PriceTableSchema } from '../../../scripts/plan/cost-model.ts';
import type { PlanInputs, ServiceSpec } from '../../../scripts/plan/inputs.ts';
import { KNATIVE_DEFAULTS } from '../../../scripts/plan/kpa-simulation.ts';
import { formatPlan, formatTable, renderPlanSvg } from '../../../scripts/plan/plan-report.ts';
import { parseCreateTable } from '../../../scripts/plan/row-size.ts';
import { diurnalProfile } from '../../../scripts/plan/traffic-profile.ts';

const prices = PriceTableSchema.parse(JSON.parse(readFileSync(new URL('../../../scripts/plan/prices.json', import.meta.url), 'utf8')));
const spec = (name: string, maxScale: number): ServiceSpec => ({
  name,
  kpa: { ...KNATIVE_DEFAULTS, maxScale, containerConcurrency: 200 },
  cpuLimit: 1,
  memoryLimitGib: 0.25,
  cpuRequest: 0.5,
  memoryRequestGib: 0.25,
  poolMax: 2,
  timeoutSeconds: 30,
  billing: 'request-based',
  notes: [],
});
const inputs: PlanInputs = {
  target: 'gke',
  services: [spec('bridge', 2), spec('ingest', 0), spec('odd <name>', 1)],
  throughput: {
    bridge: { unit: 'requests', readingsPerRequest: 1, curve: [{ concurrency: 50, perSecond: 1000 }], source: 'hand-made' },
    ingest: { unit: 'readings', readingsPerRequest: 1, curve: [{ concurrency: 100, perSecond: 2000 }], source: 'hand-made' },
  },
  coldStartMs: { bridge: 100, ingest: 100 },
  prices,
  readingColumns: parseCreateTable(
    'CREATE TABLE readings (\n  reading_id text PRIMARY KEY,\n  device_id text NOT NULL,\n  metrics jsonb NOT NULL\n);',
    'readings',
  ),
  bigqueryFields: [{ name: 'reading_id', type: 'STRING', mode: 'REQUIRED' }],
  sources: { manifests: 'hand-made', bench: [], prices: 'prices.json', schema: [] },
};
const plan = buildPlan(inputs, { devices: 20_000, interval: 10, readingsPerMessage: 1, metrics: 2, profile: diurnalProfile(), retentionDays: 30 });

describe('formatTable', () => {
  it('pads columns to the widest cell, the first left-aligned', () => {
    expect(
      formatTable(
        ['a', 'bb'],
        [
          ['xyz', '1'],
          ['q', '22'],
        ],
      ),
    ).toBe('a    bb\n---  --\nxyz   1\nq    22');
  });
});

describe('formatPlan', () => {
  it('shows every function, the cap, the database tier and limit, the volumes and a dated estimate', () => {
    const text = formatPlan(plan);
    for (const name of ['bridge', 'ingest', 'odd <name>']) expect(text).toContain(name);
    // 2,000 messages/s mean with a 3× storm against 2 bridge pods of 1,000 requests/s: capped.
    expect(plan.functions.find((f) => f.name === 'bridge')!.capped).toBe(true);
    expect(text).toMatch(/bridge: requests waited .* max-scale 2 capped it/);
    expect(text).toContain('db-custom-1-3840');
    expect(text).toContain('max_connections 100');
    expect(text).toContain('Pub/Sub:');
    expect(text).toContain('BigQuery:');
    expect(text).toContain(`Monthly cost ESTIMATE (30.42 days, list prices of ${prices.takenOn}`);
    expect(text).toMatch(/total\s+\$[\d,.]+/);
    expect(text).toContain('Warnings');
  });
});

describe('renderPlanSvg', () => {
  const svg = renderPlanSvg(plan);

  it('is one SVG document with a line per function in each panel and the load behind them', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // Instances: 3 functions; latency: the 2 with load.
    expect(svg.match(/<polyline /g)).toHaveLength(5);
    expect(svg.match(/<polygon /g)).toHaveLength(1);
    expect(svg).toContain('bridge max-scale 2');
    expect(svg).toMatch(/mean [\d.]+, capped/);
  });

  it('escapes names and draws every point inside the picture', () => {
    expect(svg).toContain('odd &lt;name&gt;');
    expect(svg).not.toContain('odd <name>');
    const [, width, height] = /width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
    for (const points of svg.matchAll(/points="([^"]+)"/g)) {
      for (const pair of points[1]!.split(' ')) {
        const [x, y] = pair.split(',').map(Number);
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(width!);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(height!);
      }
    }
  });
});
