/**
 * What every fault scenario against a running `npm start` needs: devices registered through
 * the registry, the warehouse rows read back through `npm run query`, and a wait until both
 * stores hold every accepted reading.
 */
import { expect } from 'vitest';
import type { Sql } from '../../../shared/db/database.ts';
import { waitFor } from '../../support/net.ts';
import { runQueryScript, type StackProcess } from '../../support/stack-process.ts';
import { checkDelivery, type DeliveryReport, type LoadDevice, type WarehouseRows } from './load.ts';

export async function registerDevices(stack: StackProcess, adminToken: string, prefix: string, n: number): Promise<LoadDevice[]> {
  const devices: LoadDevice[] = [];
  for (let i = 0; i < n; i++) {
    const deviceId = `${prefix}-${i}`;
    const response = await fetch(`${stack.state.urls.registry}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId, credentials: [{ type: 'token' }] }),
    });
    expect(response.status).toBe(201);
    devices.push({ deviceId, token: ((await response.json()) as { credentials: { token: string }[] }).credentials[0]?.token as string });
  }
  return devices;
}

/** The warehouse rows of some devices, through `npm run query --json` (read-only: no COPY). */
export function warehouseRowsVia(dataDir: string): WarehouseRows {
  return async (ids) => {
    const rows = await runQueryScript(dataDir, `SELECT device_id, seq, metric FROM measurements WHERE device_id IN (${ids.map((d) => `'${d}'`).join(',')})`);
    return rows.map((r) => ({ device_id: String(r.device_id), seq: Number(r.seq), metric: String(r.metric) }));
  };
}

/** Waits until both stores hold every accepted reading; returns the report and how long that took. */
export async function settle(db: Sql, warehouseRows: WarehouseRows, accepted: Map<string, number[]>): Promise<{ report: DeliveryReport; settleMs: number }> {
  const started = Date.now();
  await waitFor(async () => {
    const report = await checkDelivery(db, warehouseRows, accepted);
    return report.lostPostgres === 0 && report.lostWarehouse === 0;
  }, { timeoutMs: 90_000, intervalMs: 500, what: 'every accepted reading in both stores' }).catch(() => undefined);
  const report = await checkDelivery(db, warehouseRows, accepted);
  return { report, settleMs: Date.now() - started };
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a stack that is still running (a scenario may already have killed it). */
export async function stopStack(stack: StackProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!stack || stack.child.exitCode !== null || stack.child.signalCode !== null) return;
  stack.child.kill(signal);
  await stack.exited;
}
