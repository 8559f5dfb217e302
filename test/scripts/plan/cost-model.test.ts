/** The monthly estimate against hand-computed figures from the price table. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  PriceTableSchema,
  bigqueryStreamingBilledBytes,
  estimateMonthlyCost,
  pickSqlTier,
  pubsubBilledBytes,
  type DataUsage,
  type ServiceUsage,
} from '../../../scripts/plan/cost-model.ts';

const prices = PriceTableSchema.parse(JSON.parse(readFileSync(new URL('../../../scripts/plan/prices.json', import.meta.url), 'utf8')));
const DAYS = 730 / 24;

const service = (over: Partial<ServiceUsage>): ServiceUsage => ({
  name: 'svc',
  billing: 'instance-based',
  vcpu: 1,
  memoryGib: 0.5,
  vcpuRequest: 0.5,
  memoryRequestGib: 0.25,
  instanceSeconds: 86_400,
  busyInstanceSeconds: 43_200,
  requests: 1_000_000,
  ...over,
});
const data: DataUsage = {
  pubsubBilledBytes: 0,
  bigqueryStreamingBilledBytes: 0,
  bigqueryActiveGib: 0,
  bigqueryLongTermGib: 0,
  sqlTier: prices.cloudSql.tiers[0]!,
  sqlStorageGib: 0,
};
const line = (lines: { item: string; usd: number }[], item: string) => lines.find((l) => l.item === item)?.usd;

describe('the price table', () => {
  it('states its sources, date and currency', () => {
    expect(prices.takenOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const section of [prices.cloudRun, prices.gke, prices.pubsub, prices.bigquery, prices.cloudSql])
      expect(section.source).toMatch(/^https:\/\/cloud\.google\.com\//);
  });
});

describe('estimateMonthlyCost', () => {
  it('bills instance-based Cloud Run for the whole instance time, without a request fee', () => {
    const cost = estimateMonthlyCost(prices, 'cloud-run', [service({})], data);
    // One instance all month: 86,400 s × 30.42 days.
    expect(line(cost.lines, 'Cloud Run svc: CPU (instance-based)')).toBeCloseTo(86_400 * DAYS * 0.000018, 6);
    expect(line(cost.lines, 'Cloud Run svc: memory')).toBeCloseTo(86_400 * DAYS * 0.5 * 0.000002, 6);
    expect(line(cost.lines, 'Cloud Run svc: requests')).toBeUndefined();
  });

  it('bills request-based Cloud Run only while requests are served, plus requests', () => {
    const cost = estimateMonthlyCost(prices, 'cloud-run', [service({ billing: 'request-based' })], data);
    expect(line(cost.lines, 'Cloud Run svc: CPU (request-based)')).toBeCloseTo(43_200 * DAYS * 0.000024, 6);
    expect(line(cost.lines, 'Cloud Run svc: memory')).toBeCloseTo(43_200 * DAYS * 0.5 * 0.0000025, 6);
    expect(line(cost.lines, 'Cloud Run svc: requests')).toBeCloseTo(DAYS * 0.4, 6);
  });

  it('prices GKE pods by their requests and adds the cluster fee', () => {
    const cost = estimateMonthlyCost(prices, 'gke', [service({})], data);
    expect(line(cost.lines, 'GKE svc: pod requests')).toBeCloseTo(24 * DAYS * (0.5 * 0.021811 + 0.25 * 0.002923), 6);
    expect(line(cost.lines, 'GKE cluster management fee')).toBeCloseTo(73, 6);
    expect(cost.sources.some((s) => s.includes('run/pricing'))).toBe(false);
  });

  it('prices Pub/Sub, BigQuery and Cloud SQL, and sums every line', () => {
    const cost = estimateMonthlyCost(prices, 'gke', [], {
      pubsubBilledBytes: 1024 ** 4 / DAYS,
      bigqueryStreamingBilledBytes: 200e6 / DAYS,
      bigqueryActiveGib: 100,
      bigqueryLongTermGib: 1000,
      sqlTier: prices.cloudSql.tiers[0]!,
      sqlStorageGib: 10,
    });
    expect(line(cost.lines, 'Pub/Sub throughput (publish + push)')).toBeCloseTo(40, 6);
    expect(line(cost.lines, 'BigQuery streaming inserts')).toBeCloseTo(0.01, 6);
    expect(line(cost.lines, 'BigQuery storage, active')).toBeCloseTo(2, 6);
    expect(line(cost.lines, 'BigQuery storage, long-term')).toBeCloseTo(10, 6);
    expect(line(cost.lines, 'Cloud SQL db-custom-1-3840 (zonal)')).toBeCloseTo(730 * (0.0413 + 3.75 * 0.007), 6);
    expect(line(cost.lines, 'Cloud SQL SSD storage')).toBeCloseTo(1.7, 6);
    expect(cost.totalUsd).toBeCloseTo(
      cost.lines.reduce((s, l) => s + l.usd, 0),
      9,
    );
  });
});

describe('billable volumes', () => {
  it('Pub/Sub: batched publishes bill actual bytes, each push at least 1,000 bytes', () => {
    expect(pubsubBilledBytes(prices, 1000, 300)).toBe(1000 * 300 + 1000 * 1000);
    expect(pubsubBilledBytes(prices, 10, 5000)).toBe(2 * 10 * 5000);
  });

  it('BigQuery streaming: each row at least 1 KB', () => {
    expect(bigqueryStreamingBilledBytes(prices, 100, 144)).toBe(100 * 1024);
    expect(bigqueryStreamingBilledBytes(prices, 100, 2000)).toBe(100 * 2000);
  });

  it('picks the smallest Cloud SQL tier whose connection limit (less reserved) holds the need', () => {
    expect(pickSqlTier(prices, 97).name).toBe('db-custom-1-3840');
    expect(pickSqlTier(prices, 98).name).toBe('db-custom-2-7680');
    expect(pickSqlTier(prices, 100_000).name).toBe('db-custom-16-61440');
  });
});
