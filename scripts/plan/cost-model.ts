/**
 * A monthly cost estimate from a day of simulated usage and the price table in
 * scripts/plan/prices.json (list prices with their sources and the date they were taken).
 * Pure. An estimate, not a quote: free tiers, discounts, egress, logging and the Knative
 * control plane are left out (docs/capacity.md "Cost").
 * @see https://cloud.google.com/run/pricing
 * @see https://cloud.google.com/pubsub/pricing
 * @see https://cloud.google.com/bigquery/pricing
 * @see https://cloud.google.com/sql/pricing
 */
import { z } from 'zod';

const rate = z.number().nonnegative();
const withSource = { source: z.string().min(1), note: z.string().optional() };

export const PriceTableSchema = z.object({
  description: z.string(),
  currency: z.literal('USD'),
  region: z.string(),
  takenOn: z.iso.date(),
  hoursPerMonth: z.number().positive(),
  cloudRun: z.object({
    ...withSource,
    requestBased: z.object({ vcpuSecond: rate, gibSecond: rate, perMillionRequests: rate }),
    instanceBased: z.object({ vcpuSecond: rate, gibSecond: rate, perMillionRequests: rate }),
  }),
  gke: z.object({ ...withSource, vcpuHour: rate, gibHour: rate, clusterFeeHour: rate }),
  pubsub: z.object({ ...withSource, perTib: rate, minBytesPerRequest: rate }),
  bigquery: z.object({ ...withSource, streamingPer200Mb: rate, streamingMinRowBytes: rate, activeStorageGibMonth: rate, longTermStorageGibMonth: rate }),
  cloudSql: z.object({
    ...withSource,
    vcpuHour: rate,
    gibHour: rate,
    ssdGibMonth: rate,
    reservedConnections: z.number().int().nonnegative(),
    tiers: z
      .array(z.object({ name: z.string(), vcpu: z.number().positive(), memoryGib: z.number().positive(), maxConnections: z.number().int().positive() }))
      .min(1),
  }),
});
export type PriceTable = z.infer<typeof PriceTableSchema>;
export type SqlTier = PriceTable['cloudSql']['tiers'][number];

export type Billing = 'request-based' | 'instance-based';

/** One function's use over one simulated day. */
export interface ServiceUsage {
  name: string;
  billing: Billing;
  /** Limits: what Cloud Run allocates and bills per instance. */
  vcpu: number;
  memoryGib: number;
  /** Requests: what GKE schedules (and a node pays for). */
  vcpuRequest: number;
  memoryRequestGib: number;
  /** Σ instances (serving or starting) × seconds. */
  instanceSeconds: number;
  /** Σ min(instances, requests in flight) × seconds: the instance time a request is being served. */
  busyInstanceSeconds: number;
  requests: number;
}

export interface DataUsage {
  /** Pub/Sub bytes billed per day (publish + deliveries, with the per-request minimum). */
  pubsubBilledBytes: number;
  /** BigQuery insertAll bytes billed per day (each row at least the minimum). */
  bigqueryStreamingBilledBytes: number;
  /** BigQuery logical storage held in the month priced. */
  bigqueryActiveGib: number;
  bigqueryLongTermGib: number;
  sqlTier: SqlTier;
  sqlStorageGib: number;
}

export interface CostLine {
  item: string;
  quantity: number;
  unit: string;
  usd: number;
}

export interface CostEstimate {
  target: 'gke' | 'cloud-run';
  lines: CostLine[];
  totalUsd: number;
  daysPerMonth: number;
  pricesTakenOn: string;
  sources: string[];
}

const TIB = 1024 ** 4;
const MB = 1e6;

