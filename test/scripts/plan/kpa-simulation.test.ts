/**
 * The KPA simulation against Knative's documented autoscaler behaviour: the sizing formula
 * and its worked example, stable-window lag on step loads, panic mode on bursts (entered at
 * twice the capacity, held for a stable window, never scaling down), the scale-down rate
 * limit and delay, scale to zero after the grace period and back through a cold start,
 * activation scale, and max-scale saturation with a backlog.
 * @see https://knative.dev/docs/serving/autoscaling/kpa-specific/
 * @see https://github.com/knative/serving/blob/main/pkg/autoscaler/scaling/autoscaler.go
 */
import { describe, expect, it } from 'vitest';
import { KNATIVE_DEFAULTS, simulateKpa, targetValue, type KpaSettings, type Workload } from '../../../scripts/plan/kpa-simulation.ts';

const settings = (over: Partial<KpaSettings> = {}): KpaSettings => ({ ...KNATIVE_DEFAULTS, ...over });
/** A workload whose concurrency is `concurrency(t)`: rate × 1 s latency. */
const load = (concurrency: (t: number) => number, over: Partial<Workload> = {}): Workload => ({
  rate: concurrency,
  latency: 1,
  podCapacity: Number.POSITIVE_INFINITY,
  coldStart: 1,
  ...over,
});
const at = (series: Float64Array | Uint8Array, t: number, from = 0) => series[t - from]!;

describe('targetValue', () => {
  it('is the target times the utilisation, never above containerConcurrency', () => {
    expect(targetValue({ target: 100, targetUtilization: 0.7, containerConcurrency: 0 })).toBeCloseTo(70);
    expect(targetValue({ target: 300, targetUtilization: 0.8, containerConcurrency: 400 })).toBeCloseTo(240);
    expect(targetValue({ target: 100, targetUtilization: 0.7, containerConcurrency: 50 })).toBeCloseTo(35);
    expect(targetValue({ target: 0.001, targetUtilization: 1, containerConcurrency: 0 })).toBe(0.01);
  });
});

describe('stable mode', () => {
  it('sizes to ceil(concurrency / target): the docs example, target 10 and 50 requests in flight, is 5 pods', () => {
    const r = simulateKpa(
      settings({ target: 10, targetUtilization: 1 }),
      load(() => 50),
      0,
      600,
    );
    expect(at(r.ready, 599)).toBe(5);
    expect(at(r.desired, 598)).toBe(5);
  });

  it('applies the default 70 % utilisation: 250 in flight at target 100 needs ceil(250 / 70) = 4 pods', () => {
    const r = simulateKpa(
      settings(),
      load(() => 250),
      0,
      600,
    );
    expect(at(r.ready, 599)).toBe(4);
  });

  it('follows a modest step through the 60 s stable average, without panicking', () => {
    const step = 600;
    const r = simulateKpa(
      settings({ initialScale: 4 }),
      load((t) => (t < step ? 250 : 350)),
      0,
      900,
    );
    expect(at(r.ready, step - 1)).toBe(4);
    // ceil(350 / 70) = 5, reached only once the stable average passes 280 (about 18 s in).
    expect(at(r.ready, step + 6)).toBe(4);
    expect(at(r.ready, step + 70)).toBe(5);
    expect(Array.from(r.panic.slice(300)).every((p) => p === 0)).toBe(true);
  });
});

describe('panic mode', () => {
  const burstStart = 300;
  const burstEnd = 330;
  const run = () =>
    simulateKpa(
      settings(),
      load((t) => (t >= burstStart && t < burstEnd ? 700 : 50)),
      0,
      700,
    );

  it('enters panic within a tick once the 6 s window needs twice the ready pods, and scales up at once', () => {
    const r = run();
    expect(at(r.panic, burstStart - 1)).toBe(0);
    expect(at(r.panic, burstStart + 2)).toBe(1);
    // ceil(700 / 70) = 10 pods, long before the 60 s stable average would ask for them.
    const reached = Array.from(r.ready).findIndex((v, i) => i >= burstStart && v >= 10);
    expect(reached).toBeGreaterThan(burstStart);
    expect(reached).toBeLessThan(burstStart + 12);
  });

  it('stays in panic for a stable window after the last tick over the threshold, never scaling down meanwhile', () => {
    const r = run();
    const panicEnd = Array.from(r.panic).findIndex((p, i) => i > burstStart && p === 0);
    // Over the threshold only until the 10 pods serve (a tick plus the 1 s cold start); panic
    // ends a 60 s stable window after that, although the burst itself ended at 330.
    expect(panicEnd - burstStart).toBeGreaterThanOrEqual(60);
    expect(panicEnd - burstStart).toBeLessThanOrEqual(60 + 2 + 2 + 2);
    const peak = Math.max(...Array.from(r.ready.slice(burstStart, burstEnd)));
    expect(peak).toBe(10);
    // After the burst the 6 s window sees 50 in flight again (1 pod's worth), yet no pod goes until panic ends.
    expect(at(r.desired, burstEnd + 10)).toBe(10);
    for (let t = burstEnd; t < panicEnd; t += 1) expect(at(r.ready, t)).toBe(peak);
    // Out of panic, it scales down again.
    expect(at(r.ready, 699)).toBeLessThan(peak);
  });
});

