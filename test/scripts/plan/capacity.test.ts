/**
 * The plan from the repository's real inputs: for a flat load its instance counts match a
 * direct calculation from the measured throughput, and editing a manifest (or adding a
 * Service) changes the plan.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, type PlanOptions } from '../../../scripts/plan/capacity.ts';
import { loadPlanInputs, ROOT } from '../../../scripts/plan/inputs.ts';
import { flatProfile } from '../../../scripts/plan/traffic-profile.ts';

const options = (devices: number, over: Partial<PlanOptions> = {}): PlanOptions => ({
  devices,
  interval: 10,
  readingsPerMessage: 1,
  metrics: 4,
  profile: flatProfile,
  retentionDays: 30,
  ...over,
});

interface BenchRow {
  role?: string;
  figures?: Record<string, number>;
}
const bench = (name: string) =>
  JSON.parse(readFileSync(path.join(ROOT, 'bench', 'results', `${name}.json`), 'utf8')) as { setup: { connections?: number }; rows: BenchRow[] };

/** Requests/s of one instance at `concurrency`, straight from the result file: linear from 0 through the points, flat after. */
function measuredAt(name: string, concurrency: number): number {
  const file = bench(name);
  const points = new Map<number, number>();
  for (const row of file.rows.filter((r) => r.role === 'project' && r.figures)) {
    const c = row.figures!.connections ?? file.setup.connections!;
    const v = row.figures!.reqPerSec ?? row.figures!.readingsPerSec!;
    points.set(c, Math.min(v, points.get(c) ?? Infinity));
  }
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  let [c0, v0] = [0, 0];
  for (const [c1, v1] of sorted) {
    if (concurrency <= c1) return v0 + ((v1 - v0) * (concurrency - c0)) / (c1 - c0);
    [c0, v0] = [c1, v1];
  }
  return v0;
}

describe('flat load: simulated instances = ceil(rate / per-instance capacity at the target)', () => {
  const inputs = loadPlanInputs('gke');
  // The manifests: bridge target 100 at 70 %, ingest target 300 at 80 %.
  const capacity = { bridge: measuredAt('bridge', 100 * 0.7), ingest: measuredAt('ingest', 300 * 0.8) };

  // Loads the manifests' max-scale carries (ingest 10, bridge 14) whatever the committed results
  // measured: about half of one ingest instance's capacity, and 3.5 and 7.5 instances' worth.
  for (const share of [0.5, 3.5, 7.5]) {
    const devices = Math.round(share * capacity.ingest * 10);
    it(`${devices.toLocaleString('en-US')} devices every 10 s (${share} × one ingest instance)`, () => {
      const plan = buildPlan(inputs, options(devices));
      const rate = devices / 10;
      for (const name of ['bridge', 'ingest'] as const) {
        const f = plan.functions.find((x) => x.name === name)!;
        const expected = Math.ceil(rate / capacity[name]);
        expect(f.instances.directAtPeak, name).toBe(expected);
        expect(f.instances.peak, name).toBe(expected);
        expect(f.instances.mean, name).toBe(expected);
        expect(f.backlog.max, name).toBe(0);
        expect(f.panicSeconds, name).toBe(0);
        expect(
          plan.series.functions[name]!.instances.every((v) => v === expected),
          name,
        ).toBe(true);
      }
    }, 60_000);
  }

  it('a message of K readings is K times the ingest work', () => {
    // Five instances' worth of readings, ten to a message.
    const devices = Math.round(50 * capacity.ingest);
    const plan = buildPlan(inputs, options(devices, { readingsPerMessage: 10, interval: 100 }));
    const ingest = plan.functions.find((x) => x.name === 'ingest')!;
    expect(ingest.measured.capacityAtTarget).toBeCloseTo(capacity.ingest / 10, 0);
    expect(ingest.instances.peak).toBe(Math.ceil(devices / 100 / (capacity.ingest / 10)));
  }, 60_000);
});

