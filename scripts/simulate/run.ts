/**
 * The simulator's core, also the benchmarks' load generator: register N devices through the
 * registry's batchCreate, post telemetry through the bridge at R requests/s for S seconds
 * with bounded concurrency, measure every answer, and optionally verify that every accepted
 * reading reached both stores.
 */
import { randomBytes } from 'node:crypto';
import type { AnalystResult } from '../../shared/warehouse/duckdb-analyst.ts';
import { createDevice, GAP_PROBABILITY, nextRequest, registration, STYLES, type SimulatedDevice, type Style } from './devices.ts';
import { createPoster, PostError } from './post.ts';

export interface SimulationOptions {
  devices: number;
  /** Requests per second across all devices. */
  rate: number;
  durationSeconds: number;
  style: Style | 'mixed';
  bridgeUrl: string;
  registryUrl: string;
  adminToken: string;
  projectId: string;
  /** Requests in flight at most. */
  concurrency?: number;
  /** Called about once a second with the running figures. */
  onProgress?: (progress: SimulationProgress) => void;
  /** Device ids are `<prefix>-<n>`; unique per run by default. */
  devicePrefix?: string;
}

export interface SimulationProgress {
  elapsedSeconds: number;
  sent: number;
  accepted: number;
  refused: number;
  /** Requests answered per second so far. */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface SimulationResult extends SimulationProgress {
  /** Readings the bridge accepted (202), by device. */
  acceptedReadings: Map<string, number>;
  /** Refusals by status and reason (`503 unavailable`), or by network error (`network ECONNREFUSED`). */
  refusals: Record<string, number>;
  p90Ms: number;
  maxMs: number;
  skippedForGaps: number;
}

const REGISTER_CHUNK = 1000;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const prefix = options.devicePrefix ?? `sim-${randomBytes(3).toString('hex')}`;
  const width = String(options.devices).length;
  const devices = Array.from({ length: options.devices }, (_, i) => {
    const style = options.style === 'mixed' ? (STYLES[i % STYLES.length] as Style) : options.style;
    return createDevice(`${prefix}-${String(i + 1).padStart(width, '0')}`, style, 'sim');
  });
  const concurrency = options.concurrency ?? 64;
  // Before registering: a bridge URL it refuses must not leave devices registered for nothing.
  const poster = createPoster(options.bridgeUrl, concurrency, 30_000);
  await registerDevices(options, devices).catch(async (error: unknown) => {
    await poster.close();
    throw error;
  });

  const latencies: number[] = [];
  const refusals: Record<string, number> = {};
  const acceptedReadings = new Map<string, number>();
  const counters = { sent: 0, accepted: 0, refused: 0, skippedForGaps: 0 };
  const started = performance.now();
  const endAt = started + options.durationSeconds * 1000;
  let inFlight = 0;
  let next = 0;
  let planned = 0;
  const pending = new Set<Promise<void>>();
  const progress = (): SimulationProgress => {
    const elapsed = (performance.now() - started) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    return {
      elapsedSeconds: elapsed,
      ...pick(counters),
      requestsPerSecond: latencies.length / Math.max(elapsed, 0.001),
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
  };

  const send = async (device: SimulatedDevice) => {
    const request = nextRequest(device, Date.now(), options.projectId);
    const t0 = performance.now();
    counters.sent += 1;
    try {
      const response = await poster.post(request.path, request.headers, request.body);
      latencies.push(performance.now() - t0);
      // IoT Core's publishEvent answers 200 `{}` as IoT Core did: one reading per request here.
      if (response.status === 202 || (response.status === 200 && request.readings !== undefined)) {
        counters.accepted += 1;
        const accepted = request.readings ?? (JSON.parse(response.body) as { accepted: number }).accepted;
        acceptedReadings.set(device.deviceId, (acceptedReadings.get(device.deviceId) ?? 0) + accepted);
      } else {
        counters.refused += 1;
        const key = refusalKey(response.status, response.body);
        refusals[key] = (refusals[key] ?? 0) + 1;
      }
    } catch (error) {
      latencies.push(performance.now() - t0);
      counters.refused += 1;
      const key = `network ${error instanceof PostError ? error.code : String(error)}`;
      refusals[key] = (refusals[key] ?? 0) + 1;
    }
  };

  const timer = setInterval(() => options.onProgress?.(progress()), 1000);
  try {
    // Open loop at the target rate, capped by the concurrency: requests due while every slot
    // is busy are sent late rather than dropped, so the rate reached shows saturation.
    while (performance.now() < endAt) {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
      while (planned < due && inFlight < concurrency) {
        planned += 1;
        const device = devices[next % devices.length] as SimulatedDevice;
        next += 1;
        if (Math.random() < GAP_PROBABILITY) {
          counters.skippedForGaps += 1;
          continue;
        }
        inFlight += 1;
        const p: Promise<void> = send(device).finally(() => {
          inFlight -= 1;
          pending.delete(p);
        });
        pending.add(p);
      }
      await new Promise((r) => setTimeout(r, planned < due ? 1 : 5));
    }
    await Promise.all([...pending]);
  } finally {
    clearInterval(timer);
    await poster.close();
  }
  const sorted = Float64Array.from(latencies).sort();
  return { ...progress(), acceptedReadings, refusals, p90Ms: percentile(sorted, 0.9), maxMs: sorted.at(-1) ?? 0, skippedForGaps: counters.skippedForGaps };
}

/** `401 unauthenticated`: the status and the error's name from either error shape the bridge answers. */
export function refusalKey(status: number, body: string): string {
  let reason: unknown;
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    // Native answers carry `{"error": "name"}`; the IoT Core paths Google's `{"error": {"status"}}`.
    reason = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : error;
  } catch {
    reason = undefined;
  }
  return typeof reason === 'string' && reason ? `${status} ${reason}` : String(status);
}

