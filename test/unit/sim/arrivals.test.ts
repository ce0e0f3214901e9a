// Arrivals datasets (sim/arrivals.ts): conversations that finish through the simulated days, the
// shape bench/week.ts drives the pipeline with.
import { describe, expect, it } from 'vitest';
import { HOURLY_WEIGHTS, INTERACTION_SPAN_MS } from '../../../sim/arrivals.ts';
import { Dataset } from '../../../sim/dataset.ts';

const NOW = Date.parse('2026-03-02T00:00:00.000Z');
const DAY_MS = 120_000;

function arriving(days: number, perDay: number, voiceShare = 0.1): Dataset {
  return new Dataset({
    seed: 7,
    conversations: days * perDay,
    startMs: NOW,
    largeRecordings: 0,
    largeRecordingBytes: 1_000_000,
    longConversations: 0,
    arrivals: { days, perDay, dayMs: DAY_MS, interactions: 6, voiceShare },
  });
}

describe('arrivals datasets', () => {
  it('when conversations arrive over 3 days, then each day has its share, finishing inside that day, and none is finished before it arrives', () => {
    const ds = arriving(3, 200);

    const perDay = [0, 0, 0];
    for (const h of ds.headers) {
      const finish = h.finishMs as number;
      const day = Math.floor((finish - NOW) / DAY_MS);
      perDay[day] = (perDay[day] ?? 0) + 1;
      expect(ds.isFinished(h, finish - 1)).toBe(false);
      expect(ds.isFinished(h, finish)).toBe(true);
      expect(ds.isAnalyzed(h, finish)).toBe(false);
      expect(ds.isAnalyzed(h, h.analyzedMs as number)).toBe(true);
    }
    expect(perDay).toEqual([200, 200, 200]);
  });

  it('when a conversation finishes, then all its messages are visible and it has the configured interactions, each with an agent message', () => {
    const ds = arriving(1, 50);

    for (const h of ds.headers) {
      const body = ds.body(h);
      expect(ds.visibleCount(h, h.finishMs as number)).toBe(body.messages.length);
      expect(body.interactions).toHaveLength(6);
      expect(body.interactions.every((i) => i.agentMessageIndex !== undefined)).toBe(true);
      expect(h.finishMs as number).toBeLessThanOrEqual(h.createdMs + 6 * INTERACTION_SPAN_MS + 1_000);
    }
  });

  it('when 2,000 conversations arrive, then office hours carry about three times the night hours per hour and about a tenth are voice', () => {
    const ds = arriving(1, 2_000);

    const office = ds.headers.filter((h) => {
      const hour = Math.floor((((h.finishMs as number) - NOW) / DAY_MS) * 24);
      return (HOURLY_WEIGHTS[hour] ?? 0) > 1;
    }).length;
    const voice = ds.headers.filter((h) => h.format === 'voice').length;
    // 12 office hours at weight 3 and 12 night hours at weight 1: 36/48 of the day's conversations.
    expect(office / 2_000).toBeGreaterThan(0.7);
    expect(office / 2_000).toBeLessThan(0.8);
    expect(voice / 2_000).toBeGreaterThan(0.07);
    expect(voice / 2_000).toBeLessThan(0.13);
  });
});
