/**
 * The bridge losing Pub/Sub for a few seconds: `npm start` against the official emulator
 * reached through a TCP proxy, under device load; the proxy is cut for 8 s, longer than the
 * publisher's 5 s bound, so publishes in that window fail (a shorter cut is ridden out by the
 * client's own retries). Devices hear 503 and retry; afterwards every reading that got a 202
 * is stored once in both stores.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { CHAOS_ADMIN_TOKEN, startProxiedStack, type ProxiedStack } from '../support/proxied-stack.ts';
import { type StackProcess, stopStack, warehouseRowsVia } from '../support/stack-process.ts';
import { isClean, pause, printFigures, registerDevices, settle, startDeviceLoad } from '../support/device-load.ts';

let chaos: ProxiedStack;
let stack: StackProcess;

beforeAll(async () => {
  const [host = '127.0.0.1', port = '8085'] = inject('pubsubEmulatorHost').split(':');
  const emulator = { host, port: Number(port) };
  chaos = await startProxiedStack('chaos-pubsub-', {
    target: emulator,
    env: (proxied) => {
      const suffix = Math.random().toString(36).slice(2, 8);
      return {
        PUBSUB_EMULATOR_HOST: proxied,
        GOOGLE_CLOUD_PROJECT: `chaos-${suffix}`,
        TELEMETRY_TOPIC: `telemetry-${suffix}`,
        DEAD_LETTER_TOPIC: `dead-${suffix}`,
      };
    },
  });
  stack = chaos.stack;
});

afterAll(async () => {
  await stopStack(stack);
  await chaos?.close();
});

it('the bridge losing Pub/Sub for 8 s: devices get 503 and retry; nothing accepted is lost or duplicated', async () => {
  const devices = await registerDevices(stack, CHAOS_ADMIN_TOKEN, 'no-pubsub', 6);
  const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices, retryDelayMs: 500 });
  await pause(3_000);
  const before = load.acceptedTotal();
  await chaos.proxy.cut();
  await pause(8_000);
  await chaos.proxy.restore();
  const restoredAt = Date.now();
  // Recovered once devices are accepted again.
  const resumed = load.acceptedTotal();
  for (let i = 0; i < 300 && load.acceptedTotal() === resumed; i++) await pause(100);
  const recoveryMs = Date.now() - restoredAt;
  await pause(3_000);
  await load.stop();
  const { report, settleMs } = await settle(chaos.tdb.db, warehouseRowsVia(chaos.env.DATA_DIR as string), load.accepted);
  const statuses = Object.fromEntries(load.statuses);
  printFigures('bridge loses Pub/Sub for 8 s (emulator behind a TCP proxy)', { ...report, statuses, acceptedBeforeCut: before, recoveryMs, settleMs });
  expect(statuses['503'] ?? 0).toBeGreaterThan(0);
  expect(load.acceptedTotal()).toBeGreaterThan(resumed);
  expect(isClean(report), JSON.stringify(report)).toBe(true);
});
