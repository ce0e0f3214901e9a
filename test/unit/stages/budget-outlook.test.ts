// The budget outlook's arithmetic, checked against figures worked by hand. Insights at 20 a minute is
// 1,200 calls an hour, messages at 30 a minute 1,800.
import { describe, expect, it } from 'vitest';
import { budgetOutlook, type OutlookInput } from '../../../shared/stages/budget-outlook.ts';

const HOUR = 3_600_000;
const insights = (calls: number) => ({ calls, limit: 20, windowMs: 60_000 });
const messages = (calls: number) => ({ calls, limit: 30, windowMs: 60_000 });

function anHour(overrides: Partial<OutlookInput> = {}): OutlookInput {
  return {
    periodMs: HOUR,
    usage: { 'get-interaction-insights': insights(900), 'get-conversation-messages': messages(150) },
    arrivals: 125,
    archived: 150,
    backlog: 300,
    ...overrides,
  };
}

describe('budgetOutlook', () => {
  it('when an hour used 900 of 1,200 insights calls for 150 conversations, then each operation’s share and calls per conversation are those', () => {
    const outlook = budgetOutlook(anHour());

    expect(outlook.period_hours).toBe(1);
    expect(outlook.operations['get-interaction-insights']).toEqual({
      calls: 900,
      limit: 20,
      window_ms: 60_000,
      budget_share: 0.75,
      calls_per_hour: 900,
      per_conversation: 6,
    });
    // 150 / 1,800 = 0.08333
    expect(outlook.operations['get-conversation-messages']?.budget_share).toBe(0.0833);
    expect(outlook.operations['get-conversation-messages']?.per_conversation).toBe(1);
  });

  it('when insights take 6 of 1,200 an hour per conversation and messages 1 of 1,800, then insights is the bottleneck and 300 waiting drain in 4 hours beside 125 arrivals an hour', () => {
    // spare = 1,200 - 125 x 6 = 450 calls an hour; 300 x 6 / 450 = 4 hours
    const outlook = budgetOutlook(anHour());

    expect(outlook.bottleneck).toBe('get-interaction-insights');
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_hours).toBe(4);
  });

  it('when the period is two hours, then the budget and the arrival rate are per two hours', () => {
    // share = 1,200 / 2,400; arrivals 100 / 2 h = 50 an hour; spare = 1,200 - 50 x 6 = 900; 60 x 6 / 900
    const outlook = budgetOutlook(
      anHour({
        periodMs: 2 * HOUR,
        usage: { 'get-interaction-insights': insights(1_200) },
        arrivals: 100,
        archived: 200,
        backlog: 60,
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.budget_share).toBe(0.5);
    expect(outlook.catch_up_hours).toBe(0.4);
  });

  it('when arrivals alone need the whole bottleneck budget, then the catch-up is never', () => {
    // 200 an hour x 6 = 1,200 = the whole insights budget
    const outlook = budgetOutlook(anHour({ arrivals: 200 }));

    expect(outlook.catch_up).toBe('never');
    expect(outlook.catch_up_hours).toBeNull();
    expect(outlook.bottleneck).toBe('get-interaction-insights');
  });

  it('when nothing waits, then it has caught up, whatever the budget', () => {
    const outlook = budgetOutlook(anHour({ backlog: 0, arrivals: 500 }));

    expect(outlook.catch_up).toBe('caught-up');
    expect(outlook.catch_up_hours).toBe(0);
  });

  it('when conversations wait but none was archived in the period, then the catch-up is unknown and no cost per conversation is claimed', () => {
    const outlook = budgetOutlook(anHour({ archived: 0, backlog: 40 }));

    expect(outlook.catch_up).toBe('unknown');
    expect(outlook.catch_up_hours).toBeNull();
    expect(outlook.bottleneck).toBeNull();
    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBeNull();
    expect(outlook.operations['get-interaction-insights']?.budget_share).toBe(0.75);
  });

  it('when messages cost more of their budget per conversation than insights, then messages is the bottleneck', () => {
    // insights 2 / 1,200 = 0.00167 h; messages 4 / 1,800 = 0.00222 h per conversation
    // spare = 1,800 - 100 x 4 = 1,400; 70 x 4 / 1,400 = 0.2 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(200), 'get-conversation-messages': messages(400) },
        archived: 100,
        arrivals: 100,
        backlog: 70,
      }),
    );

    expect(outlook.bottleneck).toBe('get-conversation-messages');
    expect(outlook.catch_up_hours).toBe(0.2);
  });
  it('when an hourly run follows an outlook, then arrivals, archived and calls an hour move a 24th of the way towards the hour’s', () => {
    // arrivals and archived 100 + (124 - 100) / 24 = 101 an hour; insights 600 + (1,200 - 600) / 24
    // = 625 an hour: 625 / 101 = 6.188 a conversation; spare = 1,200 - 101 x 6.188 = 575;
    // 240 x 6.188 / 575 = 2.583 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(1_200) },
        arrivals: 124,
        archived: 124,
        backlog: 240,
        previous: {
          arrivalsPerHour: 100,
          archivedPerHour: 100,
          callsPerHour: { 'get-interaction-insights': 600 },
        },
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(101);
    expect(outlook.archived_per_hour).toBe(101);
    expect(outlook.operations['get-interaction-insights']?.calls_per_hour).toBe(625);
    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBe(6.188);
    expect(outlook.catch_up_hours).toBe(2.58);
  });

  it('when a quiet hour archives nothing and calls nothing, then the day’s cost per conversation still estimates the catch-up', () => {
    // archived 125 x 23/24, insights 750 x 23/24: still 6 a conversation; arrivals stay 125 an hour;
    // spare = 1,200 - 125 x 6 = 450; 30 x 6 / 450 = 0.4 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(0) },
        arrivals: 125,
        archived: 0,
        backlog: 30,
        previous: {
          arrivalsPerHour: 125,
          archivedPerHour: 125,
          callsPerHour: { 'get-interaction-insights': 750 },
        },
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBe(6);
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_hours).toBe(0.4);
  });
});
