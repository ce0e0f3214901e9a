// The budget outlook's arithmetic, checked against figures worked by hand. Insights at 20 a minute is
// 1,200 calls an hour; with the achievable share (0.95) the archive jobs reach 1,140 of them until
// a busy period measures it. Messages at 30 a minute is 1,800 an hour (1,710 reachable).
import { describe, expect, it } from 'vitest';
import { RunOutlookSchema } from '../../../shared/archive-format/documents.ts';
import {
  budgetOutlook,
  catchUpHoursOf,
  type OutlookInput,
  type PreviousRates,
} from '../../../shared/stages/budget-outlook.ts';
import { createRng } from '../../../sim/prng.ts';

const HOUR = 3_600_000;
/** A UTC midnight: a whole number of days since the epoch, where the profile's slot 0 starts. */
const MIDNIGHT = Date.UTC(2026, 11, 1);
const insights = (calls: number, archiveCalls = calls) => ({
  calls,
  archiveCalls,
  limit: 20,
  windowMs: 60_000,
});
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

/** A day of averages behind the outlook: the hour's own figures move them a 24th of the way. */
function aDay(
  rates: {
    arrivals: number;
    archived: number;
    archiveCalls: number;
    other?: number;
    drain?: number | null;
    drainHours?: number;
  },
  hours = 24,
): PreviousRates {
  return {
    arrivalsPerHour: rates.arrivals,
    arrivalsHours: hours,
    archivedPerHour: rates.archived,
    ratesHours: hours,
    operations: {
      'get-interaction-insights': {
        archiveCallsPerHour: rates.archiveCalls,
        otherCallsPerHour: rates.other ?? 0,
        drainCallsPerHour: rates.drain ?? null,
        drainHours: rates.drainHours ?? 0,
      },
    },
  };
}

/** The averages an outlook hands the next one, as takeOutlook reads them from the stored record. */
function carried(outlook: ReturnType<typeof budgetOutlook>): PreviousRates {
  return {
    arrivalsPerHour: outlook.arrivals_per_hour,
    arrivalsHours: outlook.arrivals_hours,
    arrivalsWindow: outlook.arrivals_window,
    arrivalProfile: outlook.arrival_profile,
    archivedPerHour: outlook.archived_per_hour,
    archivedTotal: outlook.archived_total,
    ratesHours: outlook.rates_hours,
    operations: Object.fromEntries(
      Object.entries(outlook.operations).map(([op, o]) => [
        op,
        {
          archiveCallsPerHour: o.archive_calls_per_hour,
          otherCallsPerHour: o.other_calls_per_hour,
          drainCallsPerHour: o.drain_calls_per_hour,
          drainHours: o.drain_hours,
        },
      ]),
    ),
  };
}