const pick = ({ sent, accepted, refused }: { sent: number; accepted: number; refused: number }) => ({ sent, accepted, refused });

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function registerDevices(options: SimulationOptions, devices: SimulatedDevice[]): Promise<void> {
  for (let i = 0; i < devices.length; i += REGISTER_CHUNK) {
    const chunk = devices.slice(i, i + REGISTER_CHUNK);
    const response = await fetch(`${options.registryUrl}/v1/devices:batchCreate`, {
      method: 'POST',
      signal: AbortSignal.timeout(30_000),
      headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ devices: chunk.map((d, j) => registration(d, `site-${(i + j) % 5}`)) }),
    });
    const text = await response.text();
    if (response.status === 401) {
      throw new Error(
        `the registry at ${options.registryUrl} refused the admin token (401): pass the one the stack printed with --admin-token, or leave it out to read it from the running stack`,
      );
    }
    if (response.status !== 201) throw new Error(`registering devices failed: ${response.status} ${text.slice(0, 2000)}`);
    const created = (JSON.parse(text) as { devices: { deviceId: string; credentials: { token?: string }[] }[] }).devices;
    const byId = new Map(chunk.map((d) => [d.deviceId, d]));
    for (const d of created) {
      const device = byId.get(d.deviceId);
      if (device) device.token = d.credentials[0]?.token;
    }
  }
}

export interface VerifyOptions {
  registryUrl: string;
  adminToken: string;
  /** Runs warehouse SQL (npm run query's path). */
  query: (sql: string) => Promise<AnalystResult>;
  timeoutMs: number;
  onWaiting?: (missing: { registry: number; warehouse: number }) => void;
}

/** Waits until every accepted reading is in PostgreSQL (device state) and the warehouse. */
export async function verifyDelivery(
  accepted: Map<string, number>,
  options: VerifyOptions,
): Promise<{ ok: boolean; missing: { registry: number; warehouse: number } }> {
  const deadline = Date.now() + options.timeoutMs;
  let missing = { registry: Number.NaN, warehouse: Number.NaN };
  while (Date.now() < deadline) {
    missing = { registry: await missingInRegistry(accepted, options), warehouse: await missingInWarehouse(accepted, options) };
    if (missing.registry === 0 && missing.warehouse === 0) return { ok: true, missing };
    options.onWaiting?.(missing);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { ok: false, missing };
}

async function missingInRegistry(accepted: Map<string, number>, options: VerifyOptions): Promise<number> {
  let missing = 0;
  const entries = [...accepted];
  for (let i = 0; i < entries.length; i += 32) {
    const totals = await Promise.all(
      entries.slice(i, i + 32).map(async ([deviceId, expected]) => {
        const response = await fetch(`${options.registryUrl}/v1/devices/${encodeURIComponent(deviceId)}/state`, {
          headers: { authorization: `Bearer ${options.adminToken}` },
          signal: AbortSignal.timeout(30_000),
        });
        const total = response.status === 200 ? ((await response.json()) as { readingsTotal: number }).readingsTotal : (await response.arrayBuffer(), 0);
        return Math.max(0, expected - total);
      }),
    );
    missing += totals.reduce((a, b) => a + b, 0);
  }
  return missing;
}

async function missingInWarehouse(accepted: Map<string, number>, options: VerifyOptions): Promise<number> {
  const ids = [...accepted.keys()];
  if (ids.length === 0) return 0;
  const prefix = commonPrefix(ids).replaceAll("'", "''");
  const result = await options.query(
    `SELECT device_id, count(DISTINCT reading_id) AS n FROM measurements WHERE starts_with(device_id, '${prefix}') GROUP BY device_id`,
  );
  const found = new Map(result.rows.map((r) => [String(r[0]), Number(r[1])]));
  let missing = 0;
  for (const [deviceId, expected] of accepted) missing += Math.max(0, expected - (found.get(deviceId) ?? 0));
  return missing;
}

function commonPrefix(values: string[]): string {
  let prefix = values[0] ?? '';
  for (const v of values) while (!v.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}
