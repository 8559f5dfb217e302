/**
 * A second-by-second simulation of one revision under Knative's Pod Autoscaler (KPA) with the
 * concurrency metric, following the decider in knative/serving
 * (pkg/autoscaler/scaling/autoscaler.go) and the scaler around it
 * (pkg/reconciler/autoscaling/kpa/scaler.go): stable and panic windows, panic threshold,
 * rate limits, scale-down delay, min/max/activation scale and scale to zero after a grace
 * period. Pure: no I/O, no clock. docs/capacity.md explains the model and its limits.
 * @see https://knative.dev/docs/serving/autoscaling/kpa-specific/
 * @see https://github.com/knative/serving/blob/main/pkg/autoscaler/scaling/autoscaler.go
 */

/** What one revision's annotations and `config-autoscaler` decide. Durations in seconds. */
export interface KpaSettings {
  /** `autoscaling.knative.dev/metric`: in-flight requests, or requests per second. */
  metric: 'concurrency' | 'rps';
  /** `autoscaling.knative.dev/target` (in-flight requests per pod), before utilisation. */
  target: number;
  /** `target-utilization-percentage` / 100 (config: `container-concurrency-target-percentage`). */
  targetUtilization: number;
  /** `containerConcurrency`: the hard per-pod limit; 0 means unlimited. */
  containerConcurrency: number;
  minScale: number;
  /** 0 means unbounded. */
  maxScale: number;
  initialScale: number;
  activationScale: number;
  stableWindow: number;
  panicWindowPercentage: number;
  panicThresholdPercentage: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  scaleDownDelay: number;
  scaleToZeroGracePeriod: number;
  scaleToZeroPodRetentionPeriod: number;
  /** How often the autoscaler decides (its tick: 2 s). */
  tickInterval: number;
}

/** `config-autoscaler` as Knative Serving ships it. */
export const KNATIVE_DEFAULTS: KpaSettings = {
  metric: 'concurrency',
  target: 100,
  targetUtilization: 0.7,
  containerConcurrency: 0,
  minScale: 0,
  maxScale: 0,
  initialScale: 1,
  activationScale: 1,
  stableWindow: 60,
  panicWindowPercentage: 10,
  panicThresholdPercentage: 200,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  scaleDownDelay: 0,
  scaleToZeroGracePeriod: 30,
  scaleToZeroPodRetentionPeriod: 0,
  tickInterval: 2,
};

/**
 * The per-pod concurrency the decider divides by: the target (never above
 * containerConcurrency) times the target utilisation, at least 0.01.
 */
export function targetValue(s: Pick<KpaSettings, 'target' | 'targetUtilization' | 'containerConcurrency'>): number {
  const target = s.containerConcurrency > 0 ? Math.min(s.target, s.containerConcurrency) : s.target;
  return Math.max(0.01, target * s.targetUtilization);
}

/** The load one function sees and how its pods serve it. */
export interface Workload {
  /** Requests per second arriving at second `t`. */
  rate(t: number): number;
  /** Time a request spends in a pod (Little's law turns rate into concurrency). */
  latency: number;
  /** The most requests per second one ready pod serves; beyond it requests wait. */
  podCapacity: number;
  /** From the decision to add a pod until it serves (scheduling + process start). */
  coldStart: number;
  /**
   * How long a waiting request is held before it fails (the revision's timeoutSeconds for
   * callers that give up; unset for Pub/Sub, which keeps undelivered messages).
   */
  maxWait?: number;
}

/** Per-second series, index i = second `from + i`. */
export interface SimulationResult {
  from: number;
  arrivals: Float64Array;
  served: Float64Array;
  /** Pods serving. */
  ready: Float64Array;
  /** Pods serving plus pods starting (what is billed on instance-based billing). */
  pods: Float64Array;
  /** The scale the autoscaler asked for after bounds. */
  desired: Float64Array;
  /** What the autoscaler would have asked for without max-scale. */
  unbounded: Float64Array;
  panic: Uint8Array;
  /** Requests waiting for a pod at the end of the second (activator, Pub/Sub). */
  backlog: Float64Array;
  /** Requests that waited longer than `maxWait` and failed in that second. */
  dropped: Float64Array;
  /** In-flight requests as queue-proxy and activator report them. */
  concurrency: Float64Array;
  /** What a request arriving that second waits for its answer: in-pod latency + queue wait. */
  latency: Float64Array;
}

/** The decider's state between ticks. */
interface DeciderState {
  panicSince: number | undefined;
  maxPanicPods: number;
  delayWindow: { t: number; pods: number }[];
  zeroSince: number | undefined;
}

/**
 * Runs seconds `from` .. `to` - 1. The revision starts with `initialScale` ready pods, as
 * after a deployment; pass an earlier `from` than you report on to let it settle.
 */
