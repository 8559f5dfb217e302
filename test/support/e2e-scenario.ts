/**
 * The end-to-end scenario both e2e tests run against a spawned `npm start`: a device through
 * the registry, readings through the bridge, rows through `npm run query` and the state
 * endpoint, a message that ingest can never store ending in `rejected` through the
 * dead-letter path, and SIGKILL-and-restart losing nothing.
 */
import { expect } from 'vitest';
import type { Database } from '../../shared/db/database.ts';
import { waitFor } from './net.ts';
import { runQueryScript, startStackProcess, type StackProcess } from './stack-process.ts';

export interface ScenarioOptions {
  env: Record<string, string>;
  /** How many messages the deadletter function has stored so far. */
  countDeadLettered: (stack: StackProcess) => Promise<number>;
  /** The stack's database, opened once the stack has stopped (PGlite allows one process). */
  openDatabase: () => Promise<Database>;
}

interface DeviceState {
  readingsTotal: number;
}

async function createDevice(stack: StackProcess, deviceId: string): Promise<string> {
  const response = await fetch(`${stack.state.urls.registry}/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.state.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId, site: 'e2e-lab', credentials: [{ type: 'token' }] }),
  });
  expect(response.status).toBe(201);
  const body = (await response.json()) as { credentials: { token?: string }[] };
  return body.credentials[0]?.token as string;
}

let seq = 0;
const baseMs = Date.now() - 3_600_000;

/** Posts `count` readings in one request; returns how many the bridge accepted (202). */
async function postReadings(stack: StackProcess, deviceId: string, token: string, count: number): Promise<number> {
  const readings = Array.from({ length: count }, () => {
    seq += 1;
    return { ts: baseMs + seq * 1000, seq, metrics: { temperature: 20 + (seq % 7) / 10, humidity: 40 + (seq % 5) } };
  });
  const response = await fetch(`${stack.state.urls.bridge}/v1/devices/${deviceId}/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(readings),
  });
  await response.arrayBuffer();
  return response.status === 202 ? count : 0;
}

async function readingsTotal(stack: StackProcess, deviceId: string): Promise<number> {
  const response = await fetch(`${stack.state.urls.registry}/v1/devices/${deviceId}/state`, { headers: { authorization: `Bearer ${stack.state.adminToken}` } });
  if (response.status !== 200) return -1;
  return ((await response.json()) as DeviceState).readingsTotal;
}

async function warehouseCounts(dataDir: string, deviceId: string): Promise<{ rows: number; readings: number }> {
  const [row] = await runQueryScript(
    dataDir,
    `SELECT count(*) AS rows, count(DISTINCT reading_id) AS readings FROM measurements WHERE device_id = '${deviceId}'`,
  );
  return { rows: Number(row?.rows), readings: Number(row?.readings) };
}

export async function runPipelineScenario(options: ScenarioOptions): Promise<void> {
  const dataDir = options.env.DATA_DIR as string;
  let stack = await startStackProcess(options.env);
  try {
    // 1. A device, readings through the bridge, visible in both stores.
    const deviceId = 'e2e-thermo-1';
    const token = await createDevice(stack, deviceId);
    let accepted = 0;
    for (let i = 0; i < 10; i++) accepted += await postReadings(stack, deviceId, token, 5);
    expect(accepted).toBe(50);
    await waitFor(async () => (await readingsTotal(stack, deviceId)) === 50, { timeoutMs: 20_000, what: 'state readingsTotal 50' });
    await waitFor(async () => (await warehouseCounts(dataDir, deviceId)).rows === 100, { timeoutMs: 20_000, what: '100 warehouse rows' });
    expect(await warehouseCounts(dataDir, deviceId)).toEqual({ rows: 100, readings: 50 });

    // 2. A poison message: the operator holds warehouse writes back (analyst SQL cannot touch
    //    the table), so ingest cannot store the next message (503 on every attempt); after 5
    //    attempts it is dead-lettered.
    const poisonDevice = 'e2e-poison-1';
    const poisonToken = await createDevice(stack, poisonDevice);
    await pauseWarehouse(stack, true);
    const before = await options.countDeadLettered(stack);
    expect(await postReadings(stack, poisonDevice, poisonToken, 1)).toBe(1);
    await waitFor(async () => (await options.countDeadLettered(stack)) > before, {
      timeoutMs: 40_000,
      intervalMs: 200,
      what: 'the poison message to be dead-lettered',
    });
    await pauseWarehouse(stack, false);

    // 3. kill -9 right after a burst of 202s; a restart delivers every accepted reading once.
    const burst = await Promise.all(Array.from({ length: 40 }, () => postReadings(stack, deviceId, token, 5)));
    stack.child.kill('SIGKILL');
    await stack.exited;
    accepted += burst.reduce((a, b) => a + b, 0);
    expect(accepted).toBeGreaterThan(50);
    stack = await startStackProcess(options.env);
    // What the killed stack held unacknowledged comes back after Pub/Sub's ack deadline and
    // backoff: the emulator, on a loaded CI machine, once took more than 30 s.
    await waitFor(async () => (await readingsTotal(stack, deviceId)) === accepted, { timeoutMs: 60_000, what: `state readingsTotal ${accepted}` });
    await waitFor(async () => (await warehouseCounts(dataDir, deviceId)).rows === accepted * 2, { timeoutMs: 60_000, what: 'every warehouse row' });
    expect(await warehouseCounts(dataDir, deviceId)).toEqual({ rows: accepted * 2, readings: accepted });

    // 4. SIGTERM drains and exits 0.
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  } finally {
    if (stack.child.exitCode === null && stack.child.signalCode === null) {
      stack.child.kill('SIGKILL');
      await stack.exited;
    }
  }

  const db = await options.openDatabase();
  try {
    const readings = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM readings WHERE device_id = $1', ['e2e-thermo-1']);
    const total = await db.query<{ readings_total: string }>('SELECT readings_total::text FROM device_state WHERE device_id = $1', ['e2e-thermo-1']);
    expect(readings.rows[0]?.n).toBe(total.rows[0]?.readings_total);
    const rejected = await db.query<{ reason: string; delivery_attempt: string; subscription: string; attributes: Record<string, string> }>(
      "SELECT reason, delivery_attempt::text, subscription, attributes FROM rejected WHERE stage = 'deadletter'",
    );
    expect(rejected.rows).toHaveLength(1);
    expect(rejected.rows[0]).toMatchObject({ reason: 'dead_lettered', delivery_attempt: '5' });
    expect(rejected.rows[0]?.subscription).toMatch(/-ingest$/);
    expect(rejected.rows[0]?.attributes.deviceId).toBe('e2e-poison-1');
  } finally {
    await db.close();
  }
}

async function pauseWarehouse(stack: StackProcess, paused: boolean): Promise<void> {
  const response = await fetch(`${stack.state.internalUrl}/internal/warehouse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.state.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ paused }),
  });
  expect(response.status).toBe(200);
}