describe('scale down', () => {
  it('halves at most per tick (max-scale-down-rate 2), after the start-up panic a new decider begins with', () => {
    const r = simulateKpa(
      settings({ initialScale: 64 }),
      load(() => 1),
      0,
      200,
    );
    // More than one pod at start: Knative starts the decider in panic mode, so nothing goes for 60 s.
    for (let t = 0; t < 60; t += 1) expect(at(r.ready, t)).toBe(64);
    for (let t = 1; t < 200; t += 1) expect(at(r.ready, t)).toBeGreaterThanOrEqual(Math.floor(at(r.ready, t - 1) / 2));
    const distinct = Array.from(r.ready).filter((v, i, all) => i === 0 || v !== all[i - 1]);
    expect(distinct).toEqual([64, 32, 16, 8, 4, 2, 1]);
  });

  it('keeps the highest recommendation of the scale-down-delay window, rate limit included', () => {
    const drop = 300;
    const r = simulateKpa(
      settings({ initialScale: 10, scaleDownDelay: 120 }),
      load((t) => (t < drop ? 700 : 70)),
      0,
      drop + 900,
    );
    expect(at(r.ready, drop - 1)).toBe(10);
    for (let t = drop; t <= drop + 120; t += 1) expect(at(r.ready, t)).toBe(10);
    // The decider records its recommendation after the rate limit: while 10 pods were up it
    // could not recommend fewer than floor(10 / 2) = 5, and that 5 is held for another 120 s.
    expect(at(r.ready, drop + 200)).toBe(5);
    expect(at(r.ready, drop + 899)).toBe(1);
  });
});

describe('scale to zero and back', () => {
  const stop = 100;
  const resume = 400;
  const coldStart = 5;
  const run = () =>
    simulateKpa(
      settings(),
      load((t) => (t < stop || t >= resume ? 10 : 0), { latency: 1, coldStart }),
      0,
      500,
    );

  it('removes the last pod only after a stable window without traffic plus the 30 s grace period', () => {
    const r = run();
    const zeroAt = Array.from(r.ready).findIndex((v, i) => i > stop && v === 0);
    // Last traffic in second 99: the 60 s window is empty from second 160; then 30 s of grace.
    expect(zeroAt).toBeGreaterThanOrEqual(stop + 60 + 30);
    expect(zeroAt).toBeLessThanOrEqual(stop + 60 + 30 + 2);
    for (let t = zeroAt; t < resume; t += 1) expect(at(r.ready, t)).toBe(0);
  });

  it('starts a pod when traffic returns; requests wait in the activator for the cold start', () => {
    const r = run();
    expect(at(r.ready, resume + coldStart - 1)).toBe(0);
    expect(at(r.ready, resume + coldStart)).toBe(1);
    expect(at(r.backlog, resume)).toBe(10);
    expect(at(r.latency, resume)).toBeGreaterThanOrEqual(1 + coldStart);
    // Once the pod serves, the backlog drains and latency is the pod's own again.
    expect(at(r.backlog, resume + coldStart + 1)).toBe(0);
    expect(at(r.latency, resume + coldStart + 1)).toBe(1);
  });

  it('goes straight to activation-scale pods when waking from zero', () => {
    const r = simulateKpa(
      settings({ initialScale: 0, activationScale: 3 }),
      load((t) => (t >= 50 ? 10 : 0)),
      0,
      200,
    );
    expect(at(r.ready, 49)).toBe(0);
    expect(Math.max(...Array.from(r.pods.slice(50, 60)))).toBe(3);
    expect(at(r.ready, 199)).toBe(3);
  });

  it('never goes below min-scale', () => {
    const r = simulateKpa(
      settings({ minScale: 2 }),
      load(() => 0),
      0,
      400,
    );
    expect(Math.min(...Array.from(r.ready))).toBe(2);
  });
});

describe('max-scale saturation', () => {
  it('holds at max-scale while the autoscaler wants more, and the excess queues as a growing backlog', () => {
    const r = simulateKpa(
      settings({ maxScale: 3, initialScale: 1 }),
      load(() => 500, { latency: 0.1, podCapacity: 100, coldStart: 2 }),
      0,
      400,
    );
    expect(Math.max(...Array.from(r.ready))).toBe(3);
    expect(at(r.unbounded, 398)).toBeGreaterThan(3);
    expect(at(r.served, 300)).toBe(300);
    // 500 arrive, 300 are served: 200 more wait every second.
    expect(at(r.backlog, 300) - at(r.backlog, 200)).toBeCloseTo(200 * 100, 6);
    expect(at(r.latency, 300)).toBeGreaterThan(at(r.latency, 200));
  });
});
