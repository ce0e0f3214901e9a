import { describe, expect, it } from 'vitest';
import type { OperationId } from '../../../shared/openapi/index.ts';
import type { RateBudget, RateFeedback } from '../../../shared/ports/rate-budget.ts';
import { MeteredRateBudget } from '../../../shared/runtime/metered-budget.ts';

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
});
