import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every test lives under test/; docs/testing.md says where a module's test goes.
    include: ['test/**/*.test.ts'],
    // The fault scenarios take minutes: `npm run test:chaos` (vitest.chaos.config.ts).
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // No metadata-server probing: tests never run on Google Cloud.
    env: { METADATA_SERVER_DETECTION: 'none' },
    hookTimeout: 60_000,
    // Each file gets its own PostgreSQL database, so files may run in parallel.
    pool: 'forks',
  },
});
