/**
 * `npm start` against the real things: the official Pub/Sub emulator (PUBSUB_EMULATOR_HOST,
 * unique topic names per run) and the machine's PostgreSQL (DATABASE_URL). The emulator
 * honours the dead-letter policy the stack sets on the telemetry subscription.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, inject, it } from 'vitest';
import { openPostgres } from '../shared/db/postgres.ts';
import { runPipelineScenario } from './support/e2e-scenario.ts';
import { createTestDatabase, testConfig, type TestDatabase } from './support/kit.ts';
import { stackEnv } from './support/stack-process.ts';

const dataDir = await mkdtemp(join(tmpdir(), 'e2e-emulator-'));
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
});

it('runs the pipeline end to end through the Pub/Sub emulator and PostgreSQL, dead letters included', async () => {
  const suffix = randomBytes(4).toString('hex');
  await runPipelineScenario({
    env: await stackEnv(dataDir, {
      PUBSUB_EMULATOR_HOST: inject('pubsubEmulatorHost'),
      DATABASE_URL: database.url,
      TELEMETRY_TOPIC: `telemetry-${suffix}`,
      DEAD_LETTER_TOPIC: `telemetry-dead-letter-${suffix}`,
      // The emulator's retries as quick as they were before the local window grew: the poison
      // message is dead-lettered within seconds even on a loaded machine.
      PUBSUB_MIN_BACKOFF_MS: '100',
    }),
    countDeadLettered: async () => {
      const result = await database.db.query<{ n: string }>("SELECT count(*)::text AS n FROM rejected WHERE stage = 'deadletter'");
      return Number(result.rows[0]?.n);
    },
    openDatabase: () => openPostgres(testConfig({ DATABASE_URL: database.url })),
  });
}, 180_000);
