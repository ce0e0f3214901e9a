import { describe, expect, it } from 'vitest';
import type { OperationId } from '../../../shared/openapi/index.ts';
import type { RateBudget, RateFeedback } from '../../../shared/ports/rate-budget.ts';
import { MeteredRateBudget } from '../../../shared/runtime/metered-budget.ts';
import { withinRun } from '../../../shared/runtime/run-scope.ts';

const LIMITS = {
  'get-conversations': { limit: 15, windowMs: 60_000 },
  'get-interaction-insights': { limit: 20, windowMs: 60_000 },
};

function innerBudget() {
  const seen: [OperationId, RateFeedback][] = [];
  const budget: RateBudget = {
    acquire: async () => 1_000,
    observe: (op, feedback) => {
      seen.push([op, feedback]);
    },
  };
  return { budget, seen };
}

describe('MeteredRateBudget', () => {
  it('when calls are answered, then it counts them and the 429s per operation and still tells the budget it wraps', async () => {
    const { budget, seen } = innerBudget();
    const metered = new MeteredRateBudget(budget);

    expect(await metered.acquire('get-conversations')).toBe(1_000);
    metered.observe('get-conversations', { status: 200 });
    metered.observe('get-conversations', { status: 429, retryAfterMs: 1_000 });
    metered.observe('get-interaction-insights', { status: 200 });
    metered.observe('get-interaction-insights', { status: 0, lost: true });

    expect(Object.fromEntries(metered.counts())).toEqual({
      'get-conversations': { answered: 2, throttled: 1 },
      'get-interaction-insights': { answered: 1, throttled: 0 },
    });
    expect(seen).toHaveLength(4);
  });

  it('when published, then the counts start again from zero', () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    metered.observe('get-conversations', { status: 200 });

    metered.publish();

    expect(metered.counts().size).toBe(0);
  });

  it('when jobs of two runs call concurrently, then each call is counted for the run whose scope made it', async () => {
    let now = 1_000;
    const metered = new MeteredRateBudget(innerBudget().budget, { now: () => now });
    const call = async (op: OperationId, status: number) => {
      await metered.acquire(op);
      await new Promise((r) => setTimeout(r, 1));
      metered.observe(op, { status });
      now += 1_000;
    };

    await Promise.all([
      withinRun('run-a', async () => {
        await call('get-interaction-insights', 200);
        await call('get-interaction-insights', 429);
      }),
      withinRun('run-b', () => call('get-conversations', 200)),
      withinRun(null, () => call('get-conversations', 200)),
    ]);
    const usages = metered.takeRunUsage('archive-worker', LIMITS);

    expect(usages.map((u) => [u.run_id, u.calls])).toEqual([
      ['run-a', { 'get-interaction-insights': { answered: 2, throttled: 1 } }],
      ['run-b', { 'get-conversations': { answered: 1, throttled: 0 } }],
    ]);
    expect(usages[0]).toMatchObject({
      schema: 'amigo-qa/run-usage',
      source: 'archive-worker',
      limits: { 'get-interaction-insights': { limit: 20, window_ms: 60_000 } },
    });
    expect(Date.parse(usages[0]?.to ?? '')).toBeGreaterThan(Date.parse(usages[0]?.from ?? ''));
    expect(metered.takeRunUsage('archive-worker', LIMITS)).toEqual([]);
  });

  it('when the scheduler claims the calls made outside any run, then they count for its run, added to the scoped ones', async () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    metered.observe('get-conversations', { status: 200 });
    metered.observe('get-conversations', { status: 429 });
    await withinRun('run-a', async () => metered.observe('get-conversations', { status: 200 }));

    metered.claimUnscoped('run-a');

    expect(metered.takeRunUsage('scheduler', LIMITS).map((u) => [u.run_id, u.calls])).toEqual([
      ['run-a', { 'get-conversations': { answered: 3, throttled: 1 } }],
    ]);
  });

  it('when nothing claims the unscoped calls, then no usage document holds them', () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    metered.observe('get-conversations', { status: 200 });

    metered.claimUnscoped(undefined);

    expect(metered.takeRunUsage('scheduler', LIMITS)).toEqual([]);
  });

  it('when archive jobs’ grants come after a quarter of the slot spacing or sooner, then the usage counts them and those that waited; other callers’ grants are not counted', async () => {
    // Insights at 20 a minute: a slot every 3 s, so a grant 750 ms or more after the ask waited.
    let now = 0;
    const delays = [0, 749, 750, 5_000];
    const budget: RateBudget = {
      acquire: async () => {
        now += delays.shift() ?? 0;
        return now;
      },
      observe: () => undefined,
    };
    const metered = new MeteredRateBudget(budget, { now: () => now, limits: LIMITS });

    await withinRun('run-a', async () => {
      await metered.archiveJob(async () => {
        for (let i = 0; i < 3; i++) await metered.acquire('get-interaction-insights');
      });
      await metered.acquire('get-interaction-insights');
    });
    const [usage] = metered.takeRunUsage('local', LIMITS);

    expect(usage?.archive_waits).toEqual({ 'get-interaction-insights': { acquired: 3, waited: 1 } });
    // No call was answered: the grants name the operation's limit and leave the span where it began.
    expect(usage?.limits).toEqual({ 'get-interaction-insights': { limit: 20, window_ms: 60_000 } });
    expect(usage?.to).toBe(new Date(0).toISOString());
  });

  it('when usage is taken with keepUnscoped before the scheduler claims its calls, then the run’s calls are taken and the unscoped ones wait for the claim', async () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    metered.observe('get-conversations', { status: 200 });
    await withinRun('run-a', async () => metered.observe('get-interaction-insights', { status: 200 }));

    const taken = metered.takeRunUsage('local', LIMITS, { keepUnscoped: true });
    metered.claimUnscoped('run-b');

    expect(taken.map((u) => [u.run_id, u.calls])).toEqual([
      ['run-a', { 'get-interaction-insights': { answered: 1, throttled: 0 } }],
    ]);
    expect(metered.takeRunUsage('local', LIMITS).map((u) => [u.run_id, u.calls])).toEqual([
      ['run-b', { 'get-conversations': { answered: 1, throttled: 0 } }],
    ]);
  });

  it('when two archive jobs and a stall check call within one run, then the archive jobs’ calls and the conversation they archived are counted apart', async () => {
    const metered = new MeteredRateBudget(innerBudget().budget);

    await withinRun('run-a', async () => {
      await metered.archiveJob(async (archived) => {
        metered.observe('get-interaction-insights', { status: 200 });
        metered.observe('get-interaction-insights', { status: 429 });
        archived();
      });
      // Found archived already: its calls count, no conversation does.
      await metered.archiveJob(async () => {
        metered.observe('get-interaction-insights', { status: 200 });
      });
      metered.observe('get-interaction-insights', { status: 200 });
    });
    const [usage] = metered.takeRunUsage('local', LIMITS);

    expect(usage).toMatchObject({
      run_id: 'run-a',
      calls: { 'get-interaction-insights': { answered: 4, throttled: 1 } },
      archive_calls: { 'get-interaction-insights': { answered: 3, throttled: 1 } },
      archived: 1,
    });
  });

  it('when a stall scan without a run is taken with the last run named, then its calls are in a document of their own beside that run, marked between runs', async () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    metered.observe('get-interaction-insights', { status: 200 });
    metered.observe('get-interaction-insights', { status: 200 });
    await withinRun('run-last', async () => metered.observe('get-conversations', { status: 200 }));

    expect(metered.hasUnscoped()).toBe(true);
    const usages = metered.takeRunUsage('scheduler', LIMITS, { unscopedRunId: 'run-last' });

    expect(usages.map((u) => [u.run_id, u.calls, u.between_runs])).toEqual([
      ['run-last', { 'get-interaction-insights': { answered: 2, throttled: 0 } }, true],
      ['run-last', { 'get-conversations': { answered: 1, throttled: 0 } }, undefined],
    ]);
    expect(metered.hasUnscoped()).toBe(false);
  });

  it('when a job says its conversation archived and then fails (its tag job could not be sent), then its calls and the conversation count, once however often it says so', async () => {
    // Arrange
    const metered = new MeteredRateBudget(innerBudget().budget);

    // Act
    const job = withinRun('run-a', () =>
      metered.archiveJob(async (archived) => {
        metered.observe('get-interaction-insights', { status: 200 });
        archived();
        archived();
        throw new Error('Could not enqueue the tag job');
      }),
    );

    // Assert
    await expect(job).rejects.toThrow('Could not enqueue the tag job');
    const [usage] = metered.takeRunUsage('local', LIMITS);
    expect(usage).toMatchObject({
      archive_calls: { 'get-interaction-insights': { answered: 1 } },
      archived: 1,
    });
  });

  it('when archive jobs of two runs interleave with calls outside any job, then each call counts for its own run and only the jobs’ calls as archive calls', async () => {
    const metered = new MeteredRateBudget(innerBudget().budget);
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    const job = (runId: string, calls: number) =>
      withinRun(runId, () =>
        metered.archiveJob(async (archived) => {
          for (let i = 0; i < calls; i++) {
            await tick();
            metered.observe('get-interaction-insights', { status: 200 });
          }
          archived();
        }),
      );
    const outside = withinRun('run-a', async () => {
      for (let i = 0; i < 3; i++) {
        await tick();
        metered.observe('get-interaction-insights', { status: 200 });
      }
    });

    await Promise.all([job('run-a', 4), job('run-b', 2), job('run-a', 1), outside]);
    const byRun = Object.fromEntries(metered.takeRunUsage('local', LIMITS).map((u) => [u.run_id, u]));

    expect(byRun['run-a']).toMatchObject({
      calls: { 'get-interaction-insights': { answered: 8 } },
      archive_calls: { 'get-interaction-insights': { answered: 5 } },
      archived: 2,
    });
    expect(byRun['run-b']).toMatchObject({
      calls: { 'get-interaction-insights': { answered: 2 } },
      archive_calls: { 'get-interaction-insights': { answered: 2 } },
      archived: 1,
    });
  });
});
