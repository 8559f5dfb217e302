/**
 * The bridge's body budget (shared/runtime/work-budget.ts) under one device sending many of the
 * largest bodies at once: another device's small reading must still go through, not be answered
 * 429 `overloaded` because one device filled the room for waiting bodies.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createDevice, type TestDevice } from './support/devices.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { largestTelemetryBody, startManifestBridge } from './support/manifest-process.ts';

let tdb: TestDatabase;
let bulky: TestDevice;
let small: TestDevice;
beforeAll(async () => {
  tdb = await createTestDatabase();
  bulky = await createDevice(tdb.db, { deviceId: 'bulky', token: true });
  small = await createDevice(tdb.db, { deviceId: 'small', token: true });
});
afterAll(async () => {
  await tdb?.drop();
});

it("answers another device's small readings while one device floods it with the largest bodies", async () => {
  const bridge = await startManifestBridge(inject('pubsubEmulatorHost'), tdb.url);
  const { url } = bridge;
  try {
    const packed = largestTelemetryBody();
    // Exactly the body limit, as a device sending the most it may.
    const body = packed + ' '.repeat(256 * 1024 - Buffer.byteLength(packed));
    const post = async (device: TestDevice, data: string) => {
      const response = await fetch(`${url}/v1/devices/${device.deviceId}/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token as string}` },
        body: data,
      });
      const answer = (await response.json()) as { error?: string };
      return response.status === 429 ? `429 ${answer.error}` : String(response.status);
    };
    let flooding = true;
    const bulkyStatuses: string[] = [];
    // One device keeps 100 connections busy with 256 KiB bodies.
    const flood = Promise.all(
      Array.from({ length: 100 }, async () => {
        while (flooding) bulkyStatuses.push(await post(bulky, body));
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const smallStatuses: string[] = [];
    for (let i = 0; i < 40; i++) {
      smallStatuses.push(await post(small, JSON.stringify({ metrics: { temperature: 21.5 } })));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    flooding = false;
    await flood;
    const count = (list: string[]) => list.reduce<Record<string, number>>((acc, s) => ((acc[s] = (acc[s] ?? 0) + 1), acc), {});
    // Before small bodies waited their turn, 34 of the 40 were refused 429 overloaded at once.
    expect({ small: count(smallStatuses), errors: bridge.errors() }).toEqual({ small: { '202': 40 }, errors: '' });
    expect(bulkyStatuses).toContain('202');
  } finally {
    await bridge.stop();
  }
}, 120_000);