describe('the plan follows the manifests', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'plan-manifests-'));
    for (const dir of ['knative', 'bench/results', 'schemas']) cpSync(path.join(ROOT, dir), path.join(root, dir), { recursive: true });
    cpSync(path.join(ROOT, 'scripts', 'plan', 'prices.json'), path.join(root, 'scripts', 'plan', 'prices.json'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const edit = (file: string, from: string, to: string) => {
    const full = path.join(root, file);
    const text = readFileSync(full, 'utf8');
    expect(text).toContain(from);
    writeFileSync(full, text.replace(from, to));
  };

  it('a lower max-scale caps ingest, and the excess builds a Pub/Sub backlog', () => {
    // A little under two instances' worth of pushes.
    const devices = Math.floor(1.9 * measuredAt('ingest', 300 * 0.8) * 10);
    const before = buildPlan(loadPlanInputs('gke', root), options(devices)).functions.find((f) => f.name === 'ingest')!;
    expect(before.instances.peak).toBe(2);
    expect(before.capped).toBe(false);
    edit('knative/base/ingest.yaml', 'autoscaling.knative.dev/max-scale: "10"', 'autoscaling.knative.dev/max-scale: "1"');
    const after = buildPlan(loadPlanInputs('gke', root), options(devices)).functions.find((f) => f.name === 'ingest')!;
    expect(after.maxScale).toBe(1);
    expect(after.instances.peak).toBe(1);
    expect(after.capped).toBe(true);
    expect(after.backlog.where).toBe('Pub/Sub backlog');
    // Nearly twice one instance's pushes against its measured ceiling: the backlog grows all day.
    expect(after.backlog.endOfDay).toBeGreaterThan(1_000_000);
  }, 60_000);

  it('a lower target means more bridge instances', () => {
    edit('knative/base/bridge.yaml', 'autoscaling.knative.dev/target: "100"', 'autoscaling.knative.dev/target: "20"');
    const bridge = buildPlan(loadPlanInputs('gke', root), options(100_000)).functions.find((f) => f.name === 'bridge')!;
    expect(bridge.settings.targetValue).toBeCloseTo(14);
    expect(bridge.instances.peak).toBe(Math.ceil(10_000 / measuredAt('bridge', 14)));
    expect(bridge.instances.peak).toBeGreaterThan(2);
  }, 60_000);

  it('picks up a Service added to the manifests, with its pool in the connection count', () => {
    const registry = readFileSync(path.join(root, 'knative/base/registry.yaml'), 'utf8');
    writeFileSync(
      path.join(root, 'knative/base/reports.yaml'),
      registry.replaceAll('registry', 'reports').replace('autoscaling.knative.dev/min-scale: "0"', 'autoscaling.knative.dev/min-scale: "1"'),
    );
    edit('knative/base/kustomization.yaml', '  - deadletter.yaml\n', '  - deadletter.yaml\n  - reports.yaml\n');
    const plan = buildPlan(loadPlanInputs('gke', root), options(1_000));
    const reports = plan.functions.find((f) => f.name === 'reports')!;
    expect(reports.instances.peak).toBe(1);
    expect(plan.database.perFunction.find((f) => f.name === 'reports')).toMatchObject({ poolMax: 2, peakInstances: 1, connections: 2, budget: 6 });
  }, 60_000);
});

describe('the Cloud Run overlay', () => {
  it('plans from minScale/maxScale and prices each function by its billing setting', () => {
    const plan = buildPlan(loadPlanInputs('cloud-run'), options(10_000));
    const ingest = plan.functions.find((f) => f.name === 'ingest')!;
    const bridge = plan.functions.find((f) => f.name === 'bridge')!;
    expect(ingest.billing).toBe('instance-based');
    expect(bridge.billing).toBe('request-based');
    expect(ingest.maxScale).toBe(10);
    expect(ingest.settings.targetValue).toBeCloseTo(400 * 0.6);
    expect(plan.cost.lines.map((l) => l.item)).toContain('Cloud Run ingest: CPU (instance-based)');
    expect(plan.cost.lines.map((l) => l.item)).toContain('Cloud Run bridge: requests');
    expect(plan.cost.lines.some((l) => l.item.startsWith('GKE'))).toBe(false);
  }, 60_000);
});
