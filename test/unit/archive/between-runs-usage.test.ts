// Calls made for no run (a stall-only scan) are kept beside the last run for the budget outlook,
// but they are not that run's calls: its record and the QA report leave them out.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { readRunAmigo, readUsageSince, writeRunUsage } from '../../../shared/archive/state.ts';
import { usagePrefix } from '../../../shared/archive-format/keys.ts';
import type { RateBudget } from '../../../shared/ports/rate-budget.ts';
import { MeteredRateBudget } from '../../../shared/runtime/metered-budget.ts';
import { withinRun } from '../../../shared/runtime/run-scope.ts';

const RUN = '2026-12-01T10-00-00Z-aaaaaa';
const LIMITS = { 'get-conversation-messages': { limit: 20, windowMs: 60_000 } };
const passThrough: RateBudget = { acquire: async () => 0, observe: () => undefined };

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

describe('usage made between runs', () => {
  it('when a stall-only scan’s calls are written beside the last run, then the outlook reads them and the run’s own calls leave them out', async () => {
    // Arrange: one invocation made 3 calls for the run and 5 for no run.
    const root = await mkdtemp(join(tmpdir(), 'between-runs-'));
    roots.push(root);
    const store = new FsArchiveStore(root);
    const metered = new MeteredRateBudget(passThrough);
    await withinRun(RUN, async () => {
      for (let i = 0; i < 3; i++) metered.observe('get-conversation-messages', { status: 200 });
    });
    for (let i = 0; i < 5; i++) metered.observe('get-conversation-messages', { status: 200 });

    // Act
    await writeRunUsage(store, metered.takeRunUsage('scheduler', LIMITS, { unscopedRunId: RUN }), 't1');
    const keys: string[] = [];
    for await (const o of store.list(usagePrefix(RUN))) keys.push(o.key);
    const own = await readRunAmigo(store, RUN);
    const seen = await readUsageSince(store, [RUN], '2000-01-01T00:00:00.000Z');

    // Assert
    expect(keys.map((k) => k.split('/').pop()).sort()).toEqual([
      'scheduler-between-runs-t1.json',
      'scheduler-t1.json',
    ]);
    expect(own.amigo?.calls['get-conversation-messages']?.answered).toBe(3);
    expect(seen.calls['get-conversation-messages']?.answered).toBe(8);
  });
});
