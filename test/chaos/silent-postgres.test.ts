/**
 * A silent PostgreSQL under load: for a few seconds the database keeps every connection open
 * but answers nothing (a failover behind a load balancer, a dropped NAT mapping), then comes
 * back, while the connections that were open stay dead. Against `npm start` with its default
 * deadlines: nothing wedges, /healthz of ingest fails while it cannot make progress, every
 * reading the bridge accepted is stored exactly once, and the recovery is measured.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHAOS_ADMIN_TOKEN, startProxiedStack, type ProxiedStack } from '../support/proxied-stack.ts';
import { waitFor } from '../support/net.ts';
import { type StackProcess, stopStack, warehouseRowsVia } from '../support/stack-process.ts';
import { eventMsOf, isClean, pause, printFigures, registerDevices, settle, startDeviceLoad } from '../support/device-load.ts';

const SILENT_MS = 5_000;

let chaos: ProxiedStack;
let stack: StackProcess;

beforeAll(async () => {
  chaos = await startProxiedStack('chaos-silent-pg-');
  stack = chaos.stack;
});

afterAll(async () => {
  await stopStack(stack, 'SIGKILL');
  await chaos?.close();
});

it(`a PostgreSQL silent for ${SILENT_MS / 1000} s, then back, loses and duplicates nothing`, async () => {
  const devices = await registerDevices(stack, CHAOS_ADMIN_TOKEN, 'silent-pg', 6);
  const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
  const ingestHealth = async () => (await fetch(`${stack.state.urls.ingest}/healthz`, { signal: AbortSignal.timeout(2_000) })).status;
  await pause(3_000);
  expect(await ingestHealth()).toBe(200);

  chaos.proxy.silence();
  const silencedAt = Date.now();
  // /healthz says so once a call has hit its deadline (the 12 s query deadline at most); the
  // silence lasts SILENT_MS, or until then if that is later.
  await waitFor(async () => (await ingestHealth()) === 503, { timeoutMs: 30_000, intervalMs: 250, what: 'ingest /healthz to fail while PostgreSQL is silent' });
  const unhealthyAfterMs = Date.now() - silencedAt;
  await pause(Math.max(0, SILENT_MS - (Date.now() - silencedAt)));
  await chaos.proxy.restore();
  const restoredAt = Date.now();

  // Recovery: a reading accepted after the database returned is stored in PostgreSQL.
  const probe = devices[0] as (typeof devices)[number];
  // Past every seq the load sends, so that it is the device's newest reading (and not in the future).
  const probeSeq = 50_000;
  // Sent as a device does: again after a 503 (connections held before are still being discarded).
  await waitFor(
    async () => {
      const response = await fetch(`${stack.state.urls.bridge}/v1/devices/${probe.deviceId}/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${probe.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ts: eventMsOf(probeSeq), seq: probeSeq, metrics: { temperature: 1, humidity: 1 } }),
        signal: AbortSignal.timeout(20_000),
      });
      if (response.status !== 202 && response.status < 500) throw new Error(`the bridge refused the probe: ${response.status} ${await response.text()}`);
      return response.status === 202;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'the bridge to accept a reading after the database returned' },
  );
  load.accepted.get(probe.deviceId)?.push(probeSeq);
  await waitFor(async () => (await chaos.tdb.db.query('SELECT 1 FROM readings WHERE device_id = $1 AND seq = $2', [probe.deviceId, probeSeq])).rowCount === 1, {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: 'a reading sent after the database returned to be stored',
  });
  const newReadingStoredMs = Date.now() - restoredAt;
  await waitFor(async () => (await ingestHealth()) === 200, { timeoutMs: 60_000, intervalMs: 100, what: 'ingest /healthz to recover' });
  const healthyAgainMs = Date.now() - restoredAt;

  await pause(2_000);
  await load.stop();
  const { report, settleMs } = await settle(chaos.tdb.db, warehouseRowsVia(chaos.env.DATA_DIR as string), load.accepted);
  printFigures(`PostgreSQL silent ${SILENT_MS / 1000} s (TCP proxy forwards nothing, connections kept open)`, {
    ...report,
    statuses: Object.fromEntries(load.statuses),
    silentForMs: restoredAt - silencedAt,
    unhealthyAfterMs,
    newReadingStoredMs,
    healthyAgainMs,
    settleMs,
  });
  expect(isClean(report), JSON.stringify(report)).toBe(true);
  expect(report.accepted).toBeGreaterThan(100);
});
