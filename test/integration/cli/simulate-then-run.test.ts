// The README's "try it without an Amigo account" path, as a newcomer runs it: `simulate` in one
// shell, its printed lines pasted into another (a POSIX shell), then `run`. Both are the real CLI.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, CLI, runProcess, startCli } from './cli-process.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every progress line as numbers: done/total(+) done, failed. */
function progressLines(stderr: string) {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('archive:'))
    .map((l) => {
      const m = /^archive: (\d+)\/(\d+)\+? done, (\d+) failed/.exec(l);
      if (!m) throw new Error(`not a progress line: ${l}`);
      return { done: Number(m[1]), total: Number(m[2]), failed: Number(m[3]) };
    });
}

/** `simulate` started in a fresh home folder, with the lines it printed. */
async function simulateInNewHome(): Promise<{ home: string; printed: string[] }> {
  const home = await mkdtemp(join(tmpdir(), 'cli-sim-'));
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  const sim = await startCli(
    ['simulate', '--port', '0', '--conversations', '6', '--large-recordings', '0', '--rate-scale', '600'],
    { cwd: home, env: baseEnv(home), ready: /^Control: /m },
  );
  cleanups.push(() => sim.stop());
  return { home, printed: sim.stdout().split('\n') };
}

describe('simulate, then run with the printed lines', () => {
  it('when the printed lines are pasted into a shell that then runs `run`, then the run archives the simulated organisation', async () => {
    const { home, printed } = await simulateInNewHome();
    const exports = printed.filter((l) => l.startsWith('export '));
    const then = printed.find((l) => l.startsWith('Then: ')) ?? '';

    expect(exports.map((l) => l.split('=')[0])).toEqual([
      'export AMIGO_BASE_URL',
      'export AMIGO_ORGANIZATION_ID',
      'export AMIGO_API_KEY',
      'export AMIGO_API_KEY_ID',
      'export AMIGO_USER_ID',
    ]);
    expect(then).toBe('Then: npm run cli -- run --archive ./archive --rate-scale 600');

    // What a newcomer does: paste the lines, then run the suggested command (here `node cli/main.ts`).
    const script = `${exports.join('\n')}\nexec "${process.execPath}" "${CLI}" run --archive ./archive --rate-scale 600\n`;
    const run = await runProcess('sh', ['-c', script], { cwd: home, env: baseEnv(home), limitMs: 120_000 });

    expect(run.stderr).not.toMatch(/is not set/);
    expect(run.code).toBe(0);
    const archived = Number(/^ {2}archived +(\d+)/m.exec(run.stdout)?.[1]);
    expect(archived).toBeGreaterThan(0);
    const progress = progressLines(run.stderr);
    for (const p of progress) expect(p.total).toBeGreaterThanOrEqual(p.done + p.failed);
    expect(progress.at(-1)).toEqual({ done: archived, total: archived, failed: 0 });
  });

  it('when run is given --report, then it ends by building the QA report of the archive and printing where to open it', async () => {
    const { home, printed } = await simulateInNewHome();
    const exports = printed.filter((l) => l.startsWith('export '));
    const script = `${exports.join('\n')}\nexec "${process.execPath}" "${CLI}" run --archive ./archive --rate-scale 600 --report ./report\n`;

    const run = await runProcess('sh', ['-c', script], { cwd: home, env: baseEnv(home), limitMs: 120_000 });

    expect(run.code, run.stderr).toBe(0);
    const archived = Number(/^ {2}archived +(\d+)/m.exec(run.stdout)?.[1]);
    expect(run.stdout).toMatch(new RegExp(`^Report: ${archived} conversations?,`, 'm'));
    const entry = join(home, 'report', 'index.html');
    expect(run.stdout).toContain(pathToFileURL(entry).href);
    expect(await readFile(entry, 'utf8')).toContain('Content-Security-Policy');
  });
});
