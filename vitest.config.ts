import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/support/count-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['./test/support/platform-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One platform per run; the files share it, so they run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
