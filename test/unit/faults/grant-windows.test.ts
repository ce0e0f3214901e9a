// The fault audit's window check over the shared budget's grants (test/support/fault-grants.ts):
// its bound is at most `limit` grants in any window of window + transit allowance, 429s given back
// left out of the verdict but kept in view.
import { describe, expect, it } from 'vitest';
import { type BudgetWindow, type Grant, grantWindows } from '../../support/fault-grants.ts';

const budget: Record<string, BudgetWindow> = {
  'get-conversations': { limit: 3, windowMs: 1_000, transitMs: 50 },
};

function grants(slots: readonly number[], options: { user?: string; givenBack?: number } = {}): Grant[] {
  return slots.map((slot, i) => ({
    key: `${options.user ?? 'u1'}#get-conversations`,
    operationId: 'get-conversations',
    slot,
    resolvedAt: slot + i,
    ...(options.givenBack === i ? { givenBackAt: slot + 100 } : {}),
  }));
}

describe('grantWindows', () => {
  it('when limit + 1 grants of one key fall within window + transit, then its busiest window holds limit + 1', () => {
    const log = grants([0, 400, 800, 1_049]);

    const [windows] = grantWindows(log, budget);

    expect(windows?.peakCounted).toBe(4);
    expect(windows?.spanMs).toBe(1_050);
  });

  it('when each grant lies window + transit after the one limit places before it, then no window holds more than the limit', () => {
    const log = grants([0, 400, 800, 1_050, 1_450, 1_850]);

    const [windows] = grantWindows(log, budget);

    expect(windows?.peakCounted).toBe(3);
    expect(windows?.peakAll).toBe(3);
  });

  it('when a 429 gave one of limit + 1 grants back, then the verdict leaves it out and the figure with it in passes the limit', () => {
    const log = grants([0, 400, 800, 900], { givenBack: 2 });

    const [windows] = grantWindows(log, budget);

    expect(windows?.peakCounted).toBe(3);
    expect(windows?.peakAll).toBe(4);
    expect(windows?.givenBack).toBe(1);
  });

  it('when two users share an operation, then each key is counted on its own', () => {
    const log = [...grants([0, 10, 20], { user: 'u1' }), ...grants([5, 15, 25], { user: 'u2' })];

    const windows = grantWindows(log, budget);

    expect(windows.map((w) => [w.key, w.peakCounted])).toEqual([
      ['u1#get-conversations', 3],
      ['u2#get-conversations', 3],
    ]);
    expect(Math.max(...windows.map((w) => w.maxLateMs))).toBe(2);
  });
});
