import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationInstance, MessageInstance } from '../../../sim/index.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { type Api, api } from './http.ts';

let s: TestSimulator;
let a: Api;
const UNKNOWN = 'f'.repeat(24);

beforeAll(async () => {
  s = await startTestSimulator({ conversations: 30, rateLimits: { enabled: false } });
  a = await api(s);
});
afterAll(async () => {
  await s.stop();
});

function byScenario(kind: string): ConversationInstance {
  const found = s.control.conversations().find((c) => s.control.scenario(c.id) === kind);
  if (!found) throw new Error(`no ${kind} conversation`);
  return found;
}

async function detail(res: Response): Promise<Array<{ loc: Array<string | number>; type: string }>> {
  return ((await res.json()) as { detail: Array<{ loc: Array<string | number>; type: string }> }).detail;
}

describe('422 validation', () => {
  it.each([
    ['limit=0', { limit: 0 }, ['query', 'limit']],
    ['limit=151', { limit: 151 }, ['query', 'limit']],
    ['limit=abc', { limit: 'abc' }, ['query', 'limit']],
    ['a non-integer continuation_token', { continuation_token: '1.5' }, ['query', 'continuation_token']],
    ['a token that is not one of ours', { continuation_token: 151 }, ['query', 'continuation_token']],
    ['a bad id', { id: 'nothex' }, ['query', 'id', 0]],
    ['a bad service_id', { service_id: ['a'.repeat(24), 'XYZ'] }, ['query', 'service_id', 1]],
    ['a bad is_finished', { is_finished: 'maybe' }, ['query', 'is_finished']],
    ['an unsupported sort field', { sort_by: 'num_messages' }, ['query', 'sort_by', 0]],
    ['a tag without a colon', { tag: 'channel' }, ['query', 'tag', 0]],
  ])(
    'when conversations are listed with %s, then the answer is 422 at that field',
    async (_n, query, loc) => {
      const res = await a.get('/conversation/', query);

      expect(res.status).toBe(422);
      expect((await detail(res)).map((d) => d.loc)).toContainEqual(loc);
    },
  );

  it.each([
    ['limit=501', { limit: 501 }, ['query', 'limit']],
    ['an unknown message_type', { message_type: 'note' }, ['query', 'message_type', 0]],
    ['a bad interaction_id', { interaction_id: 'x' }, ['query', 'interaction_id', 0]],
  ])('when messages are listed with %s, then the answer is 422', async (_n, query, loc) => {
    const id = s.control.conversations()[0]?.id;

    const res = await a.get(`/conversation/${id}/messages/`, query);

    expect(res.status).toBe(422);
    expect((await detail(res)).map((d) => d.loc)).toContainEqual(loc);
  });

  it('when a path id does not match ^[a-f0-9]{24}$, then the answer is 422 at the path', async () => {
    const res = await a.get('/conversation/ABC/messages/');

    expect(res.status).toBe(422);
    expect((await detail(res))[0]?.loc).toEqual(['path', 'conversation_id']);
  });

  it.each([
    ['invalid JSON', '{"updates":', ['body', 0]],
    ['a key with a dash', { updates: { 'bad-key': 'v' } }, ['body', 'updates']],
    ['an empty key', { updates: { ' ': 'v' } }, ['body', 'updates']],
    ['an empty value', { updates: { k: '' } }, ['body', 'updates', 'k']],
    ['an empty delete', { deletes: [''] }, ['body', 'deletes', 0]],
    [
      '21 updates',
      { updates: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) },
      ['body', 'updates'],
    ],
    ['no body', undefined, ['body']],
  ])('when tags are modified with %s, then the answer is 422', async (_n, body, loc) => {
    const id = s.control.conversations()[0]?.id;

    const res = await a.post(`/conversation/${id}/tags/`, body);

    expect(res.status).toBe(422);
    expect((await detail(res)).map((d) => d.loc)).toContainEqual(loc);
  });

  it('when recommend is called with an empty context, then the answer is 422', async () => {
    const stalled = byScenario('stalled');
    const interaction = s.control.messages(stalled.id).at(-1)?.interaction_id;

    const res = await a.post(`/conversation/${stalled.id}/interaction/${interaction}/recommend_responses`, {
      context: '  ',
    });

    expect(res.status).toBe(422);
  });
});

