import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Process and timing tests share 2 cores in CI: keep files from starving each other.
    maxWorkers: 2,
    // expect.poll waits for something to happen, not for it to be fast: 1 s (vitest's
    // default) is too short on a busy machine.
    expect: { poll: { timeout: 10_000 } },
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
