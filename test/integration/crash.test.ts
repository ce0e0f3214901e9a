// The crash trials (bench/crash/crash-trials.ts) in small: 5 trials of a worker process SIGKILLed at
// random points while archiving into a folder store, then a last worker run to completion. The
// 50-trial run is `npm run bench:crash`; bench/crash/README.md lists what is checked.
import { describe, expect, it } from 'vitest';
import { runCrashTrials } from '../../bench/crash/crash-trials.ts';

describe('archive worker crashes', () => {
  it('when the worker is killed at random points, then every conversation is archived exactly once and no manifest points at a missing or different file', async () => {
    const lines: string[] = [];
    const report = await runCrashTrials({ trials: 5, seed: 1, keepFailed: false, log: (l) => lines.push(l) });

    const failures = report.results
      .filter((r) => !r.ok)
      .map((r) => ({ trial: r.trial, problems: r.problems }));
    expect(failures, lines.join('\n')).toEqual([]);
    expect(report.passed).toBe(5);
    expect(report.kills).toBeGreaterThanOrEqual(5);
  }, 120_000);
});
