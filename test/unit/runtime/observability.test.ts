// What the functions write to CloudWatch about metrics: run in a fresh process with the real
// Powertools logger and metrics, and read back from stdout/stderr.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function linesOf(script: string): string[] {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  expect(run.status, run.stderr).toBe(0);
  return `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => line.startsWith('{'));
}

describe('metrics output', () => {
  it("when an invocation counted nothing, then no warning is logged for it, while metrics' other warnings still are", () => {
    const lines = linesOf(`
      const { metrics } = await import('./shared/observability.ts');
      metrics.publishStoredMetrics();
      metrics.addDimension('', 'no name');
    `);

    expect(lines.some((l) => l.includes('No application metrics'))).toBe(false);
    expect(lines.some((l) => l.includes("doesn't meet the requirements"))).toBe(true);
  });
});