describe('404 not found', () => {
  it('when the conversation is unknown, then messages, tags, insights and recommend answer 404', async () => {
    const results = await Promise.all([
      a.get(`/conversation/${UNKNOWN}/messages/`),
      a.post(`/conversation/${UNKNOWN}/tags/`, { updates: { a: 'b' } }),
      a.get(`/conversation/${UNKNOWN}/interaction/${UNKNOWN}/insights`),
      a.post(`/conversation/${UNKNOWN}/interaction/${UNKNOWN}/recommend_responses`, {}),
      a.get(`/conversation/${UNKNOWN}/messages/${UNKNOWN}/source`),
    ]);

    expect(results.map((r) => r.status)).toEqual([404, 404, 404, 404, 404]);
  });

  it('when the message or interaction is unknown in a known conversation, then the answer is 404', async () => {
    const id = s.control.conversations()[0]?.id;

    const source = await a.get(`/conversation/${id}/messages/${UNKNOWN}/source`);
    const insights = await a.get(`/conversation/${id}/interaction/${UNKNOWN}/insights`);

    expect([source.status, insights.status]).toEqual([404, 404]);
  });

  it('when a path is not an Amigo operation, then the answer is 404, and a wrong method 405', async () => {
    const missing = await a.get('/nothing/here');
    const wrongMethod = await a.post('/conversation/', {});

    expect(missing.status).toBe(404);
    expect(wrongMethod.status).toBe(405);
  });
});

describe('400 bad request', () => {
  it("when a text message's source is requested, then the answer is 400", async () => {
    const text = s.control
      .conversations()
      .flatMap((c) => s.control.messages(c.id).map((m) => ({ c, m })))
      .find(({ m }) => m.format === 'text') as { c: ConversationInstance; m: MessageInstance };

    const res = await a.get(`/conversation/${text.c.id}/messages/${text.m.id}/source`);

    expect(res.status).toBe(400);
  });

  it('when recommend is asked for a finished conversation, then the answer is 400', async () => {
    const finished = byScenario('finished-analyzed');
    const interaction = s.control.messages(finished.id).at(-1)?.interaction_id;

    const res = await a.post(
      `/conversation/${finished.id}/interaction/${interaction}/recommend_responses`,
      {},
    );

    expect(res.status).toBe(400);
  });

  it('when recommend is asked for an interaction that is not the latest, then the answer is 400', async () => {
    const stalled = s.control
      .conversations()
      .find(
        (c) =>
          s.control.scenario(c.id) === 'stalled' &&
          new Set(s.control.messages(c.id).map((m) => m.interaction_id)).size > 1,
      );
    const first = s.control.messages(stalled?.id ?? '')[0]?.interaction_id;

    const res = await a.post(`/conversation/${stalled?.id}/interaction/${first}/recommend_responses`, {});

    expect(res.status).toBe(400);
  });

  it('when the latest interaction still awaits the agent, then recommend answers 400', async () => {
    const waiting = s.control
      .conversations()
      .find(
        (c) =>
          s.control.scenario(c.id) === 'active' &&
          s.control.messages(c.id).at(-1)?.message_type === 'user-message',
      );
    const latest = s.control.messages(waiting?.id ?? '').at(-1)?.interaction_id;

    const res = await a.post(`/conversation/${waiting?.id}/interaction/${latest}/recommend_responses`, {});

    expect(res.status).toBe(400);
  });

  it('when an update would leave more than 20 tags, then the answer is 400 and nothing changes', async () => {
    const full = s.control
      .conversations()
      .find((c) => Object.keys(c.tags).length === 20) as ConversationInstance;

    const res = await a.post(`/conversation/${full.id}/tags/`, { updates: { one_more: 'x' } });

    expect(res.status).toBe(400);
    expect(s.control.conversation(full.id)?.tags).toEqual(full.tags);
    expect(s.control.stats().writes.at(-1)).toMatchObject({ conversationId: full.id, status: 400 });
  });
});
