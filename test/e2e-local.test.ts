/**
 * `npm start` on embedded defaults (PGlite, DuckDB, the in-process Pub/Sub), driven as a user
 * would: a spawned process on free ports with a temp DATA_DIR.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, it } from 'vitest';
import { openPglite } from '../shared/db/pglite.ts';
import { runPipelineScenario } from './support/e2e-scenario.ts';
import { stackEnv } from './support/stack-process.ts';

const dataDir = await mkdtemp(join(tmpdir(), 'e2e-local-'));
afterAll(() => rm(dataDir, { recursive: true, force: true }));

it('runs the pipeline end to end on embedded defaults, dead-letters a poison message, and survives kill -9', async () => {
  await runPipelineScenario({
    env: await stackEnv(dataDir),
    countDeadLettered: async (stack) => {
      const response = await fetch(`${stack.state.internalUrl}/internal/stats`, { headers: { authorization: `Bearer ${stack.state.adminToken}` } });
      return ((await response.json()) as { deadLettered: number }).deadLettered;
    },
    openDatabase: () => openPglite(join(dataDir, 'pglite')),
  });
}, 180_000);
