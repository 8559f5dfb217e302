/**
 * A PostgreSQL restart under load (`pg_ctl restart -m fast`: every connection terminated, the
 * server down for a moment), against `npm start` on a PostgreSQL of the test's own.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPostgres } from '../../shared/db/postgres.ts';
import type { Database } from '../../shared/db/database.ts';
import { makeScratchDir, testConfig } from '../support/kit.ts';
import { stackEnv, type StackProcess, startStackProcess, stopStack, warehouseRowsVia } from '../support/stack-process.ts';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.ts';
import { isClean, pause, printFigures, registerDevices, settle, startDeviceLoad } from '../support/device-load.ts';

let server: ThrowawayPostgres;
let db: Database;
let env: Record<string, string>;
let stack: StackProcess;

beforeAll(async () => {
  server = await startThrowawayPostgres();
  env = await stackEnv(makeScratchDir('chaos-pg-restart-'), { DATABASE_URL: server.url, ADMIN_TOKEN: 'chaos-admin', LOG_LEVEL: 'error' });
  stack = await startStackProcess(env);
  db = await openPostgres(testConfig({ DATABASE_URL: server.url }));
});

afterAll(async () => {
  await stopStack(stack);
  await db?.close();
  server?.stop();
});

it('a PostgreSQL restart under load loses and duplicates nothing', async () => {
  const devices = await registerDevices(stack, 'chaos-admin', 'pg-restart', 6);
  const load = startDeviceLoad({ bridgeUrl: stack.state.urls.bridge, devices });
  await pause(3_000);
  const restartStarted = Date.now();
  server.restart();
  const restartMs = Date.now() - restartStarted;
  await pause(4_000);
  await load.stop();
  const { report, settleMs } = await settle(db, warehouseRowsVia(env.DATA_DIR as string), load.accepted);
  printFigures('PostgreSQL restart (pg_ctl restart -m fast, own server)', { ...report, statuses: Object.fromEntries(load.statuses), restartMs, settleMs });
  expect(isClean(report), JSON.stringify(report)).toBe(true);
  expect(report.accepted).toBeGreaterThan(100);
});
