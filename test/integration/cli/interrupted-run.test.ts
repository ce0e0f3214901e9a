// Ctrl-C in the middle of `run`, as a person does it: the run stops, prints what it did and says
// it was interrupted; the next `run` archives what it left and names the run that left it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, runCli, startCli } from './cli-process.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('run, interrupted', () => {
  it('when run gets Ctrl-C part-way, then it says what it did and the next run archives the rest', async () => {
    const home = await mkdtemp(join(tmpdir(), 'cli-interrupt-'));
    cleanups.push(() => rm(home, { recursive: true, force: true }));
    const sim = await startCli(
      ['simulate', '--port', '0', '--conversations', '12', '--large-recordings', '0', '--rate-scale', '240'],
      { cwd: home, env: baseEnv(home), ready: /^Control: /m },
    );
    cleanups.push(() => sim.stop());
    const env: Record<string, string> = { ...baseEnv(home) };
    for (const line of sim.stdout().split('\n')) {
      const m = /^export (AMIGO_\w+)=(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
    }
    // One archive invocation at a time, so that the interrupt leaves conversations unstarted.
    const args = ['run', '--archive', './archive', '--rate-scale', '240', '--workers', '1'];

    // The first run: Ctrl-C once the first conversations are done.
    let sent = false;
    const first = await runCli(args, {
      cwd: home,
      env,
      limitMs: 120_000,
      onOutput: ({ stderr, child }) => {
        if (!sent && /archive: [1-9]\d*\/\d+\+? done/.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });

    expect(first.stdout).toMatch(/Run (\S+) INTERRUPTED after/);
    expect(first.code).toBe(1);
    const firstRun = /Run (\S+) INTERRUPTED/.exec(first.stdout)?.[1];

    const second = await runCli(args, { cwd: home, env, limitMs: 120_000 });

    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`recovered +\\d+ conversation\\(s\\) that run ${firstRun} did not finish`),
    );
  }, 180_000);
});
