// A burst in an arrivals dataset (sim/arrivals.ts `burst`): a backlog finished at the start, on top
// of the daily conversations, which keep their days (bench/week-priorities.ts drives it).
import { describe, expect, it } from 'vitest';
import { arrivalCount } from '../../../sim/arrivals.ts';
import { Dataset } from '../../../sim/dataset.ts';

const NOW = Date.parse('2026-03-02T00:00:00.000Z');
const DAY_MS = 120_000;

function arriving(burst: number): Dataset {
  const arrivals = { days: 2, perDay: 40, dayMs: DAY_MS, interactions: 6, voiceShare: 0.1, burst };
  return new Dataset({
    seed: 7,
    conversations: arrivalCount(arrivals),
    startMs: NOW,
    largeRecordings: 0,
    largeRecordingBytes: 1_000_000,
    longConversations: 0,
    arrivals,
  });
}

describe('arrivals with a burst', () => {
  it('when a burst of 25 is set, then 25 conversations finish in the first ten simulated minutes and each day still has its share', () => {
    const ds = arriving(25);

    const finishes = ds.headers.map((h) => (h.finishMs as number) - NOW);
    const early = finishes.filter((t) => t < DAY_MS / 144).length;
    const perDay = [0, 0];
    for (const t of finishes.filter((t) => t >= DAY_MS / 144)) {
      const day = Math.floor(t / DAY_MS);
      perDay[day] = (perDay[day] ?? 0) + 1;
    }

    expect(ds.headers).toHaveLength(105);
    // Daily conversations may also fall in the first ten minutes (a night hour at weight 1).
    expect(early).toBeGreaterThanOrEqual(25);
    expect(early + (perDay[0] as number) + (perDay[1] as number)).toBe(105);
    expect(perDay[1]).toBe(40);
  });

  it('when no burst is set, then the dataset is the same as before bursts existed', () => {
    const withZero = arriving(0).headers.map((h) => [h.id, h.finishMs]);
    const arrivals = { days: 2, perDay: 40, dayMs: DAY_MS, interactions: 6, voiceShare: 0.1 };
    const without = new Dataset({
      seed: 7,
      conversations: 80,
      startMs: NOW,
      largeRecordings: 0,
      largeRecordingBytes: 1_000_000,
      longConversations: 0,
      arrivals,
    }).headers.map((h) => [h.id, h.finishMs]);

    expect(withZero).toEqual(without);
  });
});
