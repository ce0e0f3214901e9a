// The simulated week (bench/week.ts, `npm run bench:week`) in small: 2 simulated days of 50
// conversations each, and 40 waiting at the start (a backfill, half a day of the budget), on a clock
// where a simulated day lasts 7.5 s and the published limits are scaled to the organisation's size,
// through the real handlers, the embedded S3/SQS emulator and the simulator. The full week and its
// figures are in bench/README.md. The backlog at the start is what the catch-up estimate is checked
// on: a day's arrivals alone leave a backlog only while a scheduler run takes simulated hours, which
// depends on how busy the machine is.
import { describe, expect, it } from 'vitest';
import { runWeek } from '../../bench/week-run.ts';

describe('a simulated week, in small', () => {
  it('when 40 conversations wait at the start and 2 simulated days of 50 arrive, then every one is archived exactly once, nothing waiting for the budget is dead-lettered or failed, the backlog reaches zero, usage (with the conversations archived) is recorded and every run’s outlook counts the backlog the bench measured', async () => {
    const lines: string[] = [];

    const week = await runWeek({
      seed: 3,
      days: 2,
      perDay: 50,
      burst: 40,
      interactions: 6,
      voiceShare: 0.1,
      timeScale: 11_520,
      cadenceMinutes: 60,
      referencePerDay: 3_000,
      extraDays: 2,
      latencyMs: [1, 5],
      log: (line) => lines.push(line),
    });

    const context = lines.join('\n');
    expect(week.conversations, context).toBe(140);
    expect(week.archived, context).toBe(140);
    expect(week.missing, context).toBe(0);
    expect(week.duplicates, context).toEqual([]);
    expect(week.budgetDeadLetters, context).toBe(0);
    expect(week.deadLetters, context).toEqual([]);
    expect(week.failed, context).toBe(0);
    expect(week.allArchivedAfterHours, context).not.toBeNull();
    expect(week.days.at(-1)?.backlogEnd, context).toBe(0);
    expect(week.days.reduce((s, d) => s + d.arrived, 0)).toBe(140);
    // Every scheduler run has a record with its usage, and the calls our records hold are the ones
    // the simulator counted (within the few calls a 429 answered: the budget counts what it granted).
    expect(week.usageRecorded.runsWithUsage).toBe(week.usageRecorded.runs);
    expect(week.usageRecorded.calls).toBeGreaterThanOrEqual(week.counts.amigoGrants);
    expect(week.usageRecorded.calls).toBeLessThanOrEqual(week.counts.amigoGrants * 1.01 + 1);
    expect(week.counts.amigoCalls['get-interaction-insights']).toBeGreaterThanOrEqual(140 * 6);
    // The archive jobs counted each conversation they archived once: the outlook's cost per
    // conversation divides by this count.
    expect(week.usageRecorded.archived, context).toBe(140);
    // Every scheduler run wrote its budget outlook, and its backlog is what the bench found waiting
    // right after: the pending markers it listed plus those the workers archived in between.
    expect(week.outlooks.length, context).toBeGreaterThanOrEqual(week.cycles - 2);
    for (const o of week.outlooks) {
      expect(o.backlog, JSON.stringify(o)).toBeGreaterThanOrEqual(o.backlogMeasured);
      expect(o.backlog, JSON.stringify(o)).toBeLessThanOrEqual(o.backlogMeasured + o.archivedMeanwhile);
    }
    expect(week.outlooks.some((o) => o.catchUp === 'estimated')).toBe(true);
    // The outlooks' periods counted every conversation archived before the last of them, once (a
    // conversation whose commit came within a few milliseconds of an outlook can fall after it).
    const counted = week.outlooksCounted;
    expect(counted, context).not.toBeNull();
    expect((counted?.archived ?? 0) + (counted?.archivedAfter ?? 0)).toBeGreaterThanOrEqual(140 - 2);
    expect(counted?.archived ?? 0).toBeLessThanOrEqual(140);
    expect(week.days.filter((d) => d.arrived > 0).every((d) => d.outlook !== null)).toBe(true);
  }, 90_000);
});