/** Scales one day of usage to a month (hoursPerMonth / 24 days, Google's 730-hour month) and prices it. */
export function estimateMonthlyCost(prices: PriceTable, target: 'gke' | 'cloud-run', services: ServiceUsage[], data: DataUsage): CostEstimate {
  const days = prices.hoursPerMonth / 24;
  const lines: CostLine[] = [];
  if (target === 'cloud-run') {
    for (const s of services) {
      const p = s.billing === 'instance-based' ? prices.cloudRun.instanceBased : prices.cloudRun.requestBased;
      // Request-based billing charges an instance only while it serves a request.
      const seconds = (s.billing === 'instance-based' ? s.instanceSeconds : s.busyInstanceSeconds) * days;
      lines.push({ item: `Cloud Run ${s.name}: CPU (${s.billing})`, quantity: seconds * s.vcpu, unit: 'vCPU-s', usd: seconds * s.vcpu * p.vcpuSecond });
      lines.push({ item: `Cloud Run ${s.name}: memory`, quantity: seconds * s.memoryGib, unit: 'GiB-s', usd: seconds * s.memoryGib * p.gibSecond });
      if (p.perMillionRequests > 0) {
        const requests = s.requests * days;
        lines.push({ item: `Cloud Run ${s.name}: requests`, quantity: requests, unit: 'requests', usd: (requests / 1e6) * p.perMillionRequests });
      }
    }
  } else {
    const hours = prices.hoursPerMonth;
    for (const s of services) {
      const podHours = (s.instanceSeconds * days) / 3600;
      lines.push({
        item: `GKE ${s.name}: pod requests`,
        quantity: podHours,
        unit: 'pod-hours',
        usd: podHours * (s.vcpuRequest * prices.gke.vcpuHour + s.memoryRequestGib * prices.gke.gibHour),
      });
    }
    lines.push({ item: 'GKE cluster management fee', quantity: hours, unit: 'hours', usd: hours * prices.gke.clusterFeeHour });
  }
  const pubsubBytes = data.pubsubBilledBytes * days;
  lines.push({ item: 'Pub/Sub throughput (publish + push)', quantity: pubsubBytes / TIB, unit: 'TiB', usd: (pubsubBytes / TIB) * prices.pubsub.perTib });
  const streamingBytes = data.bigqueryStreamingBilledBytes * days;
  lines.push({
    item: 'BigQuery streaming inserts',
    quantity: streamingBytes / MB / 200,
    unit: '200 MB',
    usd: (streamingBytes / MB / 200) * prices.bigquery.streamingPer200Mb,
  });
  lines.push({
    item: 'BigQuery storage, active',
    quantity: data.bigqueryActiveGib,
    unit: 'GiB-month',
    usd: data.bigqueryActiveGib * prices.bigquery.activeStorageGibMonth,
  });
  lines.push({
    item: 'BigQuery storage, long-term',
    quantity: data.bigqueryLongTermGib,
    unit: 'GiB-month',
    usd: data.bigqueryLongTermGib * prices.bigquery.longTermStorageGibMonth,
  });
  const tier = data.sqlTier;
  lines.push({
    item: `Cloud SQL ${tier.name} (zonal)`,
    quantity: prices.hoursPerMonth,
    unit: 'hours',
    usd: prices.hoursPerMonth * (tier.vcpu * prices.cloudSql.vcpuHour + tier.memoryGib * prices.cloudSql.gibHour),
  });
  lines.push({ item: 'Cloud SQL SSD storage', quantity: data.sqlStorageGib, unit: 'GiB-month', usd: data.sqlStorageGib * prices.cloudSql.ssdGibMonth });
  const sources = [prices.cloudRun.source, prices.gke.source, prices.pubsub.source, prices.bigquery.source, prices.cloudSql.source];
  return {
    target,
    lines,
    totalUsd: lines.reduce((sum, l) => sum + l.usd, 0),
    daysPerMonth: days,
    pricesTakenOn: prices.takenOn,
    sources: target === 'gke' ? sources.filter((s) => s !== prices.cloudRun.source) : sources.filter((s) => s !== prices.gke.source),
  };
}

/** Pub/Sub bytes billed for `messages` of `bytes` each: one batched publish (actual bytes) and one push per message (at least the per-request minimum). */
export function pubsubBilledBytes(prices: PriceTable, messages: number, bytes: number): number {
  return messages * bytes + messages * Math.max(bytes, prices.pubsub.minBytesPerRequest);
}

/** insertAll bytes billed for `rows` of `bytes` each. */
export function bigqueryStreamingBilledBytes(prices: PriceTable, rows: number, bytes: number): number {
  return rows * Math.max(bytes, prices.bigquery.streamingMinRowBytes);
}

/** The smallest tier in the table whose connection limit (less the reserved ones) holds `connections`, or the largest. */
export function pickSqlTier(prices: PriceTable, connections: number): SqlTier {
  const tiers = [...prices.cloudSql.tiers].sort((a, b) => a.maxConnections - b.maxConnections);
  return tiers.find((t) => t.maxConnections - prices.cloudSql.reservedConnections >= connections) ?? tiers.at(-1)!;
}
