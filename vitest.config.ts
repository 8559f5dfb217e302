import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'functions/**/*.test.ts', 'shared/**/*.test.ts', 'schemas/**/*.test.ts'],
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
