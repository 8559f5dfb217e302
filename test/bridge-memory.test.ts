/**
 * The bridge as its Knative manifest runs it (`NODE_OPTIONS` and its container's Node flags, so
 * the heap it gets in production), publishing to the official emulator, under its
 * containerConcurrency of the largest bodies devices may send: 256 KiB of 83 readings with 256
 * metrics each. Before its body budget (shared/runtime/work-budget.ts), 200 such requests at once
 * ran the bridge out of heap ("JavaScript heap out of memory"), every device's request in flight
 * failing with it. Now each is answered 202 or 429 with `Retry-After` (busy: the device retries),
 * and the bridge keeps serving.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createDevice, type TestDevice } from './support/devices.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { largestTelemetryBody, startManifestBridge } from './support/manifest-process.ts';

const REQUESTS = 200;

let tdb: TestDatabase;
const devices: TestDevice[] = [];
beforeAll(async () => {
  tdb = await createTestDatabase();
  for (let i = 0; i < 50; i++) devices.push(await createDevice(tdb.db, { deviceId: `bulky-${i}`, token: true }));
});
afterAll(async () => {
  await tdb?.drop();
});

it(`answers ${REQUESTS} of the largest bodies at once 202 or 429 within the heap its manifest gives it`, async () => {
  const bridge = await startManifestBridge(inject('pubsubEmulatorHost'), tdb.url);
  const { url } = bridge;
  try {
    const body = largestTelemetryBody();
    expect(Buffer.byteLength(body)).toBeGreaterThan(250 * 1024);
    const post = async (i: number): Promise<number | string> => {
      const device = devices[i % devices.length] as TestDevice;
      const response = await fetch(`${url}/v1/devices/${device.deviceId}/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token as string}` },
        body,
      }).catch((error: unknown) => String(error));
      if (typeof response === 'string') return response;
      const answer = (await response.json()) as { limit?: string };
      if (response.status !== 429) return response.status;
      // As every 429 of the bridge: when to retry, and the limit hit.
      return response.headers.get('retry-after') === '10' && answer.limit === 'IN_FLIGHT_BYTES' ? 429 : `429 with ${JSON.stringify(answer)}`;
    };
    const statuses = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => post(i)));
    const unexpected = statuses.filter((s) => s !== 202 && s !== 429);
    expect({ unexpected, errors: bridge.errors() }).toEqual({ unexpected: [], errors: '' });
    expect(statuses).toContain(202);
    // Still serving: a device's small reading goes through.
    const small = await fetch(`${url}/v1/devices/${devices[1]?.deviceId}/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${devices[1]?.token as string}` },
      body: JSON.stringify({ metrics: { temperature: 21.5 } }),
    });
    expect(small.status).toBe(202);
  } finally {
    await bridge.stop();
  }
}, 180_000);