/** A week's arrival profile: `office` an hour from 08:00 to 20:00, `night` otherwise. */
function weekOfOfficeHours(office: number, night: number) {
  return {
    slot_ms: HOUR,
    per_hour: Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 20 ? office : night)),
    samples: Array.from({ length: 24 }, () => 7),
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
      archive_calls_per_hour: 900,
      other_calls_per_hour: 0,
      drain_calls_per_hour: null,
      drain_hours: 0,
      capacity_per_hour: 1_140,
      archive_waited_share: null,
    });
    // 150 / 1,800 = 0.08333
    expect(outlook.operations['get-conversation-messages']?.budget_share).toBe(0.0833);
    expect(outlook.operations['get-conversation-messages']?.per_conversation).toBe(1);
  });

  it('when 300 of 900 insights calls were a stall scan’s, then a conversation costs the archive jobs’ 600 / 100 and the scan’s 300 an hour are taken off the capacity', () => {
    // per conversation = 600 / 100 = 6 (not 900 / 100); the other callers are high class, so the
    // reserve is taken to hold: capacity = 1,140 - max(300, 240) = 840, 140 conversations an hour
    // beside 50 arriving: the hourly runs' queue 270 -> 180 -> 90, which the third hour drains in
    // 90 / 140: 2.64 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900, 600) },
        arrivals: 50,
        archived: 100,
        backlog: 270,
        previous: aDay({ arrivals: 50, archived: 100, archiveCalls: 600, other: 300 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']).toMatchObject({
      per_conversation: 6,
      other_calls_per_hour: 300,
      capacity_per_hour: 840,
    });
    expect(outlook.catch_up_hours).toBe(2.64);
  });

  it('when other callers make fewer calls than the reserve, then the reserve is what is taken off the limit while it holds', () => {
    // capacity = 1,140 - max(100, 0.2 x 1,200) = 900, 150 an hour: the queue 300 -> 200 -> 100, then
    // 100 / 150: 2.67 h
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(700, 600) },
        arrivals: 50,
        archived: 100,
        backlog: 300,
        previous: aDay({ arrivals: 50, archived: 100, archiveCalls: 600, other: 100 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.capacity_per_hour).toBe(900);
    expect(outlook.catch_up_hours).toBe(2.67);
  });

  it('when the budget keeps no reserve, then only the other callers’ calls are taken off', () => {
    // capacity = 1,140 - 100 = 1,040, 173.33 an hour: the queue 370 -> 246.67 -> 123.33, then
    // 123.33 / 173.33: 2.71 h
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(700, 600) },
        arrivals: 50,
        archived: 100,
        backlog: 370,
        reserveShare: 0,
        previous: aDay({ arrivals: 50, archived: 100, archiveCalls: 600, other: 100 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.capacity_per_hour).toBe(1_040);
    expect(outlook.catch_up_hours).toBe(2.71);
  });

  it('when insights take 6 of 1,140 an hour per conversation and messages 1 of 1,710, then insights is the bottleneck and 500 waiting have drained in 4.53 hours beside 90 arrivals an hour', () => {
    // 1,140 / 6 = 190 drain an hour, 90 arrive: each hourly run's queue is 100 shorter, 500 -> 400
    // -> 300 -> 200 -> 100, and the fifth hour drains the last 100 before the next run: 4 + 100 / 190
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900), 'get-conversation-messages': messages(150) },
        arrivals: 90,
        archived: 150,
        backlog: 500,
        previous: { ...aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }) },
      }),
    );

    expect(outlook.bottleneck).toBe('get-interaction-insights');
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_cadence_hours).toBe(1);
    expect(outlook.catch_up_hours).toBe(4.53);
  });

  it('when 500 wait and 90 of them are this run’s, then the 410 earlier ones keep it behind and it has caught up when the runs’ queue of 500 empties before the next run: 4.53 hours, not 410 / 100 = 4.1', () => {
    // As above: the queue 500 -> 400 -> 300 -> 200 -> 100 at the next runs, then 100 / 190. The 410
    // alone at the net drain (100 an hour) allows the end of the walk this run's 90.
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900) },
        arrivals: 90,
        archived: 150,
        backlog: 500,
        earlierBacklog: 410,
        previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(outlook.catch_up_backlog).toBe(410);
    expect(outlook.catch_up_hours).toBe(4.53);
    expect(catchUpHoursOf({ ...outlook, backlog: 500 })).toBeCloseTo(4.53, 2);
  });

  it('when the first listing after an outage finds 600 and nothing earlier waits, then the 410 beyond an hour’s drain (190) are a backlog to catch up, not caught up', () => {
    // drained in an hour: 1,140 / 6 = 190; 600 - 190 = 410
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900) },
        arrivals: 600,
        archived: 150,
        backlog: 600,
        earlierBacklog: 0,
        previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_backlog).toBe(410);
  });

  it('when the period is a millisecond long and its calls read as an infinite rate, then the catch-up backlog is still a number (the run record must stay valid)', () => {
    const outlook = budgetOutlook(
      anHour({
        periodMs: 1e-300,
        arrivals: 5,
        backlog: 20,
        earlierBacklog: 5,
        previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(Number.isFinite(outlook.catch_up_backlog)).toBe(true);
  });

  it('when only the conversations this run found wait, then it has caught up: they wait no longer than the runs’ cadence', () => {
    const outlook = budgetOutlook(
      anHour({
        arrivals: 25,
        backlog: 25,
        earlierBacklog: 0,
        previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(outlook.catch_up).toBe('caught-up');
    expect(outlook.catch_up_hours).toBe(0);
  });

  it('when it is the first outlook, then what it found waiting is a backlog, not an arrival rate, and it drains on the whole capacity', () => {
    // 500 enqueued by the first run (the lookback's worth): as a rate, 500 x 6 > 1,140 said never.
    // arrivals 0 an hour: 500 x 6 / 1,140 = 2.63 hours
    const outlook = budgetOutlook(anHour({ arrivals: 500, backlog: 500, previous: null }));

    expect(outlook.arrivals_per_hour).toBe(0);
    expect(outlook.arrivals_hours).toBe(0);
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_hours).toBe(2.63);
  });

  it('when the averages have one hour behind them, then the next hour weighs as much as it (a plain mean), not a 24th', () => {
    // arrivals (10 + 30) / 2 = 20 an hour; archived (100 + 200) / 2 = 150; insights (600 + 900) / 2
    // = 750: 5 a conversation
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900) },
        arrivals: 30,
        archived: 200,
        backlog: 10,
        previous: aDay({ arrivals: 10, archived: 100, archiveCalls: 600 }, 1),
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(20);
    expect(outlook.archived_per_hour).toBe(150);
    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBe(5);
    expect(outlook.rates_hours).toBe(2);
    expect(outlook.arrivals_hours).toBe(2);
  });

  it('when an office hour brings more than the capacity but the day’s average leaves some, then the catch-up is estimated, not never', () => {
    // The hour: 200 x 6 = 1,200 > 1,140. The day: 100 + (200 - 100) / 24 = 104.167 an hour, under
    // the drain of 190: the 103 waiting drain before the next run, in 103 / 190 = 0.54 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(600) },
        arrivals: 200,
        archived: 100,
        backlog: 103,
        previous: aDay({ arrivals: 100, archived: 100, archiveCalls: 600 }),
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(104.167);
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_hours).toBe(0.54);
  });

  it('when arrivals averaged over the day need the whole capacity, then the catch-up is never', () => {
    // 190 an hour x 6 = 1,140 = all the archive jobs reach
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(600) },
        arrivals: 190,
        archived: 100,
        previous: aDay({ arrivals: 190, archived: 100, archiveCalls: 600 }),
      }),
    );

    expect(outlook.catch_up).toBe('never');
    expect(outlook.catch_up_hours).toBeNull();
    expect(outlook.bottleneck).toBe('get-interaction-insights');
  });

  it('when a backlog waited through an hour that used 92% of insights, then the archive jobs’ 1,104 calls are the measured drain and the catch-up uses it', () => {
    // drain = 1,104 (the first measure), 184 an hour beside 100 arriving: the queue 400 -> 316 -> 232
    // -> 148 at the next runs, then 148 / 184: 3.8 h
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(1_104) },
        arrivals: 100,
        archived: 184,
        backlog: 400,
        previousBacklog: 500,
        previous: aDay({ arrivals: 100, archived: 184, archiveCalls: 1_104 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']).toMatchObject({
      drain_calls_per_hour: 1_104,
      capacity_per_hour: 1_104,
    });
    expect(outlook.catch_up_hours).toBe(3.8);
  });

  it('when a later busy hour drains 1,120 after 12 busy hours at 1,000, then the measured drain moves a 12th of the way (it averages over half the span)', () => {
    // 1,000 + (1,120 - 1,000) / 12 = 1,010
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(1_120) },
        archived: 186,
        backlog: 400,
        previousBacklog: 500,
        previous: aDay({ arrivals: 100, archived: 186, archiveCalls: 1_120, drain: 1_000, drainHours: 12 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.drain_calls_per_hour).toBe(1_010);
    expect(outlook.operations['get-interaction-insights']?.drain_hours).toBe(12);
  });

  it('when fewer waited than two hours of archiving (2 x 184), then the drain is not measured from the hour: the workers may have run out of work', () => {
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(1_104) },
        archived: 184,
        backlog: 300,
        previousBacklog: 500,
        previous: aDay({ arrivals: 100, archived: 184, archiveCalls: 1_104 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.drain_calls_per_hour).toBeNull();
  });

  it('when the backlog was gone at the hour’s start or the day’s calls used under 80% of the limit, then the drain is not measured from it', () => {
    const notWaiting = budgetOutlook(
      anHour({ usage: { 'get-interaction-insights': insights(1_104) }, previousBacklog: 0, previous: null }),
    );
    const light = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900) },
        previousBacklog: 500,
        previous: aDay({ arrivals: 100, archived: 150, archiveCalls: 900, drain: 1_000 }),
      }),
    );

    expect(notWaiting.operations['get-interaction-insights']?.drain_calls_per_hour).toBeNull();
    expect(light.operations['get-interaction-insights']?.drain_calls_per_hour).toBe(1_000);
  });

  it('when an office hour’s archive grants mostly waited for the budget on a day that used 62% of it, then the hour measures the drain', () => {
    // The day's average (744 of 1,200) is under 80%; 900 of the hour's 1,044 grants waited (86%),
    // with 120 conversations an earlier run enqueued waiting at the hour's end: drain = 1,044.
    const outlook = budgetOutlook(
      anHour({
        usage: {
          'get-interaction-insights': { ...insights(1_044), archiveAcquired: 1_044, archiveWaited: 900 },
        },
        arrivals: 150,
        archived: 174,
        backlog: 240,
        earlierBacklog: 120,
        previousBacklog: 200,
        previous: aDay({ arrivals: 125, archived: 124, archiveCalls: 744 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']).toMatchObject({
      archive_waited_share: 0.8621,
      drain_calls_per_hour: 1_044,
      capacity_per_hour: 1_044,
    });
  });

  it('when the grants mostly did not wait, or waited while too few an earlier run enqueued were left at the hour’s end, or the backlog at its start is not known, or the grants were too few to tell, then the hour does not measure the drain', () => {
    const hour = (
      waits: { calls?: number; archiveAcquired: number; archiveWaited: number },
      backlog: { backlog: number; earlierBacklog: number; previousBacklog?: number | null },
    ) =>
      budgetOutlook(
        anHour({
          usage: { 'get-interaction-insights': { ...insights(waits.calls ?? 1_044), ...waits } },
          arrivals: 150,
          archived: 174,
          previousBacklog: 200,
          ...backlog,
          previous: aDay({ arrivals: 125, archived: 124, archiveCalls: 744 }),
        }),
      ).operations['get-interaction-insights'];
    const mostlyWaited = { archiveAcquired: 1_044, archiveWaited: 900 };

    const notWaiting = hour(
      { archiveAcquired: 1_044, archiveWaited: 600 },
      { backlog: 240, earlierBacklog: 120 },
    );
    // Held at the end: at least 10, and a quarter of the 174 archived (43.5).
    const ranOut = hour(mostlyWaited, { backlog: 150, earlierBacklog: 43 });
    const heldJustEnough = hour(mostlyWaited, { backlog: 150, earlierBacklog: 44 });
    const notKnownAtStart = hour(mostlyWaited, { backlog: 240, earlierBacklog: 120, previousBacklog: null });
    const few = hour(
      { calls: 19, archiveAcquired: 19, archiveWaited: 19 },
      { backlog: 240, earlierBacklog: 120 },
    );

    expect(notWaiting).toMatchObject({ archive_waited_share: 0.5747, drain_calls_per_hour: null });
    expect(ranOut).toMatchObject({ archive_waited_share: 0.8621, drain_calls_per_hour: null });
    expect(heldJustEnough).toMatchObject({ drain_calls_per_hour: 1_044 });
    expect(notKnownAtStart).toMatchObject({ drain_calls_per_hour: null });
    expect(few).toMatchObject({ archive_waited_share: null, drain_calls_per_hour: null });
  });

  it('when a period’s budget is under 40 calls (a scaled limit), then half of it in grants is enough for a waited share', () => {
    // 20 a minute over 90 s: a budget of 30 calls; 15 grants, 14 waited.
    const outlook = budgetOutlook(
      anHour({
        periodMs: 90_000,
        usage: {
          'get-interaction-insights': { ...insights(15), archiveAcquired: 15, archiveWaited: 14 },
        },
        archived: 2,
        backlog: 40,
        earlierBacklog: 30,
        previousBacklog: 40,
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.archive_waited_share).toBe(0.9333);
  });

  it('when the averages hold only 6 archived conversations, then no cost per conversation is claimed and the catch-up is unknown', () => {
    // The jobs still in flight have made calls and archived nothing yet: 60 / 6 would be 10, not 6.
    const outlook = budgetOutlook(
      anHour({ usage: { 'get-interaction-insights': insights(60) }, archived: 6, backlog: 50 }),
    );

    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBeNull();
    expect(outlook.catch_up).toBe('unknown');
  });

  it('when two days of office hours (150 an hour 08:00-20:00, 50 otherwise) have passed, then at 21:00 the arrival rate is the day’s mean 100, not an average weighted to the office hours just gone', () => {
    // Arrange: hourly outlooks from a first one at midnight, each carrying the last one's averages.
    let outlook = budgetOutlook(anHour({ arrivals: 0, now: MIDNIGHT, previous: null }));

    // Act
    for (let h = 1; h <= 45; h++) {
      const hourOfDay = (h - 1) % 24;
      outlook = budgetOutlook(
        anHour({
          arrivals: hourOfDay >= 8 && hourOfDay < 20 ? 150 : 50,
          now: MIDNIGHT + h * HOUR,
          previous: carried(outlook),
        }),
      );
    }

    // Assert: an exponential day-average read 108.8 here
    expect(outlook.arrivals_per_hour).toBe(100);
    expect(outlook.arrivals_hours).toBe(24);
  });

  it('when a run comes every 5 minutes for a day and a half, then the window keeps at most 96 periods and still covers the last 24 hours', () => {
    // Arrange
    let outlook = budgetOutlook(anHour({ periodMs: HOUR / 12, arrivals: 0, previous: null }));

    // Act: 10 an hour for the first 12 hours, 20 an hour after
    for (let i = 1; i <= 36 * 12; i++) {
      outlook = budgetOutlook(
        anHour({
          periodMs: HOUR / 12,
          arrivals: i <= 12 * 12 ? 10 / 12 : 20 / 12,
          previous: carried(outlook),
        }),
      );
    }

    // Assert: the last 24 hours are all at 20 an hour
    expect(outlook.arrivals_window.length).toBeLessThanOrEqual(96);
    expect(outlook.arrivals_hours).toBeCloseTo(24, 3);
    expect(outlook.arrivals_per_hour).toBeCloseTo(20, 2);
  });

  it('when an hour ends at 09:30, then its arrivals an hour are the profile’s slot 9, and the other slots are not seen yet', () => {
    const outlook = budgetOutlook(
      anHour({
        arrivals: 30,
        now: MIDNIGHT + 9.5 * HOUR,
        previous: aDay({ arrivals: 100, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(outlook.arrival_profile?.slot_ms).toBe(HOUR);
    expect(outlook.arrival_profile?.per_hour[9]).toBe(30);
    expect(outlook.arrival_profile?.samples[9]).toBe(1);
    expect(outlook.arrival_profile?.per_hour.filter((v) => v !== null)).toHaveLength(1);
  });

  it('when 1,400 wait and office hours bring 150 an hour, nights 50, then from 20:00 they have drained in 9.97 h, from 08:00 in 17.76 h, where the day’s average says 14.74 h', () => {
    // drain = 1,140 / 6 = 190 an hour. Each slot is read as the mean of it and its neighbours: 07
    // and 20 are 83.33, 08 and 19 116.67; the profile's mean is 100, and each slot is scaled to the
    // day's average. Each hourly run's queue is the last one's less 190 plus the hour's arrivals.
    // From 20:00 (day 102.083, x 1.02083): 1,400 - 190 + 85.07 = 1,295.07 at 21:00, then 138.96
    // less an hour (51.04 arrive): 183.39 at 05:00 after 8 of them, under 190: 9 + 183.39 / 190 =
    // 9.97. From 08:00 (day 97.917, x 0.97917): 1,400 + 114.24 - 190 = 1,324.24 at 09:00; 10 x
    // (146.875 - 190) to 892.99 at 19:00; 817.23 at 20:00 (114.24 arrive), 708.83 at 21:00 (81.60);
    // then 141.04 less an hour (48.96 arrive) to 144.67 at 01:00: 17 + 144.67 / 190 = 17.76. Flat
    // at 100 an hour: the queue 90 less each hour, 1,400 - 14 x 90 = 140 at the 14th run: 14.74.
    const previous = {
      ...aDay({ arrivals: 100, archived: 100, archiveCalls: 600 }),
      arrivalProfile: weekOfOfficeHours(150, 50),
    };
    // Each hour brings its slot's own rate, so the profile stays as it is.
    const at = (hour: number, arrivals: number) =>
      budgetOutlook(
        anHour({
          usage: { 'get-interaction-insights': insights(600) },
          arrivals,
          archived: 100,
          backlog: 1_400,
          now: MIDNIGHT + hour * HOUR,
          previous,
        }),
      );

    expect(at(20, 150).catch_up_hours).toBe(9.97);
    expect(at(8, 50).catch_up_hours).toBe(17.76);
    expect(at(8, 50).arrivals_per_hour).toBeCloseTo(97.92, 2);
  });

  it('when an office hour’s run finds 190 of the 260 waiting and 180 drain an hour, then it has caught up when an evening run’s queue empties: 11.61 h (22:37), not the 10.42 h of the earlier 80 walked with the office hour’s 190 allowed at its end', () => {
    // Office hours 190 an hour, nights 60: the day's mean 125, and the smoothed slots (07 and 20
    // 103.33, 08 and 19 146.67) keep it. Other callers 60 an hour, no reserve: capacity 1,080, 180
    // conversations an hour. Behind: the 70 earlier and 260 - 70 - 180 = 10 more: 80. The queue
    // from 11:00: 260 - 180 + 190 = 270 at 12:00, 10 more each office hour to 340 at 19:00, 306.67
    // at 20:00, 230 at 21:00, 110 at 22:00, under 180: 11 + 110 / 180 = 11.61. The earlier 80 alone
    // at the net drain: 160 at 19:00, 126.67 at 20:00, 50 at 21:00, 50 / 120 more: 10.42.
    const profile = [...Array.from({ length: 8 }, () => 60), ...Array.from({ length: 12 }, () => 190)];
    profile.push(60, 60, 60, 60);
    // A day of one-hour periods from yesterday's 10:00: the 10:00 hour this run adds replaces one
    // as busy, and the day's mean stays 125.
    const window = Array.from({ length: 24 }, (_, i) => ({
      hours: 1,
      arrivals: profile[(10 + i) % 24] as number,
    }));
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(810, 750) },
        arrivals: 190,
        archived: 125,
        backlog: 260,
        earlierBacklog: 70,
        reserveShare: 0,
        now: MIDNIGHT + 11 * HOUR,
        previous: {
          ...aDay({ arrivals: 125, archived: 125, archiveCalls: 750, other: 60 }),
          arrivalsWindow: window,
          arrivalProfile: { slot_ms: HOUR, per_hour: profile, samples: Array.from({ length: 24 }, () => 7) },
        },
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(125);
    expect(outlook.operations['get-interaction-insights']?.capacity_per_hour).toBe(1_080);
    expect(outlook.catch_up_backlog).toBe(80);
    expect(outlook.catch_up_hours).toBe(11.61);
  });

  it('when the runs come 2 hours apart, then each adds two hours’ arrivals and drains two hours’ worth: 500 waiting beside 90 an hour have drained in 3.58 h, where hourly runs take 4.53', () => {
    // 1,140 / 6 = 190 an hour: 500 - 380 + 180 = 300 at the next run, under 380: 2 + 300 / 190
    const outlook = budgetOutlook(
      anHour({
        periodMs: 2 * HOUR,
        usage: { 'get-interaction-insights': insights(1_800) },
        arrivals: 180,
        archived: 300,
        backlog: 500,
        previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }),
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(90);
    expect(outlook.catch_up_cadence_hours).toBe(2);
    expect(outlook.catch_up_hours).toBe(3.58);
    expect(catchUpHoursOf({ ...outlook, backlog: 500 })).toBeCloseTo(3.58, 2);
  });

  it('when the period since the last run is 30 minutes, then the runs come every 30 minutes; 5 minutes (a manual run) or over a day, then the catch-up walks hourly runs; a day alone is a nightly-only schedule’s cadence', () => {
    // A day of averages is one 24-hour span: the window is then that span's last part and this
    // period, whose length is the cadence.
    const cadence = (periodMs: number) =>
      budgetOutlook(anHour({ periodMs, previous: aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }) }))
        .catch_up_cadence_hours;

    expect(cadence(HOUR / 2)).toBe(0.5);
    expect(cadence(5 * 60_000)).toBe(1);
    expect(cadence(30 * HOUR)).toBe(1);
    expect(cadence(24 * HOUR)).toBe(24);
  });

  it('when the first run after 6 hours down finds 600 and nothing earlier waits, then the day of hourly runs sets the cadence, not the one long period, and the 410 beyond an hour’s drain keep it behind', () => {
    // The window: 18 of the day's hourly periods and the 6-hour one; their median is an hour.
    const hourly = Array.from({ length: 24 }, () => ({ hours: 1, arrivals: 90 }));
    const outlook = budgetOutlook(
      anHour({
        periodMs: 6 * HOUR,
        usage: { 'get-interaction-insights': insights(0) },
        arrivals: 600,
        archived: 0,
        backlog: 600,
        earlierBacklog: 0,
        previous: { ...aDay({ arrivals: 90, archived: 150, archiveCalls: 900 }), arrivalsWindow: hourly },
      }),
    );

    expect(outlook.catch_up_cadence_hours).toBe(1);
    expect(outlook.catch_up_backlog).toBe(410);
    expect(outlook.catch_up).toBe('estimated');
  });

  it('when the queue would drain within the hour but the office hours to come bring more than the drain, then it has not caught up until an evening run’s arrivals fit an hour’s drain: 12.84 h, not 0.79', () => {
    // Office hours 200 an hour, nights 50 (smoothed: 07 and 20 100, 08 and 19 150): the day's mean
    // 125, drain 1,140 / 6 = 190. At 09:00 150 wait (20 from an earlier run), under an hour's drain,
    // but each office hour brings 200: the queue 200 at 10:00, 10 more an hour to 290 at 19:00, 250
    // at 20:00 (150 arrive), 160 at 21:00 (100), under 190 with 50 to come: 12 + 160 / 190 = 12.84.
    const profile = Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 20 ? 200 : 50));
    const window = Array.from({ length: 24 }, (_, i) => ({
      hours: 1,
      arrivals: profile[(8 + i) % 24] as number,
    }));
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(750) },
        arrivals: 200,
        archived: 125,
        backlog: 150,
        earlierBacklog: 20,
        now: MIDNIGHT + 9 * HOUR,
        previous: {
          ...aDay({ arrivals: 125, archived: 125, archiveCalls: 750 }),
          arrivalsWindow: window,
          arrivalProfile: { slot_ms: HOUR, per_hour: profile, samples: Array.from({ length: 24 }, () => 7) },
        },
      }),
    );

    expect(outlook.arrivals_per_hour).toBe(125);
    expect(outlook.catch_up_backlog).toBe(20);
    expect(outlook.catch_up_hours).toBe(12.84);
  });

  it('when a slot is not a whole number of milliseconds (a fast clock’s 17th of a day), then the walk still moves from slot to slot and ends, from any time of the day', () => {
    // A slot's end computed from the time rounds onto the time itself at some boundaries (2-6% of
    // them at this length, in the first days after the epoch): a walk stepping from there never
    // moved on.
    const averagingMs = 86_400_000 / 17;
    const slotMs = averagingMs / 24;
    const previous = {
      ...aDay({ arrivals: 100, archived: 100, archiveCalls: 600 }),
      arrivalProfile: { ...weekOfOfficeHours(150, 50), slot_ms: slotMs },
    };
    const hours = Array.from(
      { length: 200 },
      (_, i) =>
        budgetOutlook(
          anHour({
            periodMs: slotMs,
            usage: { 'get-interaction-insights': insights(600) },
            arrivals: 100,
            archived: 100,
            backlog: 1_400,
            now: (i + 1) * 7 * slotMs + (i % 3),
            averagingMs,
            previous,
          }),
        ).catch_up_hours,
    );

    expect(hours.every((h) => h !== null && Number.isFinite(h) && h > 0)).toBe(true);
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

  it('when messages cost more of their capacity per conversation than insights, then messages is the bottleneck', () => {
    // insights 2 / 1,140 = 0.00175 h; messages 4 / 1,710 = 0.00234 h per conversation;
    // first outlook (no arrival rate): 70 x 4 / 1,710 = 0.16 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(200), 'get-conversation-messages': messages(400) },
        archived: 100,
        backlog: 70,
      }),
    );

    expect(outlook.bottleneck).toBe('get-conversation-messages');
    expect(outlook.catch_up_hours).toBe(0.16);
  });

  it('when a quiet hour archives nothing and calls nothing, then the day’s cost per conversation still estimates the catch-up', () => {
    // archived 125 x 23/24, insights 750 x 23/24: still 6 a conversation; arrivals 125 x 23/24 =
    // 119.792 an hour, under the drain of 190: the 30 waiting drain in 30 / 190 = 0.16 hours
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(0) },
        arrivals: 0,
        archived: 0,
        backlog: 30,
        previous: aDay({ arrivals: 125, archived: 125, archiveCalls: 750 }),
      }),
    );

    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBe(6);
    expect(outlook.catch_up).toBe('estimated');
    expect(outlook.catch_up_hours).toBe(0.16);
  });

  it('when the archived count is not known, then the previous cost rates carry on unchanged', () => {
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(1_200) },
        archived: null,
        previous: aDay({ arrivals: 125, archived: 125, archiveCalls: 750 }),
      }),
    );

    expect(outlook.archived_per_hour).toBe(125);
    expect(outlook.operations['get-interaction-insights']?.archive_calls_per_hour).toBe(750);
    expect(outlook.rates_hours).toBe(24);
  });

  it('when periods last a second (a fast clock’s hours), then the stored spans carry them and the cost is the mean of the periods, not the last one', () => {
    // Twenty one-second periods on a one-minute span: alternately 12 calls for 1 conversation and 12
    // calls for 3. Averaged, 240 calls for 40 conversations: 6 a conversation. Restarted each period
    // (a span stored as 0 hours), the last period's 12 / 3 = 4.
    let previous: PreviousRates | null = null;
    let outlook: ReturnType<typeof budgetOutlook> | undefined;
    for (let i = 0; i < 20; i++) {
      outlook = budgetOutlook({
        periodMs: 1_000,
        averagingMs: 60_000,
        usage: { 'get-interaction-insights': insights(12) },
        arrivals: 2,
        archived: i % 2 === 0 ? 1 : 3,
        backlog: 0,
        previous,
      });
      previous = carried(outlook);
    }

    expect(outlook?.rates_hours).toBeCloseTo(20 / 3_600, 4);
    expect(outlook?.operations['get-interaction-insights']?.per_conversation).toBeCloseTo(6, 2);
  });

  it('when the catch-up is recomputed from the outlook’s stored figures, then it is the outlook’s own', () => {
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(900, 700) },
        arrivals: 70,
        archived: 110,
        backlog: 333,
        previous: aDay({ arrivals: 60, archived: 100, archiveCalls: 640, other: 150 }),
      }),
    );

    expect(outlook.catch_up).toBe('estimated');
    expect(catchUpHoursOf({ ...outlook, backlog: 333 })).toBeCloseTo(outlook.catch_up_hours as number, 2);
  });

  it('when amigo.priorityReserve is 0.8 and other callers use insights, then the capacity leaves 0.8 of the limit to them, not 0.2', () => {
    // 0.95 x 1,200 - max(100 other, 0.8 x 1,200) = 180; with the default 0.2: 1,140 - 240 = 900.
    const hour = anHour({
      usage: { 'get-interaction-insights': insights(700, 600) },
      archived: 100,
      previous: aDay({ arrivals: 50, archived: 100, archiveCalls: 600, other: 100 }),
    });

    const configured = budgetOutlook({ ...hour, reserveShare: 0.8 });
    const byDefault = budgetOutlook(hour);

    expect(configured.operations['get-interaction-insights']?.capacity_per_hour).toBe(180);
    expect(byDefault.operations['get-interaction-insights']?.capacity_per_hour).toBe(900);
  });

  it('when a busy hour’s documents counted 2,900 archive calls against a limit of 1,200 with 100 other calls, then the sample is averaged as it is and the capacity is capped at the 1,100 the limit leaves', () => {
    // Arrange: 12 busy hours measured 1,000 an hour; the sample moves it a 12th of the way.
    const hour = anHour({
      usage: { 'get-interaction-insights': insights(3_000, 2_900) },
      archived: 186,
      backlog: 400,
      previousBacklog: 500,
      previous: aDay({
        arrivals: 100,
        archived: 186,
        archiveCalls: 1_120,
        other: 100,
        drain: 1_000,
        drainHours: 12,
      }),
    });

    // Act
    const outlook = budgetOutlook(hour);

    // Assert: 1,000 + (2,900 - 1,000) / 12 = 1,158.333, above the 1,200 - 100 the limit leaves
    const op = outlook.operations['get-interaction-insights'];
    expect(op?.drain_calls_per_hour).toBe(1_158.333);
    expect(op?.capacity_per_hour).toBe(1_100);
  });

  it('when busy hours read 1,500 and 800 in turn (documents counted in the hour they ended), then the drain is their mean 1,150, not the mean of samples capped at 1,200', () => {
    // Arrange: two busy hours in a row, the second starting from the first's averages.
    const busyHour = (archiveCalls: number, previous: PreviousRates) =>
      budgetOutlook(
        anHour({
          usage: { 'get-interaction-insights': insights(archiveCalls) },
          archived: 190,
          backlog: 500,
          previousBacklog: 500,
          previous,
        }),
      );
    const start = aDay({ arrivals: 100, archived: 190, archiveCalls: 1_150, drainHours: 0 });

    // Act
    const first = busyHour(1_500, start);
    const second = busyHour(800, {
      ...start,
      operations: {
        'get-interaction-insights': {
          archiveCallsPerHour: first.operations['get-interaction-insights']?.archive_calls_per_hour ?? null,
          otherCallsPerHour: 0,
          drainCallsPerHour: first.operations['get-interaction-insights']?.drain_calls_per_hour ?? null,
          drainHours: first.operations['get-interaction-insights']?.drain_hours,
        },
      },
    });

    // Assert: capped samples would give (1,200 + 800) / 2 = 1,000
    expect(second.operations['get-interaction-insights']?.drain_calls_per_hour).toBe(1_150);
    expect(second.operations['get-interaction-insights']?.capacity_per_hour).toBe(1_150);
  });

  it('when the profile’s mean (215 an hour) is above the drain (190) but the day’s average is not, then the walk drains at the day’s level in the profile’s shape: sooner from 20:00, later from 08:00', () => {
    // Arrange: office hours 260, nights 170, a week of samples; the day's average 150.
    const previous = {
      ...aDay({ arrivals: 150, archived: 100, archiveCalls: 600 }),
      arrivalProfile: weekOfOfficeHours(260, 170),
    };
    const at = (hour: number, arrivals: number) =>
      budgetOutlook(
        anHour({
          usage: { 'get-interaction-insights': insights(600) },
          arrivals,
          archived: 100,
          backlog: 400,
          now: MIDNIGHT + hour * HOUR,
          previous,
        }),
      );

    // Act: each hour brings its slot's own rate, so the profile stays as it is.
    const evening = at(20, 260);
    const morning = at(8, 170);

    // Assert: the flat estimate is 400 / (190 - the day's average); every unscaled profile hour of
    // the office grows the backlog by 70 and a day's walk by 600, which fell back to the flat one.
    const flat = (o: { arrivals_per_hour: number }) => 400 / (190 - o.arrivals_per_hour);
    expect(evening.catch_up).toBe('estimated');
    expect(evening.catch_up_hours).toBeLessThan(flat(evening) - 1);
    expect(morning.catch_up).toBe('estimated');
    expect(morning.catch_up_hours).toBeGreaterThan(flat(morning) + 1);
  });

  it('when a tenant archives 6 a day and 4 more this hour, then the 10 counted since the averages began give a cost, though the day’s average holds 9.75', () => {
    // Arrange: 0.25 an hour over a day; 6 counted so far.
    const previous = { ...aDay({ arrivals: 0.25, archived: 0.25, archiveCalls: 1.5 }), archivedTotal: 6 };
    const hour = anHour({
      usage: { 'get-interaction-insights': insights(24) },
      arrivals: 4,
      archived: 4,
      backlog: 3,
    });

    // Act
    const ten = budgetOutlook({ ...hour, previous });
    const nine = budgetOutlook({ ...hour, previous: { ...previous, archivedTotal: 5 } });

    // Assert: (1.5 + 22.5 / 24) / (0.25 + 3.75 / 24) = 6
    expect(ten.archived_total).toBe(10);
    expect(ten.operations['get-interaction-insights']?.per_conversation).toBe(6);
    expect(ten.catch_up).toBe('estimated');
    expect(nine.operations['get-interaction-insights']?.per_conversation).toBeNull();
    expect(nine.catch_up).toBe('unknown');
  });

  it('when the period’s length is not a number (an unparsable stored start), then no figure of the outlook is NaN', () => {
    // Arrange
    const hour = anHour({
      periodMs: Number.NaN,
      previous: aDay({ arrivals: 100, archived: 150, archiveCalls: 900 }),
    });
    const numbers = (value: unknown): number[] =>
      typeof value === 'number'
        ? [value]
        : value && typeof value === 'object'
          ? Object.values(value).flatMap(numbers)
          : [];

    // Act
    const outlook = budgetOutlook(hour);

    // Assert
    expect(outlook.period_hours).toBe(0);
    expect(numbers(outlook).filter((n) => !Number.isFinite(n))).toEqual([]);
  });

  it('when archive jobs call on for a whole day while nothing is archived, then the catch-up is never and no cost is claimed', () => {
    // Arrange: a day in which 500 were archived before, then a period as long as the averaging span
    // with calls and no archive: the averaged archived rate is exactly 0.
    const previous = { ...aDay({ arrivals: 100, archived: 150, archiveCalls: 900 }), archivedTotal: 3_600 };

    // Act
    const outlook = budgetOutlook(
      anHour({ periodMs: 24 * HOUR, archived: 0, arrivals: 2_400, backlog: 2_000, previous }),
    );

    // Assert
    expect(outlook.archived_per_hour).toBe(0);
    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBeNull();
    expect(outlook.bottleneck).toBe('get-conversation-messages');
    expect(outlook.catch_up).toBe('never');
    expect(outlook.catch_up_backlog).toBe(2_000);
  });

  it('when nothing was archived for a day and no archive job called either, then the catch-up is unknown', () => {
    // Arrange
    const previous = { ...aDay({ arrivals: 100, archived: 150, archiveCalls: 900 }), archivedTotal: 3_600 };

    // Act
    const outlook = budgetOutlook(
      anHour({
        periodMs: 24 * HOUR,
        usage: { 'get-interaction-insights': insights(0), 'get-conversation-messages': messages(0) },
        archived: 0,
        arrivals: 2_400,
        backlog: 2_000,
        previous,
      }),
    );

    // Assert
    expect(outlook.catch_up).toBe('unknown');
    expect(outlook.bottleneck).toBeNull();
  });

  it('when outlooks follow one another over zeros, nulls, instants and long gaps, then every figure of every outlook is a finite number (or null: not known)', () => {
    // Arrange: a chain of outlooks, each carrying the last, over the degenerate inputs a deployed
    // scheduler can meet (nothing archived while calls went on, an outlook a millisecond after the
    // last, a day's gap, no usage at all). JSON writes NaN and Infinity as null, which the nullable
    // figures accepted silently and the counted ones refused (a run record lost in the week smoke).
    const rng = createRng('outlook-finite');
    const nonFinite: string[] = [];
    const refused: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (typeof value === 'number' && !Number.isFinite(value)) nonFinite.push(`${path}=${value}`);
      else if (value && typeof value === 'object')
        for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    };
    let previous: PreviousRates | null = null;
    let now = MIDNIGHT;

    for (let step = 0; step < 2_000; step++) {
      const periodMs = rng.chance(0.2)
        ? rng.int(0, 5)
        : rng.chance(0.1)
          ? rng.int(1, 48) * HOUR
          : rng.int(1, 120) * 60_000;
      now += periodMs;
      const calls = rng.chance(0.3) ? 0 : rng.int(0, 2_000);
      const input: OutlookInput = {
        periodMs,
        usage: rng.chance(0.1)
          ? {}
          : {
              'get-interaction-insights': insights(calls, rng.chance(0.5) ? calls : rng.int(0, calls)),
              'get-conversation-messages': messages(rng.chance(0.3) ? 0 : rng.int(0, 300)),
            },
        arrivals: rng.chance(0.3) ? 0 : rng.int(0, 500),
        archived: rng.chance(0.1) ? null : rng.chance(0.4) ? 0 : rng.int(0, 300),
        backlog: rng.chance(0.3) ? 0 : rng.int(0, 5_000),
        ...(rng.chance(0.7) ? { earlierBacklog: rng.int(0, 5_000) } : {}),
        previousBacklog: rng.chance(0.2) ? null : rng.int(0, 5_000),
        now,
        previous,
      };

      // Act
      const outlook = budgetOutlook(input);
      walk(outlook, `step ${step}`);
      const stored = RunOutlookSchema.safeParse(
        JSON.parse(
          JSON.stringify({
            ...outlook,
            at: new Date(now).toISOString(),
            from: new Date(now - periodMs).toISOString(),
            arrivals: input.arrivals,
            archived: input.archived,
            backlog: input.backlog,
            given_up: 0,
            oldest_waiting_since: null,
            waiting_runs: [],
            partial: false,
          }),
        ),
      );
      if (!stored.success) refused.push(`step ${step}: ${stored.error.message}`);
      previous = carried(outlook);
    }

    // Assert
    expect(nonFinite.slice(0, 5)).toEqual([]);
    expect(refused.slice(0, 2)).toEqual([]);
  });

  it('when the catch-up is recomputed from stored figures with their time and arrival profile, then it is the outlook’s own walk, not the flat estimate', () => {
    // Arrange: office hours 150, nights 50; 1,400 waiting at 20:00 (the office-hours case above).
    const now = MIDNIGHT + 20 * HOUR;
    const outlook = budgetOutlook(
      anHour({
        usage: { 'get-interaction-insights': insights(600) },
        arrivals: 150,
        archived: 100,
        backlog: 1_400,
        now,
        previous: {
          ...aDay({ arrivals: 100, archived: 100, archiveCalls: 600 }),
          arrivalProfile: weekOfOfficeHours(150, 50),
        },
      }),
    );
    const stored = { ...outlook, at: new Date(now).toISOString(), backlog: 1_400 };

    // Act
    const walked = catchUpHoursOf(stored);
    const flat = catchUpHoursOf({ ...outlook, backlog: 1_400 });

    // Assert: the flat estimate at 102.083 an hour: the queue 87.92 less each hour, 1,400 - 14 x
    // 87.92 = 169.17 at the 14th run: 14 + 169.17 / 190 = 14.89
    expect(walked).toBeCloseTo(outlook.catch_up_hours as number, 2);
    expect(walked).toBeCloseTo(9.97, 2);
    expect(flat).toBeCloseTo(14.89, 2);
  });
});
