import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Process and timing tests share 2 cores in CI: keep files from starving each other.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
