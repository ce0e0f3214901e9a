// An old burst (sim/arrivals.ts `burstAgeMs`): the backlog of an outage, finished before the start,
// so a newerThan priority can tell it from the new arrivals (bench/week-priorities.ts drives it).
import { describe, expect, it } from 'vitest';
import { type Arrivals, arrivalCount, finishFromCreated } from '../../../sim/arrivals.ts';
import { Dataset } from '../../../sim/dataset.ts';

const NOW = Date.parse('2026-03-02T00:00:00.000Z');
const DAY_MS = 120_000;
const AGE_MS = DAY_MS / 2;

function arriving(burstAgeMs?: number): { arrivals: Arrivals; ds: Dataset } {
  const arrivals: Arrivals = {
    days: 2,
    perDay: 40,
    dayMs: DAY_MS,
    interactions: 6,
    voiceShare: 0.1,
    burst: 25,
    ...(burstAgeMs === undefined ? {} : { burstAgeMs }),
  };
  const ds = new Dataset({
    seed: 7,
    conversations: arrivalCount(arrivals),
    startMs: NOW,
    largeRecordings: 0,
    largeRecordingBytes: 1_000_000,
    longConversations: 0,
    arrivals,
  });
  return { arrivals, ds };
}

/** The dataset's headers in index order (the burst takes the first indices). */
function byIndex(ds: Dataset) {
  return [...ds.headers].sort((a, b) => a.index - b.index);
}

describe('arrivals with an old burst', () => {
  it('when the burst is half a simulated day old, then its 25 finish in the ten minutes from then, the daily ones keep theirs, and created_at still gives the finish', () => {
    const young = byIndex(arriving().ds);
    const { arrivals, ds } = arriving(AGE_MS);

    const burst = byIndex(ds).slice(0, 25);
    const daily = byIndex(ds).slice(25);

    for (const h of burst) {
      expect(h.finishMs as number).toBeGreaterThanOrEqual(NOW - AGE_MS);
      expect(h.finishMs as number).toBeLessThan(NOW - AGE_MS + DAY_MS / 144);
      expect(finishFromCreated(arrivals, h.createdMs)).toBe(h.finishMs);
    }
    expect(burst.map((h) => (h.finishMs as number) + AGE_MS)).toEqual(
      young.slice(0, 25).map((h) => h.finishMs),
    );
    expect(daily.map((h) => [h.id, h.finishMs])).toEqual(young.slice(25).map((h) => [h.id, h.finishMs]));
  });

  it('when the age is 0, then the dataset is the one without an age', () => {
    const zero = arriving(0).ds.headers.map((h) => [h.id, h.finishMs]);
    const without = arriving().ds.headers.map((h) => [h.id, h.finishMs]);

    expect(zero).toEqual(without);
  });
});
