/**
 * The capacity plan: a day of device traffic through each function's autoscaler, and what
 * the instances, the database, Pub/Sub and BigQuery then need and cost. Pure: everything it
 * knows comes in as `PlanInputs` (scripts/plan/inputs.ts). docs/capacity.md explains the model.
 */
import {
  bigqueryStreamingBilledBytes,
  estimateMonthlyCost,
  pickSqlTier,
  pubsubBilledBytes,
  type CostEstimate,
  type ServiceUsage,
  type SqlTier,
} from './cost-model.ts';
import type { CurvePoint, MeasuredThroughput, PlanInputs, ServiceSpec } from './inputs.ts';
import { simulateKpa, targetValue, type KpaSettings, type SimulationResult, type Workload } from './kpa-simulation.ts';
import { estimateBigQueryRowBytes, estimateMessageBytes, estimatePostgresReadingBytes } from './row-size.ts';
import { DAY_SECONDS, type TrafficProfile } from './traffic-profile.ts';

export interface PlanOptions {
  devices: number;
  /** Seconds between two messages of one device. */
  interval: number;
  readingsPerMessage: number;
  metrics: number;
  profile: TrafficProfile;
  retentionDays: number;
}

/** Which functions device traffic reaches, and as what. Every other Service gets no device-driven load. */
export const DEVICE_DRIVEN: Record<string, string> = {
  bridge: 'device requests',
  ingest: 'Pub/Sub pushes',
};

/**
 * Seconds from a scale-up decision until a new pod can be scheduled and its container
 * started, before the process's own start (measured): an image already on the node, a node
 * with room. Node autoscaling (a new GKE node takes a minute or more) is not modelled.
 */
export const PLATFORM_START_SECONDS = { gke: 3, 'cloud-run': 1 } as const;
/**
 * Rows/s per Cloud SQL vCPU above which the plan warns. Cloud SQL's CPU is not simulated:
 * this is a quarter of the ~45k rows/s per core that batched 500-row INSERTs reached on
 * PostgreSQL 15 on the project's own machines, leaving room for device_state, indexes, WAL,
 * vacuum and replication.
 */
export const SQL_ROWS_PER_VCPU = 10_000;
/** The simulation starts this long before midnight so that the day begins in a settled state. */
const WARM_UP_SECONDS = 3600;
/** A latency shown for a function that has no measurement and no device-driven load. */
const UNMEASURED_LATENCY_SECONDS = 0.05;

export interface FunctionPlan {
  name: string;
  drivenBy: string;
  settings: KpaSettings & { targetValue: number };
  measured: {
    source: string;
    /** Requests/s one instance serves with `targetValue` in flight (the capacity KPA aims at). */
    capacityAtTarget: number;
    /** Requests/s one instance serves at containerConcurrency (beyond it requests wait). */
    podCapacity: number;
    /** Little's law at the target: targetValue / capacityAtTarget. */
    latencyMs: number;
    coldStartMs: number;
  };
  requestsPerSecond: { mean: number; peak: number };
  instances: {
    peak: number;
    mean: number;
    /** ceil(peak rate / capacity at target): the count a steady peak needs, computed directly. */
    directAtPeak: number;
  };
  maxScale: number;
  /** max-scale kept the autoscaler below what it wanted while every allowed pod served and requests waited. */
  capped: boolean;
  cappedSeconds: number;
  /** The most pods the autoscaler asked for before max-scale. */
  wantedPeak: number;
  backlog: { max: number; endOfDay: number; secondsWithBacklog: number; where: string };
  /** Requests that waited past timeoutSeconds and failed (devices retry them later; not added back). */
  failedRequests: number;
  panicSeconds: number;
  podStarts: number;
  latencyMs: { mean: number; p99: number; max: number };
  billing: ServiceUsage['billing'];
  usage: ServiceUsage;
  notes: string[];
}

