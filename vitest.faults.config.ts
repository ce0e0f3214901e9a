// The fault scenarios of issue #12 (test/faults/): every scenario through the deployed handlers,
// each followed by the same audit. Slow, so apart from `npm test`: `npm run test:faults`. A small
// setting runs in `npm test` (test/integration/faults-smoke.test.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // The machine is shared: one scenario file at a time.
    fileParallelism: false,
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
