// The priorities bench's figures per class (bench/week-priorities-report.ts): waits and backlog from
// a week's per-conversation detail, the class decided by the same rules with priorities on or off.
import { describe, expect, it } from 'vitest';
import { backlogOverTime, classFigures, classOf } from '../../../bench/week-priorities-report.ts';
import type { ConversationDetail } from '../../../bench/week-run.ts';

const DAY_MS = 24_000; // one simulated hour = 1,000 ms
const HOUR = 1_000;
const URGENT = 'a'.repeat(24);
const OTHER = 'b'.repeat(24);
const byService = [{ serviceIds: [URGENT], newerThanMs: null }];

function conversation(
  n: number,
  serviceId: string,
  finishHour: number,
  archivedHour: number | null,
  sentHour: number | null = finishHour,
): ConversationDetail {
  return {
    id: `c${n}`,
    serviceId,
    createdMs: finishHour * HOUR - 100,
    finishMs: finishHour * HOUR,
    sentMs: sentHour === null ? null : sentHour * HOUR,
    sentPriority: null,
    archivedMs: archivedHour === null ? null : archivedHour * HOUR,
  };
}

describe('priorities bench report', () => {
  it('when a service rule is set, then its conversations are the priority class and the rest normal', () => {
    const urgent = conversation(1, URGENT, 0, 1);
    const other = conversation(2, OTHER, 0, 1);

    expect([classOf(urgent, byService), classOf(other, byService)]).toEqual(['priority', 'normal']);
  });

  it('when a newerThan rule is set, then the class is judged at the first send, not at the finish', () => {
    const rules = [{ serviceIds: null, newerThanMs: 2 * HOUR }];
    const sentSoon = conversation(1, OTHER, 0, 4, 1);
    const sentLate = conversation(2, OTHER, 0, 4, 3);

    expect([classOf(sentSoon, rules), classOf(sentLate, rules)]).toEqual(['priority', 'normal']);
  });

  it('when waits differ by class, then each class reports its own median, p95, max, queue wait and share within a cadence', () => {
    const detail = [
      conversation(1, URGENT, 0, 0.5),
      conversation(2, URGENT, 0, 0.75),
      conversation(3, OTHER, 0, 3, 1),
      conversation(4, OTHER, 0, 5, 1),
      conversation(5, OTHER, 0, 9, 1),
      conversation(6, OTHER, 0, null),
    ];

    const figures = classFigures(detail, byService, DAY_MS, HOUR);

    expect(figures.priority).toEqual({
      conversations: 2,
      archived: 2,
      waitHours: { median: 0.75, p95: 0.75, max: 0.75 },
      queuedHours: { median: 0.75, p95: 0.75, max: 0.75 },
      withinCadence: 1,
    });
    expect(figures.normal).toEqual({
      conversations: 4,
      archived: 3,
      waitHours: { median: 5, p95: 9, max: 9 },
      queuedHours: { median: 4, p95: 8, max: 8 },
      withinCadence: 0,
    });
  });

  it('when conversations finish and are archived over hours, then the backlog per class counts those finished and not yet archived', () => {
    const detail = [
      conversation(1, URGENT, 0, 1.5),
      conversation(2, OTHER, 0, 2.5),
      conversation(3, OTHER, 1, 2.5),
      conversation(4, OTHER, 2, null),
    ];

    const backlog = backlogOverTime(detail, byService, 0, DAY_MS, HOUR);

    expect(backlog).toEqual([
      { hour: 0, priority: 1, normal: 1 },
      { hour: 1, priority: 1, normal: 2 },
      { hour: 2, priority: 0, normal: 3 },
      { hour: 3, priority: 0, normal: 1 },
    ]);
  });
});
