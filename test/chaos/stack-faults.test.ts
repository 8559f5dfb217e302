/**
 * Faults against the real `npm start` process (in-process Pub/Sub with its durable log,
 * PostgreSQL through a TCP proxy, DuckDB), under sustained device load through the bridge,
 * one at a time: a PostgreSQL outage, kill -9 of the process mid-batch, SIGTERM mid-load.
 * After each: every reading the bridge accepted is in both stores exactly once and
 * device_state is each device's newest reading.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAOS_ADMIN_TOKEN, startProxiedStack, type ProxiedStack } from '../support/proxied-stack.ts';
import { type StackProcess, startStackProcess, stopStack, warehouseRowsVia } from '../support/stack-process.ts';
import { isClean, pause, printFigures, registerDevices, settle, startDeviceLoad } from '../support/device-load.ts';

let chaos: ProxiedStack;
let stack: StackProcess;

beforeAll(async () => {
  chaos = await startProxiedStack('chaos-stack-');
  stack = chaos.stack;
});

afterAll(async () => {
  await stopStack(stack, 'SIGKILL');
  await chaos?.close();
});

const createDevices = (prefix: string, n: number) => registerDevices(stack, CHAOS_ADMIN_TOKEN, prefix, n);
const settleStores = (accepted: Map<string, number[]>) => settle(chaos.tdb.db, warehouseRowsVia(chaos.env.DATA_DIR as string), accepted);

describe('npm start under faults', () => {
  it('a PostgreSQL outage of 10 s loses and duplicates nothing', async () => {
    const devices = await createDevices('pg-outage', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
    await pause(3_000);
    await chaos.proxy.cut();
    await pause(10_000);
    await chaos.proxy.restore();
    const restoredAt = Date.now();
    await pause(3_000);
    await load.stop();
    const { report } = await settleStores(load.accepted);
    printFigures('PostgreSQL outage 10 s (TCP proxy)', { ...report, statuses: Object.fromEntries(load.statuses), recoveryMs: Date.now() - restoredAt });
    expect(report).toMatchObject({ lostPostgres: 0, lostWarehouse: 0, duplicatedPostgres: 0, duplicatedWarehouse: 0, stateMismatches: [] });
    expect(report.accepted).toBeGreaterThan(100);
  });

  it('kill -9 mid-batch, then a restart, loses and duplicates nothing', async () => {
    const devices = await createDevices('kill9', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
    await pause(3_000);
    stack.child.kill('SIGKILL');
    await stack.exited;
    const killedAt = Date.now();
    stack = await startStackProcess(chaos.env);
    const restartMs = Date.now() - killedAt;
    await pause(3_000);
    await load.stop();
    const { report, settleMs } = await settleStores(load.accepted);
    printFigures('kill -9 of the stack mid-batch, restart', {
      ...report,
      statuses: Object.fromEntries(load.statuses),
      restartMs,
      recoveryMs: restartMs + settleMs,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
    expect(report.accepted).toBeGreaterThan(100);
  });

  it('SIGTERM during load drains in-flight batches and exits 0; nothing half-written', async () => {
    const devices = await createDevices('sigterm', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
    await pause(3_000);
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
    const stoppedAt = Date.now();
    // Half-written would show here: readings without their state, or state counting rows that are not there.
    const totals = await chaos.tdb.db.query<{ readings: number; state: number }>(
      "SELECT (SELECT count(*) FROM readings WHERE device_id LIKE 'sigterm-%')::int AS readings, (SELECT coalesce(sum(readings_total), 0) FROM device_state WHERE device_id LIKE 'sigterm-%')::int AS state",
    );
    expect(totals.rows[0]?.readings).toBe(totals.rows[0]?.state);
    stack = await startStackProcess(chaos.env);
    await pause(2_000);
    await load.stop();
    const { report, settleMs } = await settleStores(load.accepted);
    printFigures('SIGTERM during load (scale-down), restart', {
      ...report,
      statuses: Object.fromEntries(load.statuses),
      recoveryMs: Date.now() - stoppedAt - 2_000,
      settleMs,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
  });
});
