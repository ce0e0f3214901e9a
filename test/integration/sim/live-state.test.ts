import { afterEach, describe, expect, it } from 'vitest';
import type { ConversationInstance } from '../../../sim/index.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { api } from './http.ts';

const running: TestSimulator[] = [];
async function sim(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSimulator> {
  const s = await startTestSimulator({ conversations: 20, rateLimits: { enabled: false }, ...options });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function find(s: TestSimulator, test: (c: ConversationInstance) => boolean): ConversationInstance {
  const found = s.control.conversations().find(test);
  if (!found) throw new Error('no such conversation');
  return found;
}

describe('tags', () => {
  it('when tags are updated and deleted, then later reads show the change', async () => {
    const s = await sim();
    const a = await api(s);
    const target = find(s, (c) => Object.keys(c.tags).length > 0 && Object.keys(c.tags).length < 10);
    const [existing] = Object.keys(target.tags);

    const res = await a.post(`/conversation/${target.id}/tags/`, {
      updates: { qa_reviewed: 'yes', escalated: null },
      deletes: [existing],
    });
    const read = await a.json<{ conversations: ConversationInstance[] }>('/conversation/', { id: target.id });

    expect(res.status).toBe(204);
    const expected: Record<string, string | null> = { ...target.tags, qa_reviewed: 'yes', escalated: null };
    delete expected[existing as string];
    expect(read.conversations[0]?.tags).toEqual(expected);
    expect(s.control.conversation(target.id)?.tags).toEqual(expected);
    expect(s.control.stats().writes).toEqual([
      expect.objectContaining({
        operationId: 'modify-tags-of-conversation',
        conversationId: target.id,
        status: 204,
      }),
    ]);
  });

  it('when a conversation at 20 tags overwrites one and deletes one, then it succeeds', async () => {
    const s = await sim();
    const a = await api(s);
    const full = find(s, (c) => Object.keys(c.tags).length === 20);
    const [first, second] = Object.keys(full.tags) as [string, string];

    const res = await a.post(`/conversation/${full.id}/tags/`, {
      updates: { [first]: 'changed' },
      deletes: [second],
    });

    expect(res.status).toBe(204);
    expect(Object.keys(s.control.conversation(full.id)?.tags ?? {})).toHaveLength(19);
  });

  it('when a tag filter names a tag set during the run, then the conversation is found by it', async () => {
    const s = await sim();
    const a = await api(s);
    const target = find(s, (c) => Object.keys(c.tags).length < 10);
    await a.post(`/conversation/${target.id}/tags/`, { updates: { qa_batch: 'run1' } });

    const read = await a.json<{ conversations: ConversationInstance[] }>('/conversation/', {
      tag: 'qa_batch:run1',
    });

    expect(read.conversations.map((c) => c.id)).toEqual([target.id]);
  });
});

describe('recommend responses', () => {
  it('when a stalled conversation is asked for its latest interaction, then 2-3 deterministic suggestions return', async () => {
    const s = await sim();
    const a = await api(s);
    const stalled = find(s, (c) => s.control.scenario(c.id) === 'stalled');
    const interaction = s.control.messages(stalled.id).at(-1)?.interaction_id;
    const path = `/conversation/${stalled.id}/interaction/${interaction}/recommend_responses`;

    const first = await a.post(path, {});
    const second = await a.post(path);
    const one = (await first.json()) as { recommended_responses: string[] };
    const two = (await second.json()) as { recommended_responses: string[] };

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(one.recommended_responses.length).toBeGreaterThanOrEqual(2);
    expect(one.recommended_responses.length).toBeLessThanOrEqual(3);
    expect(two).toEqual(one);
    expect(s.control.stats().writes.map((w) => [w.operationId, w.interactionId, w.status])).toEqual([
      ['recommend-responses-for-interaction', interaction, 200],
      ['recommend-responses-for-interaction', interaction, 200],
    ]);
  });
});

describe('time', () => {
  it('when the clock moves 20 minutes, then finishes-during-run conversations finish and are analyzed', async () => {
    const s = await sim();
    const a = await api(s);
    const moving = s.control
      .conversations()
      .filter((c) => s.control.scenario(c.id) === 'finishes-during-run');
    const before = await a.json<{ conversations: ConversationInstance[] }>('/conversation/', {
      id: moving.map((c) => c.id),
    });

    s.control.advanceClock(20 * 60_000);
    const after = await a.json<{ conversations: ConversationInstance[] }>('/conversation/', {
      id: moving.map((c) => c.id),
    });

    expect(moving.length).toBeGreaterThan(0);
    expect(before.conversations.every((c) => !c.is_finished && !c.is_analyzed)).toBe(true);
    expect(after.conversations.every((c) => c.is_finished && c.is_analyzed)).toBe(true);
    expect(after.conversations.map((c) => c.num_messages)).toEqual(
      moving.map((c) => s.control.messages(c.id).length),
    );
  });

  it('when the start time is fixed, then data timestamps are relative to it', async () => {
    const before = performance.now();
    const s = await sim({ now: '2024-06-01T00:00:00Z' });

    const newest = s.control.conversations()[0];
    const simElapsed = s.control.now().getTime() - Date.parse('2024-06-01T00:00:00Z');
    const realElapsed = performance.now() - before;

    expect(Date.parse(newest?.created_at ?? '')).toBeLessThan(Date.parse('2024-06-01T00:00:00Z'));
    expect(Date.parse(newest?.created_at ?? '')).toBeGreaterThan(Date.parse('2024-05-01T00:00:00Z'));
    // The sim clock started at the fixed time and has run no faster than real time since.
    expect(simElapsed).toBeGreaterThanOrEqual(0);
    expect(simElapsed).toBeLessThanOrEqual(realElapsed);
  });
});
