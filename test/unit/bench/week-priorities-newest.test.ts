// A newerThan priority on the week's fast clock (bench/week-priorities-report.ts): a conversation's
// messages keep real spacing there, so the threshold carries the clock's offset and the rule judges
// each conversation of an arrivals dataset by its simulated age.
import { describe, expect, it } from 'vitest';
import { classOf, newerThanForWeek, rulesInSimTime } from '../../../bench/week-priorities-report.ts';
import type { ConversationDetail } from '../../../bench/week-run.ts';
import { type Arrivals, arrivalTiming, finishFromCreated } from '../../../sim/arrivals.ts';
import { createRng } from '../../../sim/prng.ts';

const SCALE = 720;
const HOUR = 3_600_000;
const arrivals: Arrivals = {
  days: 1,
  perDay: 60,
  dayMs: (24 * HOUR) / SCALE,
  interactions: 6,
  voiceShare: 0,
};
const START = Date.parse('2026-03-02T00:00:00.000Z');

/** Conversation 5 of the dataset, first sent `simulatedHours` after it finished. */
function sentAfter(simulatedHours: number): ConversationDetail {
  const t = arrivalTiming(arrivals, 5, START, createRng(1, 'arrival', 5));
  return {
    id: 'c5',
    serviceId: 'a'.repeat(24),
    createdMs: t.createdMs,
    finishMs: t.finishMs,
    sentMs: t.finishMs + (simulatedHours * HOUR) / SCALE,
    sentPriority: null,
    archivedMs: null,
  };
}

describe('newest first on the fast clock', () => {
  it('when a 6h rule judges conversations listed 5.9 and 6.1 simulated hours after they finished, then the first is priority and the second normal', () => {
    const offset = finishFromCreated(arrivals, 0);
    const rules = rulesInSimTime(
      [{ serviceIds: null, newerThanMs: newerThanForWeek(6 * HOUR, SCALE, offset) }],
      SCALE,
    );

    const classes = [classOf(sentAfter(5.9), rules), classOf(sentAfter(6.1), rules)];

    expect(classes).toEqual(['priority', 'normal']);
  });

  it('when the clock is not sped up, then the threshold is the one the operator wrote', () => {
    const threshold = newerThanForWeek(6 * HOUR, 1, finishFromCreated(arrivals, 0));

    expect(threshold).toBe(6 * HOUR);
  });
});
