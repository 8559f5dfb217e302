import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the fault scenarios (real processes, minutes), apart from `npm test`. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    env: { METADATA_SERVER_DETECTION: 'none' },
    pool: 'forks',
    // One fault at a time: scenarios share the machine's CPU and would distort each other.
    fileParallelism: false,
  },
});
