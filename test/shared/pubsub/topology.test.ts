/**
 * shared/pubsub/topology.ts: one topology, a delivery policy per environment within what
 * Pub/Sub accepts, and the docs that describe the policies kept in step with it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.ts';
import { LOCAL_DELIVERY, PRODUCTION_DELIVERY, pubsubTopology, type DeliveryPolicy } from '../../../shared/pubsub/topology.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/** A document with its line breaks and runs of spaces as single spaces. */
const doc = (file: string) => readFileSync(path.join(ROOT, file), 'utf8').replace(/\s+/g, ' ');

const seconds = (ms: number) => `${ms / 1000} s`;
/** Nominal waits between attempts, in seconds. */
const waits = (d: DeliveryPolicy) => Array.from({ length: d.maxDeliveryAttempts - 1 }, (_, i) => Math.min(d.maxBackoffMs, d.minBackoffMs * 2 ** i) / 1000);
const totalSeconds = (d: DeliveryPolicy) => waits(d).reduce((a, b) => a + b, 0);
const minutes = (d: DeliveryPolicy) => Math.floor(totalSeconds(d) / 60);

describe('Pub/Sub topology', () => {
  it('keeps both delivery policies within what Pub/Sub accepts', () => {
    for (const d of [PRODUCTION_DELIVERY, LOCAL_DELIVERY]) {
      expect(d.ackDeadlineSeconds).toBeGreaterThanOrEqual(10);
      expect(d.ackDeadlineSeconds).toBeLessThanOrEqual(600);
      expect(d.minBackoffMs).toBeGreaterThanOrEqual(0);
      expect(d.minBackoffMs).toBeLessThanOrEqual(d.maxBackoffMs);
      expect(d.maxBackoffMs).toBeLessThanOrEqual(600_000);
      expect(d.maxDeliveryAttempts).toBeGreaterThanOrEqual(5);
      expect(d.maxDeliveryAttempts).toBeLessThanOrEqual(100);
    }
  });

  it('names the same topics and subscriptions in every environment; only delivery differs', () => {
    const config = loadConfig({ TELEMETRY_TOPIC: 'tele', DEAD_LETTER_TOPIC: 'dl-tele', STATE_TOPIC: 'states' });
    const local = pubsubTopology(config, 'local');
    const production = pubsubTopology(config, 'production');
    expect(local.topics).toEqual(production.topics);
    expect(local.subscriptions).toEqual(production.subscriptions);
    expect(production.subscriptions).toEqual([
      { name: 'tele-ingest', topic: 'tele', pushTo: 'ingest', deadLetterTopic: 'dl-tele' },
      { name: 'dl-tele-deadletter', topic: 'dl-tele', pushTo: 'deadletter' },
    ]);
    expect(Object.values(production.topics).map((t) => t.name)).toEqual(['tele', 'dl-tele', 'states']);
  });

  it('takes the local policy from the configuration, never the production one', () => {
    const config = loadConfig({ PUBSUB_MIN_BACKOFF_MS: '100', PUBSUB_MAX_BACKOFF_MS: '1000', PUBSUB_MAX_DELIVERY_ATTEMPTS: '5' });
    expect(pubsubTopology(config, 'local').delivery).toEqual({
      ackDeadlineSeconds: LOCAL_DELIVERY.ackDeadlineSeconds,
      minBackoffMs: 100,
      maxBackoffMs: 1000,
      maxDeliveryAttempts: 5,
    });
    expect(pubsubTopology(config, 'production').delivery).toEqual(PRODUCTION_DELIVERY);
    expect(pubsubTopology(loadConfig({}), 'local').delivery).toEqual(LOCAL_DELIVERY);
  });
});

describe('the docs describe the topology as defined', () => {
  const prod = PRODUCTION_DELIVERY;
  const local = LOCAL_DELIVERY;

  it('docs/reliability.md "Retry windows" has one row per environment, generated from the policies', () => {
    const rows = [
      `| Production push subscription (\`npm run wiring\`) | exponential, ${seconds(prod.minBackoffMs)} doubling to ${seconds(prod.maxBackoffMs)} | ${prod.maxDeliveryAttempts} | ~${minutes(prod)} min (${waits(prod).join('+')} s) |`,
      `| Local stack: in-process Pub/Sub, or the emulator's subscription | exponential with ±25 % jitter, ${seconds(local.minBackoffMs)} doubling to ${seconds(local.maxBackoffMs)} | ${local.maxDeliveryAttempts} | ~${minutes(local)} min (at least ${Math.floor((0.75 * totalSeconds(local)) / 6) / 10} min with jitter) |`,
    ];
    for (const row of rows) expect(doc('docs/reliability.md')).toContain(row);
  });

  it('docs/architecture.md, docs/deploy.md and the README quote the same numbers', () => {
    expect(doc('docs/architecture.md')).toContain(
      `ack deadline ${prod.ackDeadlineSeconds} s; retry backoff ${seconds(prod.minBackoffMs)} to ${seconds(prod.maxBackoffMs)}; dead-letter topic \`telemetry-dead-letter\` after ${prod.maxDeliveryAttempts} delivery attempts (about ${minutes(prod)} minutes)`,
    );
    expect(doc('docs/architecture.md')).toContain(
      `from ${seconds(local.minBackoffMs)} doubling to ${seconds(local.maxBackoffMs)} over ${local.maxDeliveryAttempts} attempts (about ${minutes(local)} minutes`,
    );
    expect(doc('docs/deploy.md')).toContain(
      `ack deadline ${prod.ackDeadlineSeconds} s, retry backoff ${seconds(prod.minBackoffMs)} to ${seconds(prod.maxBackoffMs)}, dead-letter topic after ${prod.maxDeliveryAttempts} attempts, about ${minutes(prod)} minutes`,
    );
    expect(doc('README.md')).toContain(
      `(${seconds(local.minBackoffMs)} doubling to ${seconds(local.maxBackoffMs)}), and after ${local.maxDeliveryAttempts} attempts (about ${minutes(local)} minutes`,
    );
  });
});
