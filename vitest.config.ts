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
          // One platform per run (test/support/platform-setup.ts); the files share it, so they run one at a time,
          // after the unit files (a project without a groupOrder and without file parallelism would run last).
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Tests of the node itself (limits, network isolation, images, two nodes, Knative), each file on a platform
        // of its own; `npm test` runs them last, `npm run test:real-node` alone.
        test: {
          name: 'real-node',
          include: ['test/real-node/**/*.test.ts'],
          environment: 'node',
          // After the integration files, never beside them: each of these starts platforms of its own (Knative, two
          // nodes), more than the 2-CPU machine runs beside the integration run's.
          sequence: { groupOrder: 2 },
          testTimeout: 180_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
