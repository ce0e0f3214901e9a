import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Vitest's default is one worker fewer than the cores: on CI's 2 cores that is one, so the files ran
// one at a time while the second core sat idle. Two workers there; files are separate processes with
// their own ports (port 0) and temp folders, and the timing assertions are lower bounds or use
// manual clocks, which contention does not break. More cores keep vitest's own default.
const maxWorkers = Math.max(2, availableParallelism() - 1);

export default defineConfig({
  test: {
    maxWorkers,
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Handlers log through Powertools: keep test output to warnings, and no EMF metric lines.
    env: {
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
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
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