export interface Plan {
  inputs: Omit<PlanOptions, 'profile'> & { profile: string; target: string };
  traffic: {
    messagesPerSecond: { mean: number; peak: number };
    readingsPerSecond: { mean: number; peak: number };
    messagesPerDay: number;
    readingsPerDay: number;
  };
  functions: FunctionPlan[];
  database: {
    tier: SqlTier;
    reservedConnections: number;
    perFunction: { name: string; poolMax: number; peakInstances: number; connections: number; budget: number | null }[];
    peakConnections: number;
    /** Σ pool × max-scale: what the manifests allow at most; null when a function has no max-scale. */
    budgetConnections: number | null;
    fits: boolean;
    suggestedTier: SqlTier | null;
    /** Σ pool × the instances a steady peak needs (max-scale raised where it caps): what serving the whole load would take. */
    connectionsToServePeak: number;
    tierToServePeak: SqlTier;
    writeRowsPerSecond: { mean: number; peak: number };
    bytesPerReading: number;
    retentionDays: number;
    storageGib: number;
  };
  pubsub: { messagesPerDay: number; bytesPerMessage: number; gibPerDay: number; billedGibPerMonth: number; maxBacklogMessages: number };
  bigquery: {
    rowsPerSecond: { mean: number; peak: number };
    rowsPerDay: number;
    bytesPerRow: number;
    streamingBilledGibPerMonth: number;
    storageGibAfterYear: { active: number; longTerm: number };
  };
  cost: CostEstimate;
  series: { stepSeconds: number; messagesPerSecond: number[]; functions: Record<string, { instances: number[]; latencyMs: number[]; backlog: number[] }> };
  warnings: string[];
  assumptions: string[];
  sources: Omit<PlanInputs['sources'], 'prices'> & { priceTable: string; prices: string[]; pricesTakenOn: string };
}

/** Requests/s one instance serves with `concurrency` in flight: linear from the origin through the measured points, flat after the last. */
export function throughputAt(curve: CurvePoint[], concurrency: number): number {
  if (curve.length === 0) return Number.POSITIVE_INFINITY;
  let previous: CurvePoint = { concurrency: 0, perSecond: 0 };
  for (const point of curve) {
    if (concurrency <= point.concurrency) {
      const span = point.concurrency - previous.concurrency;
      return span === 0 ? point.perSecond : previous.perSecond + ((point.perSecond - previous.perSecond) * (concurrency - previous.concurrency)) / span;
    }
    previous = point;
  }
  return previous.perSecond;
}

/** A function's measured curve in requests of this plan's size, on this manifest's CPU. */
function requestCurve(measured: MeasuredThroughput, readingsPerMessage: number, cpuLimit: number): CurvePoint[] {
  // The benchmarks ran each server on one core; a Node.js process uses at most one.
  const cpu = Math.min(1, cpuLimit);
  // Ingest's work grows with the readings a push carries; the bridge's per-request cost is taken as fixed.
  const perRequest = measured.unit === 'readings' ? measured.readingsPerRequest / readingsPerMessage : 1;
  return measured.curve.map((p) => ({ concurrency: p.concurrency, perSecond: p.perSecond * perRequest * cpu }));
}

function workloadOf(spec: ServiceSpec, inputs: PlanInputs, options: PlanOptions, rate: (t: number) => number) {
  const measured = inputs.throughput[spec.name];
  const drivenBy = DEVICE_DRIVEN[spec.name];
  if (drivenBy && !measured) throw new Error(`no measured throughput for ${spec.name} in bench/results (run npm run bench)`);
  const coldStartMs = inputs.coldStartMs[spec.name] ?? Math.max(0, ...Object.values(inputs.coldStartMs));
  const tv = targetValue(spec.kpa);
  let capacityAtTarget: number;
  let podCapacity: number;
  let latency: number;
  if (measured) {
    const curve = requestCurve(measured, options.readingsPerMessage, spec.cpuLimit);
    const last = curve.at(-1)!;
    podCapacity = throughputAt(curve, spec.kpa.containerConcurrency > 0 ? spec.kpa.containerConcurrency : last.concurrency);
    if (spec.kpa.metric === 'rps') {
      capacityAtTarget = Math.min(tv, podCapacity);
      latency = curve[0]!.concurrency / curve[0]!.perSecond;
    } else {
      capacityAtTarget = throughputAt(curve, tv);
      latency = tv / capacityAtTarget;
    }
  } else {
    latency = UNMEASURED_LATENCY_SECONDS;
    capacityAtTarget = spec.kpa.metric === 'rps' ? tv : tv / latency;
    podCapacity = Number.POSITIVE_INFINITY;
  }
  const workload: Workload = { rate, latency, podCapacity, coldStart: PLATFORM_START_SECONDS[inputs.target] + coldStartMs / 1000 };
  // A device gives up after the revision's timeout (Cloud Run queues for at most 60 s, then
  // answers 429); Pub/Sub keeps what it could not deliver.
  if (drivenBy === 'device requests') workload.maxWait = inputs.target === 'cloud-run' ? Math.min(spec.timeoutSeconds, 60) : spec.timeoutSeconds;
  return { workload, capacityAtTarget, coldStartMs, source: measured?.source ?? 'not measured (no device-driven load)' };
}

