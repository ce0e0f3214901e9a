// The run summary's two outlook lines, from a run record's outlook: the budget shares, what waits,
// and each kind of catch-up said in words.
import { describe, expect, it } from 'vitest';
import { outlookLines } from '../../../cli/commands/run.ts';
import type { RunOutlook } from '../../../shared/archive-format/documents.ts';

function outlook(overrides: Partial<RunOutlook> = {}): RunOutlook {
  return {
    at: '2026-12-01T11:00:00.000Z',
    from: '2026-12-01T10:00:00.000Z',
    period_hours: 1,
    arrivals_per_hour: 40,
    archived_per_hour: 50,
    operations: {
      'get-conversation-messages': {
        calls: 150,
        limit: 30,
        window_ms: 60_000,
        budget_share: 0.0833,
        calls_per_hour: null,
        per_conversation: 3,
      },
      'get-interaction-insights': {
        calls: 900,
        limit: 20,
        window_ms: 60_000,
        budget_share: 0.75,
        calls_per_hour: null,
        per_conversation: 18,
      },
      'get-conversations': {
        calls: 2,
        limit: 15,
        window_ms: 60_000,
        budget_share: 0.0022,
        calls_per_hour: null,
        per_conversation: 0.04,
      },
    },
    arrivals: 40,
    archived: 50,
    backlog: 20,
    given_up: 0,
    oldest_waiting_since: '2026-12-01T08:00:00.000Z',
    bottleneck: 'get-interaction-insights',
    catch_up: 'estimated',
    catch_up_hours: 0.75,
    waiting_runs: [],
    partial: false,
    ...overrides,
  };
}

describe('outlookLines', () => {
  it('when 20 conversations wait and catch up in 0.75 h, then the budgets are listed fullest first and the catch-up is said', () => {
    const lines = outlookLines(outlook());

    expect(lines).toEqual([
      '  budget        since the previous run (1 h): get-interaction-insights 75%, get-conversation-messages 8%, get-conversations <1%; bottleneck get-interaction-insights (18 calls a conversation)',
      '  waiting       20 at the end of the listing, oldest since 2026-12-01T08:00:00.000Z; catch-up in about 0.75 h',
    ]);
  });

  it('when the arrivals use the whole budget, then the summary says the backlog never drains and why', () => {
    const lines = outlookLines(outlook({ catch_up: 'never', catch_up_hours: null }));

    expect(lines[1]).toContain(
      'catch-up NEVER at this rate: the arrivals alone use the whole get-interaction-insights budget',
    );
  });

  it('when archive jobs call on while nothing has been archived for a day, then the summary says that, not that arrivals fill the budget', () => {
    const stuck = outlook();
    const insights = stuck.operations['get-interaction-insights'] as RunOutlook['operations'][string];
    const lines = outlookLines({
      ...stuck,
      archived_per_hour: 0,
      operations: {
        ...stuck.operations,
        'get-interaction-insights': { ...insights, per_conversation: null },
      },
      catch_up: 'never',
      catch_up_hours: null,
    });

    expect(lines[1]).toContain(
      'catch-up NEVER at this rate: get-interaction-insights calls go on while nothing has been archived for a day',
    );
  });

  it('when nothing waits, then it says so', () => {
    const lines = outlookLines(
      outlook({ backlog: 0, oldest_waiting_since: null, catch_up: 'caught-up', catch_up_hours: 0 }),
    );

    expect(lines[1]).toBe('  waiting       0 at the end of the listing; nothing waits');
  });

  it('when only what this run found waits, then it says the pipeline has caught up, not that nothing waits', () => {
    const lines = outlookLines(
      outlook({ backlog: 12, catch_up_backlog: 0, catch_up: 'caught-up', catch_up_hours: 0 }),
    );

    expect(lines[1]).toMatch(/12 at the end of the listing.*; caught up \(only what this run found waits\)$/);
  });

  it('when less than a day of arrivals is averaged, then the estimate says how many hours it stands on', () => {
    const lines = outlookLines(outlook({ arrivals_hours: 5, catch_up_hours: 16.2 }));

    expect(lines[1]).toMatch(/catch-up in about 16\.2 h \(from 5 h of arrivals: firmer after a day\)$/);
  });

  it('when no arrivals are averaged yet (the first outlook), then the estimate carries no note of hours', () => {
    const lines = outlookLines(outlook({ arrivals_hours: 0, catch_up_hours: 2.5 }));

    expect(lines[1]).toMatch(/catch-up in about 2\.5 h$/);
  });
});
