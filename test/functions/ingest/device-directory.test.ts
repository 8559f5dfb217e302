import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDeviceDirectory } from '../../../functions/ingest/device-directory.ts';
import { createDevice } from '../../support/devices.ts';
import { createTestDatabase, type TestDatabase } from '../../support/kit.ts';
import { waitFor } from '../../support/net.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
  for (let i = 0; i < 50; i++) await createDevice(tdb.db, { deviceId: `dir-${i}`, site: `s${i % 3}`, tags: { i: String(i) } });
});
afterAll(async () => {
  await tdb?.drop();
});

it('answers from the cache at steady state; concurrent misses share one query', async () => {
  const directory = createDeviceDirectory(async () => tdb.db, { ttlMs: 60_000 });
  const first = await Promise.all(Array.from({ length: 50 }, (_, i) => directory.get(`dir-${i}`)));
  expect(first.every((d) => d !== undefined)).toBe(true);
  expect(first[7]).toEqual({ deviceId: 'dir-7', numId: expect.any(Number), registry: 'default', site: 's1', tags: { i: '7' }, blocked: false });
  expect(directory.stats.queries).toBe(1);
  for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 50 }, (_, i) => directory.get(`dir-${i}`)));
  expect(directory.stats.queries).toBe(1);
  expect(directory.stats.hits).toBe(500);
});

it('forgets entries after the TTL, and remembers unknown devices briefly', async () => {
  const directory = createDeviceDirectory(async () => tdb.db, { ttlMs: 20, negativeTtlMs: 20 });
  expect(await directory.get('nobody')).toBeUndefined();
  expect(await directory.get('nobody')).toBeUndefined();
  expect(directory.stats.queries).toBe(1);
  await tdb.db.query("UPDATE devices SET site = 'moved' WHERE device_id = 'dir-1'");
  await directory.get('dir-1');
  await new Promise((r) => setTimeout(r, 30));
  expect((await directory.get('dir-1'))?.site).toBe('moved');
  expect(directory.stats.queries).toBe(3);
});

it('stays bounded', async () => {
  const directory = createDeviceDirectory(async () => tdb.db, { maxEntries: 10 });
  for (let i = 0; i < 30; i++) await directory.get(`dir-${i}`);
  const before = directory.stats.queries;
  await directory.get('dir-0');
  expect(directory.stats.queries).toBe(before + 1);
});

it('a database failure rejects the waiting look-ups and is not cached', async () => {
  let fail = true;
  const directory = createDeviceDirectory(async () => {
    if (fail) throw new Error('connect ECONNREFUSED');
    return tdb.db;
  });
  await expect(directory.get('dir-2')).rejects.toThrow('ECONNREFUSED');
  fail = false;
  expect((await directory.get('dir-2'))?.deviceId).toBe('dir-2');
});

it('looks up a device created again under its id (or patched) afresh within about a second, not at the end of the TTL', async () => {
  const directory = createDeviceDirectory(async () => tdb.db, { ttlMs: 600_000, changesRefreshMs: 50 });
  const old = await createDevice(tdb.db, { deviceId: 'dir-reborn' });
  expect((await directory.get('dir-reborn'))?.numId).toBe(Number(old.numId));
  await tdb.db.query("DELETE FROM devices WHERE device_id = 'dir-reborn'");
  const reborn = await createDevice(tdb.db, { deviceId: 'dir-reborn', site: 'new' });
  // Each look-up prompts the change feed when it is due; the cached predecessor goes with the next read.
  await waitFor(async () => (await directory.get('dir-reborn'))?.numId === Number(reborn.numId), { timeoutMs: 5_000, what: 'the re-created device' });
  await tdb.db.query('UPDATE devices SET tags = \'{"zone":"b"}\', updated_at = now() WHERE device_id = \'dir-reborn\'');
  await waitFor(async () => (await directory.get('dir-reborn'))?.tags.zone === 'b', { timeoutMs: 5_000, what: 'the patched tags' });
});