/** Per-minute reductions of a per-second series over the reported day. */
function perMinute(values: Float64Array, offset: number, reduce: 'mean' | 'max'): number[] {
  const out: number[] = [];
  for (let m = 0; m < DAY_SECONDS / 60; m += 1) {
    let acc = 0;
    for (let s = 0; s < 60; s += 1) {
      const v = values[offset + m * 60 + s]!;
      acc = reduce === 'max' ? Math.max(acc, v) : acc + v / 60;
    }
    out.push(acc);
  }
  return out;
}

function summarise(sim: SimulationResult, spec: ServiceSpec, offset: number) {
  let peak = 0,
    podSeconds = 0,
    busy = 0,
    requests = 0,
    panic = 0,
    backlogMax = 0,
    backlogSeconds = 0,
    latencySum = 0,
    latencyMax = 0,
    unboundedMax = 0;
  const weighted: [number, number][] = [];
  let starts = 0;
  let cappedSeconds = 0;
  let dropped = 0;
  for (let i = offset; i < offset + DAY_SECONDS; i += 1) {
    // Capped: every pod max-scale allows is serving, the autoscaler wants more, and requests wait.
    if (spec.kpa.maxScale > 0 && sim.ready[i]! >= spec.kpa.maxScale && sim.unbounded[i]! > spec.kpa.maxScale && sim.backlog[i]! > 0.5) cappedSeconds += 1;
    const pods = sim.pods[i]!;
    peak = Math.max(peak, pods);
    podSeconds += pods;
    busy += Math.min(pods, sim.concurrency[i]!);
    requests += sim.arrivals[i]!;
    dropped += sim.dropped[i]!;
    panic += sim.panic[i]!;
    backlogMax = Math.max(backlogMax, sim.backlog[i]!);
    if (sim.backlog[i]! > 0.5) backlogSeconds += 1;
    unboundedMax = Math.max(unboundedMax, sim.unbounded[i]!);
    if (i > 0 && pods > sim.pods[i - 1]!) starts += pods - sim.pods[i - 1]!;
    if (sim.arrivals[i]! > 0) {
      latencySum += sim.latency[i]! * sim.arrivals[i]!;
      latencyMax = Math.max(latencyMax, sim.latency[i]!);
      weighted.push([sim.latency[i]!, sim.arrivals[i]!]);
    }
  }
  weighted.sort((a, b) => a[0] - b[0]);
  let p99 = 0;
  let seen = 0;
  for (const [latency, weight] of weighted) {
    seen += weight;
    if (seen >= 0.99 * requests) {
      p99 = latency;
      break;
    }
  }
  return {
    peak,
    mean: podSeconds / DAY_SECONDS,
    podSeconds,
    busy,
    requests,
    panic,
    backlogMax,
    backlogSeconds,
    starts,
    cappedSeconds,
    unboundedMax,
    dropped,
    endBacklog: sim.backlog[offset + DAY_SECONDS - 1]!,
    latency: { mean: requests > 0 ? latencySum / requests : sim.latency[offset]!, p99, max: latencyMax },
  };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function buildPlan(inputs: PlanInputs, options: PlanOptions): Plan {
  const messagesMean = options.devices / options.interval;
  let profilePeak = 0;
  for (let t = 0; t < DAY_SECONDS; t += 1) profilePeak = Math.max(profilePeak, options.profile.at(t));
  const messageRate = (t: number) => messagesMean * options.profile.at(((t % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS);
  const functions: FunctionPlan[] = [];
  const series: Plan['series']['functions'] = {};
  for (const spec of [...inputs.services].sort((a, b) => a.name.localeCompare(b.name))) {
    const drivenBy = DEVICE_DRIVEN[spec.name];
    const rate = drivenBy ? messageRate : () => 0;
    const { workload, capacityAtTarget, coldStartMs, source } = workloadOf(spec, inputs, options, rate);
    const sim = simulateKpa(spec.kpa, workload, -WARM_UP_SECONDS, DAY_SECONDS);
    const s = summarise(sim, spec, WARM_UP_SECONDS);
    const peakRate = drivenBy ? messagesMean * profilePeak : 0;
    const usage: ServiceUsage = {
      name: spec.name,
      billing: spec.billing,
      vcpu: spec.cpuLimit,
      memoryGib: spec.memoryLimitGib,
      vcpuRequest: spec.cpuRequest,
      memoryRequestGib: spec.memoryRequestGib,
      instanceSeconds: s.podSeconds,
      busyInstanceSeconds: s.busy,
      requests: s.requests,
    };
    functions.push({
      name: spec.name,
      drivenBy: drivenBy ?? 'none (no device-driven load)',
      settings: { ...spec.kpa, targetValue: targetValue(spec.kpa) },
      measured: {
        source,
        capacityAtTarget: round(capacityAtTarget, 1),
        podCapacity: round(workload.podCapacity, 1),
        latencyMs: round(workload.latency * 1000, 2),
        coldStartMs: round(workload.coldStart * 1000, 0),
      },
      requestsPerSecond: { mean: round(drivenBy ? messagesMean : 0), peak: round(peakRate) },
      instances: { peak: s.peak, mean: round(s.mean), directAtPeak: peakRate > 0 ? Math.ceil(peakRate / capacityAtTarget) : 0 },
      maxScale: spec.kpa.maxScale,
      capped: s.cappedSeconds > 0,
      cappedSeconds: s.cappedSeconds,
      wantedPeak: s.unboundedMax,
      backlog: {
        max: Math.round(s.backlogMax),
        endOfDay: Math.round(s.endBacklog),
        secondsWithBacklog: s.backlogSeconds,
        where: drivenBy === 'device requests' ? 'devices waiting' : 'Pub/Sub backlog',
      },
      failedRequests: Math.round(s.dropped),
      panicSeconds: s.panic,
      podStarts: s.starts,
      latencyMs: { mean: round(s.latency.mean * 1000, 1), p99: round(s.latency.p99 * 1000, 1), max: round(s.latency.max * 1000, 1) },
      billing: spec.billing,
      usage,
      notes: [
        ...spec.notes,
        ...(inputs.coldStartMs[spec.name] === undefined ? [`no measured cold start: the slowest measured one (${coldStartMs} ms) used`] : []),
      ],
    });
    series[spec.name] = {
      instances: perMinute(sim.pods, WARM_UP_SECONDS, 'mean').map((v) => round(v)),
      latencyMs: perMinute(sim.latency, WARM_UP_SECONDS, 'max').map((v) => round(v * 1000, 1)),
      backlog: perMinute(sim.backlog, WARM_UP_SECONDS, 'max').map((v) => Math.round(v)),
    };
  }

  const readingsMean = messagesMean * options.readingsPerMessage;
  const readingsPerDay = readingsMean * DAY_SECONDS;
  const prices = inputs.prices;
  // Cloud SQL: every instance of every function holds up to its pool.
  const perFunction = inputs.services
    .map((spec) => {
      const f = functions.find((x) => x.name === spec.name)!;
      return {
        name: spec.name,
        poolMax: spec.poolMax,
        peakInstances: f.instances.peak,
        connections: spec.poolMax * f.instances.peak,
        budget: spec.kpa.maxScale > 0 ? spec.poolMax * spec.kpa.maxScale : null,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const peakConnections = perFunction.reduce((sum, f) => sum + f.connections, 0);
  const budgetConnections = perFunction.some((f) => f.budget === null) ? null : perFunction.reduce((sum, f) => sum + (f.budget ?? 0), 0);
  const tier = [...prices.cloudSql.tiers].sort((a, b) => a.maxConnections - b.maxConnections)[0]!;
  const needed = Math.max(peakConnections, budgetConnections ?? 0);
  const fits = needed <= tier.maxConnections - prices.cloudSql.reservedConnections;
  const connectionsToServePeak = inputs.services.reduce((sum, spec) => {
    const f = functions.find((x) => x.name === spec.name)!;
    return sum + spec.poolMax * Math.max(f.instances.peak, f.instances.directAtPeak);
  }, 0);
  const bytesPerReading = estimatePostgresReadingBytes(inputs.readingColumns, options.metrics);
  const deviceStateBytes = 200;
  const storageGib = (readingsPerDay * bytesPerReading * options.retentionDays + options.devices * deviceStateBytes) / 1024 ** 3;

  const bytesPerMessage = estimateMessageBytes(options.readingsPerMessage, options.metrics);
  const messagesPerDay = messagesMean * DAY_SECONDS;
  const days = prices.hoursPerMonth / 24;
  const pubsubBilledPerDay = pubsubBilledBytes(prices, messagesPerDay, bytesPerMessage);
  const bytesPerRow = estimateBigQueryRowBytes(inputs.bigqueryFields);
  const rowsPerDay = readingsPerDay * options.metrics;
  const streamingPerDay = bigqueryStreamingBilledBytes(prices, rowsPerDay, bytesPerRow);
  // After a year without partition expiry: the last 90 days active, the rest long-term.
  const dailyGib = (rowsPerDay * bytesPerRow) / 1024 ** 3;
  const storageGibAfterYear = { active: dailyGib * 90, longTerm: dailyGib * (365 - 90) };
  const cost = estimateMonthlyCost(
    prices,
    inputs.target,
    functions.map((f) => f.usage),
    {
      pubsubBilledBytes: pubsubBilledPerDay,
      bigqueryStreamingBilledBytes: streamingPerDay,
      bigqueryActiveGib: storageGibAfterYear.active,
      bigqueryLongTermGib: storageGibAfterYear.longTerm,
      sqlTier: fits ? tier : pickSqlTier(prices, needed),
      sqlStorageGib: Math.max(10, Math.ceil(storageGib * 1.2)),
    },
  );

  const warnings: string[] = [];
  for (const f of functions) {
    const n = (v: number) => Math.round(v).toLocaleString('en-US');
    if (f.capped)
      warnings.push(
        `${f.name}: max-scale ${f.maxScale} caps throughput for ${n(f.cappedSeconds)} s; a steady peak needs ${f.instances.directAtPeak} instances; up to ${n(f.backlog.max)} requests waited (${f.backlog.where}).`,
      );
    if (f.failedRequests > 0)
      warnings.push(
        `${f.name}: ${n(f.failedRequests)} requests waited longer than timeoutSeconds and failed (devices retry them, adding load this plan does not count).`,
      );
    if (f.backlog.endOfDay > 0 && f.drivenBy !== 'device requests')
      warnings.push(
        `${f.name}: ${n(f.backlog.endOfDay)} messages still undelivered at midnight: capacity is below the day's volume and the backlog grows every day (Pub/Sub keeps them 7 days by default).`,
      );
    for (const note of f.notes) warnings.push(`${f.name}: ${note}`);
  }
  if (!fits)
    warnings.push(
      `Cloud SQL: ${needed} connections needed, ${tier.name} allows ${tier.maxConnections - prices.cloudSql.reservedConnections}; lower PG_POOL_MAX or max-scale, or use a larger tier (costed: ${pickSqlTier(prices, needed).name}).`,
    );
  const sqlTier = fits ? tier : pickSqlTier(prices, needed);
  if (readingsMean * profilePeak > SQL_ROWS_PER_VCPU * sqlTier.vcpu) {
    warnings.push(
      `Cloud SQL: ${Math.round(readingsMean * profilePeak).toLocaleString('en-US')} readings/s at peak is beyond ${SQL_ROWS_PER_VCPU.toLocaleString('en-US')} rows/s per vCPU of ${sqlTier.name}; the database's CPU is not simulated: load-test a larger tier.`,
    );
  }
  return {
    warnings,
    inputs: {
      devices: options.devices,
      interval: options.interval,
      readingsPerMessage: options.readingsPerMessage,
      metrics: options.metrics,
      profile: options.profile.name,
      target: inputs.target,
      retentionDays: options.retentionDays,
    },
    traffic: {
      messagesPerSecond: { mean: round(messagesMean), peak: round(messagesMean * profilePeak) },
      readingsPerSecond: { mean: round(readingsMean), peak: round(readingsMean * profilePeak) },
      messagesPerDay: Math.round(messagesPerDay),
      readingsPerDay: Math.round(readingsPerDay),
    },
    functions,
    database: {
      tier,
      reservedConnections: prices.cloudSql.reservedConnections,
      perFunction,
      peakConnections,
      budgetConnections,
      fits,
      suggestedTier: fits ? null : pickSqlTier(prices, needed),
      connectionsToServePeak,
      tierToServePeak: pickSqlTier(prices, connectionsToServePeak),
      writeRowsPerSecond: { mean: round(readingsMean), peak: round(readingsMean * profilePeak) },
      bytesPerReading,
      retentionDays: options.retentionDays,
      storageGib: round(storageGib, 1),
    },
    pubsub: {
      messagesPerDay: Math.round(messagesPerDay),
      bytesPerMessage,
      gibPerDay: round((messagesPerDay * bytesPerMessage) / 1024 ** 3, 2),
      billedGibPerMonth: round((pubsubBilledPerDay * days) / 1024 ** 3, 1),
      maxBacklogMessages: Math.max(0, ...functions.filter((f) => f.name !== 'bridge').map((f) => f.backlog.max)),
    },
    bigquery: {
      rowsPerSecond: { mean: round(readingsMean * options.metrics), peak: round(readingsMean * options.metrics * profilePeak) },
      rowsPerDay: Math.round(rowsPerDay),
      bytesPerRow,
      streamingBilledGibPerMonth: round((streamingPerDay * days) / 1024 ** 3, 1),
      storageGibAfterYear: { active: round(storageGibAfterYear.active, 1), longTerm: round(storageGibAfterYear.longTerm, 1) },
    },
    cost,
    series: {
      stepSeconds: 60,
      messagesPerSecond: Array.from({ length: DAY_SECONDS / 60 }, (_, m) => round(messageRate(m * 60 + 30))),
      functions: series,
    },
    assumptions: [
      `One message per device every ${options.interval} s carrying ${options.readingsPerMessage} reading(s) of ${options.metrics} metric(s); the ${options.profile.name} profile shapes the day (mean = 1).`,
      "Per-instance throughput is the committed benchmark figure on one core (bench/results), scaled by the manifest CPU limit up to 1; latency in a pod follows Little's law at the target concurrency.",
      `A new pod serves ${PLATFORM_START_SECONDS[inputs.target]} s (scheduling, image present) plus the measured process cold start after the decision.`,
      'Only bridge and ingest carry device traffic; other Services (registry, deadletter, readings, ...) are simulated with no load.',
      `PostgreSQL bytes per reading are estimated from the readings table definition (${bytesPerReading} B with ${options.metrics} metric(s), indexes included); BigQuery bytes per row from the measurements schema (${bytesPerRow} B).`,
      'Costs are list prices without free tiers or discounts; BigQuery storage is priced as held after a year without partition expiry.',
    ],
    sources: { ...inputs.sources, priceTable: inputs.sources.prices, prices: cost.sources, pricesTakenOn: prices.takenOn },
  };
}
