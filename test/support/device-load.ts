/**
 * Sustained device load for the fault scenarios, and the accounting after it: every reading
 * has a unique (device, seq) and a time derived from it, a device retries the same body until
 * the bridge answers 202 (as a device that heard 503 does), and only 202s count as accepted.
 * The devices are registered through the running stack's registry.
 */
import { expect } from 'vitest';
import type { Sql } from '../../shared/db/database.ts';
import { waitFor } from './net.ts';
import type { StackProcess } from './stack-process.ts';

export interface LoadDevice {
  deviceId: string;
  token: string;
}

export interface DeviceLoad {
  /** Accepted (202) seqs per device. */
  readonly accepted: Map<string, number[]>;
  /** Answers by status (`error` for a refused or reset connection). */
  readonly statuses: Map<string, number>;
  acceptedTotal(): number;
  /** Stops after the requests in flight; a request not yet accepted is given up. */
  stop(): Promise<void>;
}

const BASE_MS = Date.now() - 6 * 3_600_000;
/** The event time of a seq: distinct, ordered, within the schema's range. */
export const eventMsOf = (seq: number) => BASE_MS + seq * 1000;

/** Starts `concurrency` device loops posting `perRequest` readings each through the bridge. */
export function startDeviceLoad(options: {
  bridgeUrl: string;
  devices: LoadDevice[];
  perRequest?: number;
  concurrency?: number;
  retryDelayMs?: number;
}): DeviceLoad {
  const accepted = new Map<string, number[]>(options.devices.map((d) => [d.deviceId, []]));
  const statuses = new Map<string, number>();
  const nextSeq = new Map<string, number>(options.devices.map((d) => [d.deviceId, 0]));
  const perRequest = options.perRequest ?? 5;
  let running = true;
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

  async function postUntilAccepted(device: LoadDevice, seqs: number[]): Promise<void> {
    const body = JSON.stringify(seqs.map((seq) => ({ ts: eventMsOf(seq), seq, metrics: { temperature: 20 + (seq % 50) / 10, humidity: seq % 100 } })));
    while (running) {
      try {
        const response = await fetch(`${options.bridgeUrl}/v1/devices/${device.deviceId}/telemetry`, {
          method: 'POST',
          headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        count(String(response.status));
        if (response.status === 202) {
          accepted.get(device.deviceId)?.push(...seqs);
          return;
        }
      } catch {
        count('error');
      }
      await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 200));
    }
  }

  const loops = Array.from({ length: options.concurrency ?? 8 }, async (_, worker) => {
    for (let i = worker; running; i += options.concurrency ?? 8) {
      const device = options.devices[i % options.devices.length] as LoadDevice;
      const first = nextSeq.get(device.deviceId) ?? 0;
      nextSeq.set(device.deviceId, first + perRequest);
      await postUntilAccepted(
        device,
        Array.from({ length: perRequest }, (_, k) => first + k),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  return {
    accepted,
    statuses,
    acceptedTotal: () => [...accepted.values()].reduce((n, seqs) => n + seqs.length, 0),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export interface DeliveryReport {
  accepted: number;
  /** Accepted readings not in PostgreSQL. */
  lostPostgres: number;
  /** Accepted readings with no warehouse row. */
  lostWarehouse: number;
  /** Rows beyond one per reading (PostgreSQL) or one per metric value (warehouse). */
  duplicatedPostgres: number;
  duplicatedWarehouse: number;
  /** Devices whose device_state is not their newest stored reading, or whose total is off. */
  stateMismatches: string[];
  /** Readings stored that no 202 answered (the device heard an error and gave up): allowed. */
  storedUnacknowledged: number;
}

/** Warehouse rows per device: `seq` and `metric` of each. */
export type WarehouseRows = (deviceIds: string[]) => Promise<{ device_id: string; seq: number; metric: string }[]>;

/** Compares what was accepted with what both stores hold. */
export async function checkDelivery(db: Sql, warehouseRows: WarehouseRows, accepted: Map<string, number[]>): Promise<DeliveryReport> {
  const deviceIds = [...accepted.keys()];
  const pg = (await db.query<{ device_id: string; seq: number }>('SELECT device_id, seq FROM readings WHERE device_id = ANY($1)', [deviceIds])).rows;
  const wh = await warehouseRows(deviceIds);
  const key = (d: string, s: number) => `${d}#${s}`;
  const want = new Set([...accepted].flatMap(([d, seqs]) => seqs.map((s) => key(d, s))));
  const pgKeys = pg.map((r) => key(r.device_id, Number(r.seq)));
  const pgSet = new Set(pgKeys);
  const whKeys = wh.map((r) => `${key(r.device_id, Number(r.seq))}#${r.metric}`);
  const whReadings = new Set(wh.map((r) => key(r.device_id, Number(r.seq))));
  const states = (
    await db.query<{ device_id: string; last_event_ts: Date; readings_total: number }>(
      'SELECT device_id, last_event_ts, readings_total FROM device_state WHERE device_id = ANY($1)',
      [deviceIds],
    )
  ).rows;
  const stateMismatches: string[] = [];
  for (const deviceId of deviceIds) {
    const seqs = pg.filter((r) => r.device_id === deviceId).map((r) => Number(r.seq));
    const state = states.find((s) => s.device_id === deviceId);
    if (seqs.length === 0) continue;
    const newest = eventMsOf(Math.max(...seqs));
    if (state?.last_event_ts.getTime() !== newest || Number(state.readings_total) !== seqs.length) {
      stateMismatches.push(
        `${deviceId}: state ${state?.last_event_ts.toISOString()} total ${state?.readings_total}, newest ${new Date(newest).toISOString()} of ${seqs.length}`,
      );
    }
  }
  return {
    accepted: want.size,
    lostPostgres: [...want].filter((k) => !pgSet.has(k)).length,
    lostWarehouse: [...want].filter((k) => !whReadings.has(k)).length,
    duplicatedPostgres: pgKeys.length - pgSet.size,
    duplicatedWarehouse: whKeys.length - new Set(whKeys).size,
    stateMismatches,
    storedUnacknowledged: [...pgSet].filter((k) => !want.has(k)).length,
  };
}

/** A report with nothing lost, duplicated or out of state. */
export const isClean = (r: DeliveryReport) =>
  r.lostPostgres === 0 && r.lostWarehouse === 0 && r.duplicatedPostgres === 0 && r.duplicatedWarehouse === 0 && r.stateMismatches.length === 0;

/** One line per scenario for docs/reliability.md, printed by each test. */
export function printFigures(scenario: string, figures: Record<string, unknown>): void {
  process.stdout.write(`CHAOS ${JSON.stringify({ scenario, ...figures })}\n`);
}

/** Registers `n` token devices `<prefix>-<i>` through the stack's registry. */
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

/** Waits until both stores hold every accepted reading; returns the report and how long that took. */
export async function settle(db: Sql, warehouseRows: WarehouseRows, accepted: Map<string, number[]>): Promise<{ report: DeliveryReport; settleMs: number }> {
  const started = Date.now();
  await waitFor(
    async () => {
      const report = await checkDelivery(db, warehouseRows, accepted);
      return report.lostPostgres === 0 && report.lostWarehouse === 0;
    },
    { timeoutMs: 90_000, intervalMs: 500, what: 'every accepted reading in both stores' },
  ).catch(() => undefined);
  const report = await checkDelivery(db, warehouseRows, accepted);
  return { report, settleMs: Date.now() - started };
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
