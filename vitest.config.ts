import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

// Vitest's default is one worker fewer than the cores: on CI's 2 cores that is one, so the files ran
// one at a time while the second core sat idle. Two workers there; files are separate processes with
// their own ports (port 0) and temp folders, and the timing assertions are lower bounds or use
// manual clocks, which contention does not break. More cores keep vitest's own default.
const maxWorkers = Math.max(2, availableParallelism() - 1);

// Files whose pass depends on keeping up with a wall clock (a simulated day lasts 7.5 s): they run
// after the others, alone, so that a file beside them cannot take the CPU they need.
const alone = ['test/integration/week-smoke.test.ts'];

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
          // A few unit tests do real work (esbuild bundling, dependency-cruiser, a child process):
          // about a second alone, more beside another file on 2 cores. Timeouts catch hangs, not speed.
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...alone],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration-alone',
          include: alone,
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
