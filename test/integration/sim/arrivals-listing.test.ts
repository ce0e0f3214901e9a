// Listing an arrivals dataset (sim/arrivals.ts) over HTTP: a conversation appears once it is created
// and reads as finished from its arrival on, as the simulated week (bench/week.ts) needs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationInstance } from '../../../sim/index.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { type Api, api, collectPages } from './http.ts';

const START = new Date('2026-03-02T00:00:00.000Z');
let s: TestSimulator;
let a: Api;

beforeAll(async () => {
  s = await startTestSimulator({
    seed: 5,
    now: START,
    // A simulated day of 10 simulated hours of sim time: nothing arrives during the test but day 1's first hour.
    arrivals: { days: 2, perDay: 40, dayMs: 36_000_000, interactions: 6, voiceShare: 0.1 },
    rateLimits: { enabled: false },
    tokenTtlMs: 7 * 86_400_000,
  });
  a = await api(s);
});
afterAll(async () => {
  await s.stop();
});

describe('arrivals over HTTP', () => {
  it('when the clock moves through the days, then only created conversations are listed and the finished ones grow with the arrivals', async () => {
    const list = (query: Record<string, string | boolean> = {}) =>
      collectPages<ConversationInstance>(a, '/conversation/', 'conversations', query, 150);

    const atStart = await list();
    const finishedAtStart = await list({ is_finished: true });
    s.control.advanceClock(36_000_000);
    const afterDay1 = await list({ is_finished: true });
    s.control.advanceClock(36_000_000);
    const afterDay2 = await list({ is_finished: true });

    expect(atStart.items.every((c) => Date.parse(c.created_at) <= s.control.now().getTime())).toBe(true);
    expect(atStart.items.length).toBeLessThan(80);
    expect(finishedAtStart.items).toHaveLength(0);
    expect(afterDay1.items).toHaveLength(40);
    expect(afterDay2.items).toHaveLength(80);
  });
});
