/**
 * Faults on the data path of the real `npm start` (PostgreSQL, DuckDB, the in-process Pub/Sub
 * and its log), under device load through the bridge, one at a time:
 * - an analyst trying to hold a transaction through `npm run query` while ingest writes,
 *   then kill -9 of the stack;
 * - a full disk under the local Pub/Sub's log (a real tmpfs mounted at $DATA_DIR/pubsub);
 * - kill -9 again and again: mid-load, during start-up (which compacts the log), mid-load.
 * After each: every reading the bridge accepted is in both stores exactly once.
 */
import { spawn } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, makeScratchDir, type TestDatabase } from '../support/kit.ts';
import { runQueryScript, stackEnv, type StackProcess, startStackProcess, stopStack, warehouseRowsVia } from '../support/stack-process.ts';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.ts';
import { isClean, pause, printFigures, registerDevices, settle, startDeviceLoad } from '../support/device-load.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let tdb: TestDatabase;
let env: Record<string, string>;
let stack: StackProcess;
let pubsubDisk: Tmpfs;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const dataDir = makeScratchDir('chaos-data-');
  // The Pub/Sub log on a disk of its own that the scenario can fill; the rest on the real disk.
  pubsubDisk = mountTmpfs(4 * 1024 * 1024);
  env = await stackEnv(dataDir, { DATABASE_URL: tdb.url, ADMIN_TOKEN: 'chaos-admin', LOG_LEVEL: 'error' });
  rmSync(join(dataDir, 'pubsub'), { recursive: true, force: true });
  symlinkSync(pubsubDisk.dir, join(dataDir, 'pubsub'));
  stack = await startStackProcess(env);
});

afterAll(async () => {
  await stopStack(stack, 'SIGKILL');
  pubsubDisk?.unmount();
  await tdb?.drop();
});

const settleStores = (accepted: Map<string, number[]>) => settle(tdb.db, warehouseRowsVia(env.DATA_DIR as string), accepted);

/** `npm run query` as an analyst types it; resolves with its exit code and stderr. */
function analyst(sql: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['scripts/query.ts', sql], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: env.DATA_DIR },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

describe('npm start under data-path faults', () => {
  it('an analyst trying to hold a transaction while ingest writes, then kill -9: nothing lost or duplicated', async () => {
    const devices = await registerDevices(stack, 'chaos-admin', 'analyst', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
    await pause(2_000);
    const attempts = await Promise.all(['BEGIN TRANSACTION', 'DELETE FROM measurements', "COPY measurements TO '/tmp/chaos-leak.csv'"].map(analyst));
    for (const attempt of attempts) expect(attempt.code, attempt.stderr).not.toBe(0);
    // Reads still work beside the writer.
    expect((await runQueryScript(env.DATA_DIR as string, 'SELECT count(*) AS n FROM measurements'))[0]?.n).toBeDefined();
    await pause(2_000);
    stack.child.kill('SIGKILL');
    await stack.exited;
    stack = await startStackProcess(env);
    await pause(2_000);
    await load.stop();
    const { report, settleMs } = await settleStores(load.accepted);
    printFigures('analyst BEGIN/DELETE/COPY through npm run query during ingest, then kill -9', {
      ...report,
      statuses: Object.fromEntries(load.statuses),
      settleMs,
      refused: attempts.length,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
    expect(report.accepted).toBeGreaterThan(50);
  });

  it('a full disk under the Pub/Sub log: 503 while full, nothing accepted lost, accepting again once freed', async () => {
    const devices = await registerDevices(stack, 'chaos-admin', 'full-disk', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices, retryDelayMs: 300 });
    await pause(2_000);
    // Fill what is left of the log's disk.
    const filler = join(pubsubDisk.dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
    } catch {
      // ENOSPC once the disk is full: what was written stays, which is the point.
    }
    await pause(4_000);
    const during = { ...Object.fromEntries(load.statuses) };
    rmSync(filler, { force: true });
    const freedAt = Date.now();
    const resumed = load.acceptedTotal();
    for (let i = 0; i < 300 && load.acceptedTotal() === resumed; i++) await pause(100);
    const recoveryMs = Date.now() - freedAt;
    await pause(2_000);
    await load.stop();
    const { report, settleMs } = await settleStores(load.accepted);
    printFigures('full disk under the local Pub/Sub log (tmpfs), 4 s', { ...report, statuses: Object.fromEntries(load.statuses), recoveryMs, settleMs });
    expect(during['503'] ?? 0).toBeGreaterThan(0);
    expect(load.statuses.get('500') ?? 0).toBe(0);
    expect(isClean(report), JSON.stringify(report)).toBe(true);
  });

  it('kill -9 again and again (mid-load, during start-up and its log compaction, mid-load): nothing lost or duplicated', async () => {
    const devices = await registerDevices(stack, 'chaos-admin', 'kill-again', 6);
    const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
    const restarts: number[] = [];
    for (let round = 0; round < 2; round++) {
      await pause(1_500);
      stack.child.kill('SIGKILL');
      await stack.exited;
      // Killed while starting: opening the log replays and compacts it.
      const starting = spawn(process.execPath, ['scripts/start.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
      await pause(300 + round * 400);
      starting.kill('SIGKILL');
      await new Promise((resolve) => starting.once('exit', resolve));
      const killedAt = Date.now();
      stack = await startStackProcess(env);
      restarts.push(Date.now() - killedAt);
    }
    await pause(2_000);
    await load.stop();
    const { report, settleMs } = await settleStores(load.accepted);
    printFigures('kill -9 x2 mid-load, each followed by kill -9 during start-up', {
      ...report,
      statuses: Object.fromEntries(load.statuses),
      restartMs: restarts,
      settleMs,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
    expect(report.accepted).toBeGreaterThan(50);
  });
});
