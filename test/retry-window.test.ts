/**
 * How long a store may be down before a message is dead-lettered: locally (the in-process
 * Pub/Sub and the emulator wiring, from the configuration) and in production (the push
 * subscription `npm run wiring` creates). Both must outlast outages of several minutes.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { minRetryWindowMs } from '../local/pubsub/deliver.ts';
import { PRODUCTION_DELIVERY } from '../shared/pubsub/topology.ts';

describe('retry windows', () => {
  it('locally, the default policy keeps retrying for at least 10 minutes', () => {
    const { minBackoffMs, maxBackoffMs, maxDeliveryAttempts } = loadConfig({}).pubsubDelivery;
    expect(minRetryWindowMs(minBackoffMs, maxBackoffMs, maxDeliveryAttempts)).toBeGreaterThanOrEqual(10 * 60_000);
  });

  it('in production, the push subscription keeps retrying for at least 10 minutes', () => {
    // Pub/Sub's exponential backoff has no jitter below the configured minimum.
    const window = minRetryWindowMs(PRODUCTION_DELIVERY.minBackoffMs, PRODUCTION_DELIVERY.maxBackoffMs, PRODUCTION_DELIVERY.maxDeliveryAttempts) / 0.75;
    expect(window).toBeGreaterThanOrEqual(10 * 60_000);
  });

  it("is configurable, within Pub/Sub's bounds, and a bad value names its variable", () => {
    expect(loadConfig({ PUBSUB_MIN_BACKOFF_MS: '20', PUBSUB_MAX_BACKOFF_MS: '200', PUBSUB_MAX_DELIVERY_ATTEMPTS: '5' }).pubsubDelivery).toEqual({
      minBackoffMs: 20,
      maxBackoffMs: 200,
      maxDeliveryAttempts: 5,
    });
    expect(() => loadConfig({ PUBSUB_MAX_DELIVERY_ATTEMPTS: '4' })).toThrow(/PUBSUB_MAX_DELIVERY_ATTEMPTS=4/);
    expect(() => loadConfig({ PUBSUB_MAX_BACKOFF_MS: '601000' })).toThrow(/PUBSUB_MAX_BACKOFF_MS/);
  });
});