export function simulateKpa(settings: KpaSettings, workload: Workload, from: number, to: number): SimulationResult {
  const n = Math.max(0, to - from);
  const result: SimulationResult = {
    from,
    arrivals: new Float64Array(n),
    served: new Float64Array(n),
    ready: new Float64Array(n),
    pods: new Float64Array(n),
    desired: new Float64Array(n),
    unbounded: new Float64Array(n),
    panic: new Uint8Array(n),
    backlog: new Float64Array(n),
    dropped: new Float64Array(n),
    concurrency: new Float64Array(n),
    latency: new Float64Array(n),
  };
  const tv = targetValue(settings);
  const panicWindow = Math.max(1, Math.round((settings.stableWindow * settings.panicWindowPercentage) / 100));
  const tick = Math.max(1, Math.round(settings.tickInterval));
  let ready = Math.max(settings.initialScale, settings.minScale);
  let starting: number[] = []; // the second each starting pod becomes ready
  let backlog = 0;
  let lastDesired = ready;
  let lastUnbounded = ready;
  const history: number[] = [];
  // Knative starts a new decider in panic mode when more than one pod is already up.
  const state: DeciderState = { panicSince: ready > 1 ? from : undefined, maxPanicPods: ready, delayWindow: [], zeroSince: undefined };

  for (let i = 0; i < n; i += 1) {
    const t = from + i;
    const nowReady = starting.filter((at) => at <= t).length;
    if (nowReady > 0) {
      ready += nowReady;
      starting = starting.filter((at) => at > t);
    }
    const arrivals = Math.max(0, workload.rate(t));
    const capacity = ready > 0 ? ready * workload.podCapacity : 0;
    const queue = backlog + arrivals;
    const served = Math.min(queue, capacity);
    backlog = queue - served;
    // A fluid view of the timeout: no more than maxWait seconds of arrivals can still be waiting.
    let dropped = 0;
    if (workload.maxWait !== undefined && backlog > arrivals * workload.maxWait) {
      dropped = backlog - arrivals * workload.maxWait;
      backlog -= dropped;
    }
    // Queue-proxy counts the requests in each pod; the activator counts those waiting for one.
    const concurrency = settings.metric === 'rps' ? arrivals : served * workload.latency + backlog;
    history.push(concurrency);
    if (history.length > settings.stableWindow) history.shift();

    if (i % tick === 0) {
      const decision = decide(settings, state, tv, panicWindow, history, ready, starting.length, t);
      lastDesired = decision.desired;
      lastUnbounded = decision.unbounded;
      const total = ready + starting.length;
      if (lastDesired > total) {
        for (let k = total; k < lastDesired; k += 1) starting.push(t + Math.max(1, Math.ceil(workload.coldStart)));
      } else if (lastDesired < total) {
        let remove = total - lastDesired;
        const fromStarting = Math.min(remove, starting.length);
        starting = starting.slice(0, starting.length - fromStarting);
        remove -= fromStarting;
        ready -= remove;
      }
    }

    let wait: number;
    if (ready > 0) wait = backlog / (ready * workload.podCapacity);
    // No pod yet: the request waits in the activator for the first one to start.
    else if (arrivals > 0 || backlog > 0) wait = starting.length > 0 ? Math.min(...starting) - t : workload.coldStart + tick;
    else wait = 0;
    result.arrivals[i] = arrivals;
    result.served[i] = served;
    result.ready[i] = ready;
    result.pods[i] = ready + starting.length;
    result.desired[i] = lastDesired;
    result.unbounded[i] = lastUnbounded;
    result.panic[i] = state.panicSince === undefined ? 0 : 1;
    result.backlog[i] = backlog;
    result.dropped[i] = dropped;
    result.concurrency[i] = concurrency;
    result.latency[i] = workload.latency + (workload.maxWait === undefined ? wait : Math.min(wait, workload.maxWait));
  }
  return result;
}

const mean = (values: number[], last: number): number => {
  const window = values.slice(-last);
  return window.length === 0 ? 0 : window.reduce((a, b) => a + b, 0) / window.length;
};

/** One autoscaler tick: the decider (autoscaler.go `Scale`) followed by the scaler's bounds and scale-to-zero rule. */
function decide(
  s: KpaSettings,
  state: DeciderState,
  tv: number,
  panicWindow: number,
  history: number[],
  ready: number,
  starting: number,
  t: number,
): { desired: number; unbounded: number } {
  const observedStable = mean(history, s.stableWindow);
  const observedPanic = mean(history, panicWindow);
  // The decider counts at least one pod, so that it can scale up from zero.
  const readyCount = Math.max(1, ready);
  const maxScaleUp = Math.ceil(s.maxScaleUpRate * readyCount);
  const maxScaleDown = Math.floor(readyCount / s.maxScaleDownRate);
  const dspc = Math.ceil(observedStable / tv);
  const dppc = Math.ceil(observedPanic / tv);
  let stablePods = Math.min(Math.max(dspc, maxScaleDown), maxScaleUp);
  let panicPods = Math.min(Math.max(dppc, maxScaleDown), maxScaleUp);
  if (s.activationScale > 1) {
    if (dspc > 0 && s.activationScale > stablePods) stablePods = s.activationScale;
    if (dppc > 0 && s.activationScale > panicPods) panicPods = s.activationScale;
  }
  const overThreshold = dppc / readyCount >= s.panicThresholdPercentage / 100;
  if (overThreshold) state.panicSince = t;
  else if (state.panicSince !== undefined && state.panicSince + s.stableWindow < t) {
    state.panicSince = undefined;
    state.maxPanicPods = 0;
  }
  let desired = stablePods;
  if (state.panicSince !== undefined) {
    // In panic mode the autoscaler only ever scales up.
    desired = Math.max(desired, panicPods, state.maxPanicPods);
    state.maxPanicPods = desired;
  }
  if (s.scaleDownDelay > 0) {
    state.delayWindow.push({ t, pods: desired });
    state.delayWindow = state.delayWindow.filter((e) => e.t > t - s.scaleDownDelay);
    desired = Math.max(...state.delayWindow.map((e) => e.pods));
  }
  const unbounded = Math.max(desired, s.minScale);
  desired = Math.max(desired, s.minScale);
  if (s.maxScale > 0) desired = Math.min(desired, s.maxScale);
  // Scale to zero only after the activator has been in the path for the grace period (and
  // the last pod has been kept for its retention period).
  if (desired === 0 && ready + starting > 0) {
    state.zeroSince ??= t;
    if (t - state.zeroSince < Math.max(s.scaleToZeroGracePeriod, s.scaleToZeroPodRetentionPeriod)) desired = 1;
  } else {
    state.zeroSince = undefined;
  }
  return { desired, unbounded };
}
