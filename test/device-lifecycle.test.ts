/**
 * DELETE /v1/devices/{id} leaves nothing of the device behind: a device created later under
 * the same id starts with empty state and no readings, and a message the old device sent
 * before it was deleted (still in flight in Pub/Sub) never reaches the new one.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import ingest from '../functions/ingest/index.ts';
import registry from '../functions/registry/index.ts';
import { openDuckDbSink, type DuckDbSink } from '../shared/warehouse/duckdb-sink.ts';
import { createTestDatabase, makeScratchDir, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from './support/kit.ts';

const ADMIN = { authorization: 'Bearer lifecycle-admin', 'content-type': 'application/json' };
let tdb: TestDatabase;
let warehouse: DuckDbSink;
let registryFn: ServedFunction;
let ingestFn: ServedFunction;

beforeAll(async () => {
  tdb = await createTestDatabase();
  warehouse = await openDuckDbSink(join(makeScratchDir('lifecycle-'), 'warehouse.duckdb'));
  const env = { DATABASE_URL: tdb.url, ADMIN_TOKEN: 'lifecycle-admin' };
  registryFn = await startFunction(registry, { env });
  ingestFn = await startFunction(ingest, { env, providers: { warehouse: async () => warehouse } });
});
afterAll(async () => {
  await registryFn?.close();
  await ingestFn?.close();
  await warehouse?.close();
  await tdb?.drop();
});

async function createDevice(deviceId: string): Promise<string> {
  const response = await fetch(`${registryFn.url}/v1/devices`, {
    method: 'POST',
    headers: ADMIN,
    body: JSON.stringify({ deviceId, site: 'old-site', credentials: [{ type: 'token' }] }),
  });
  expect(response.status).toBe(201);
  return String(((await response.json()) as { numId: number }).numId);
}

const stateOf = async (deviceId: string) =>
  (await fetch(`${registryFn.url}/v1/devices/${deviceId}/state`, { headers: ADMIN })).json() as Promise<Record<string, unknown>>;

/** A push as the bridge publishes it: the device's id and number in the attributes. */
const push = (deviceId: string, numId: string, seq: number, metrics: Record<string, number>) =>
  post(
    ingestFn.url,
    makePushBody({ data: { ts: Date.UTC(2026, 4, 1, 0, seq), seq, metrics }, attributes: { deviceId, deviceNumId: numId }, messageId: `life-${numId}-${seq}` }),
  );

it('a device re-created under a deleted id sees none of the old state, readings or in-flight messages', async () => {
  const oldNum = await createDevice('life-1');
  expect((await push('life-1', oldNum, 1, { temperature: 99 })).status).toBe(200);
  expect(await stateOf('life-1')).toMatchObject({ readingsTotal: 1, lastMetrics: { temperature: 99 } });

  const deleted = await fetch(`${registryFn.url}/v1/devices/life-1`, { method: 'DELETE', headers: ADMIN });
  expect(deleted.status).toBe(204);
  const newNum = await createDevice('life-1');
  expect(newNum).not.toBe(oldNum);

  // Through the registry's API the new device is empty.
  expect(await stateOf('life-1')).toEqual({ deviceId: 'life-1', lastEventTs: null, lastMetrics: null, lastSeenAt: null, readingsTotal: 0 });
  const { rows } = await tdb.db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings WHERE device_id = 'life-1'");
  expect(rows[0]?.n).toBe(0);

  // A message the old device sent before the delete, delivered now to an instance that has
  // not cached the old device (the one above may, for its directory TTL): acknowledged, kept
  // in `rejected`, and not counted for the new device.
  const other = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => warehouse } });
  const stale = await post(
    other.url,
    makePushBody({
      data: { ts: Date.UTC(2026, 4, 1, 0, 2), seq: 2, metrics: { temperature: 98 } },
      attributes: { deviceId: 'life-1', deviceNumId: oldNum },
      messageId: 'life-stale',
    }),
  ).finally(() => other.close());
  expect(stale.status).toBe(200);
  expect(stale.body).toMatchObject({ status: 'rejected', reason: 'device_replaced' });
  expect(await stateOf('life-1')).toMatchObject({ readingsTotal: 0, lastMetrics: null });

  // The new device's own readings count from zero.
  expect((await push('life-1', newNum, 3, { humidity: 40 })).status).toBe(200);
  expect(await stateOf('life-1')).toMatchObject({ readingsTotal: 1, lastMetrics: { humidity: 40 } });
});

it('state written for a deleted device by a late message is gone when the id is created again', async () => {
  const num = await createDevice('life-2');
  expect((await fetch(`${registryFn.url}/v1/devices/life-2`, { method: 'DELETE', headers: ADMIN })).status).toBe(204);
  // As if ingest had written the old device's last batch just after the delete committed.
  await tdb.db.query(
    "INSERT INTO device_state (device_id, last_event_ts, last_metrics, last_seen_at, readings_total) VALUES ('life-2', now(), '{\"t\":1}', now(), 7)",
  );
  expect(await createDevice('life-2')).not.toBe(num);
  expect(await stateOf('life-2')).toMatchObject({ readingsTotal: 0, lastMetrics: null });
});
