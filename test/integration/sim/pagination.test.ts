import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationInstance, MessageInstance } from '../../../sim/index.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { type Api, api, collectPages } from './http.ts';

let s: TestSimulator;
let a: Api;

beforeAll(async () => {
  s = await startTestSimulator({ conversations: 60, seed: 7, rateLimits: { enabled: false } });
  a = await api(s);
});
afterAll(async () => {
  await s.stop();
});

const ids = (items: Array<{ id: string }>) => items.map((i) => i.id);

describe('conversation pages', () => {
  it('when all pages are followed, then every conversation appears exactly once, newest first, despite short pages', async () => {
    const truth = s.control.conversations();

    const result = await collectPages<ConversationInstance>(a, '/conversation/', 'conversations', {}, 7);

    expect(ids(result.items)).toEqual(ids(truth));
    expect(result.shortPages).toBeGreaterThan(0);
    expect(result.tokens.slice(0, -1).every((t) => typeof t === 'number' && (t - 3) % 7 === 0)).toBe(true);
  });

  it('when sorted by +created_at, then the order is oldest first', async () => {
    const result = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { sort_by: '+created_at' },
      150,
    );

    expect(ids(result.items)).toEqual(ids(s.control.conversations()).reverse());
  });

  it('when filtered by is_finished, service, user and id, then only matching conversations return', async () => {
    const truth = s.control.conversations();
    const [one, two] = truth;
    const service = one?.service_id as string;
    const user = two?.user_id as string;

    const finished = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { is_finished: false },
      150,
    );
    const byService = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { service_id: service },
      150,
    );
    const byUser = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { user_id: user },
      150,
    );
    const byId = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { id: [one?.id as string, two?.id as string] },
      150,
    );

    expect(ids(finished.items)).toEqual(ids(truth.filter((c) => !c.is_finished)));
    expect(ids(byService.items)).toEqual(ids(truth.filter((c) => c.service_id === service)));
    expect(ids(byUser.items)).toEqual(ids(truth.filter((c) => c.user_id === user)));
    expect(ids(byId.items)).toEqual([one?.id, two?.id]);
  });

  it('when filtered by tag key:value, key:* and key: (null), then tags match accordingly', async () => {
    const truth = s.control.conversations();
    const has = (c: ConversationInstance, k: string) => Object.hasOwn(c.tags, k);

    const exact = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { tag: 'channel:web' },
      150,
    );
    const any = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { tag: 'priority:*' },
      150,
    );
    const nulls = await collectPages<ConversationInstance>(
      a,
      '/conversation/',
      'conversations',
      { tag: 'priority:' },
      150,
    );

    expect(ids(exact.items)).toEqual(ids(truth.filter((c) => c.tags.channel === 'web')));
    expect(ids(any.items)).toEqual(ids(truth.filter((c) => has(c, 'priority'))));
    expect(ids(nulls.items)).toEqual(
      ids(truth.filter((c) => has(c, 'priority') && c.tags.priority === null)),
    );
    expect(any.items.length).toBeGreaterThan(nulls.items.length);
  });
});

describe('message pages', () => {
  it('when a conversation of more than 500 messages is paged with the maximum limit, then every message appears once, newest first', async () => {
    const long = s.control.conversations().find((c) => c.num_messages > 500) as ConversationInstance;
    const defaults = new Set(['user-message', 'agent-message', 'external-event']);
    const truth = s.control
      .messages(long.id)
      .filter((m) => defaults.has(m.message_type))
      .reverse();

    const result = await collectPages<MessageInstance>(
      a,
      `/conversation/${long.id}/messages/`,
      'messages',
      {},
      500,
    );

    expect(truth.length).toBeGreaterThan(500);
    expect(result.pages).toBeGreaterThan(1);
    expect(ids(result.items)).toEqual(ids(truth));
  });

  it('when all four types are asked for with small pages, then all messages come back with short pages', async () => {
    const long = s.control.conversations().find((c) => c.num_messages > 500) as ConversationInstance;
    const all = ['user-message', 'agent-message', 'agent-inner-thought', 'external-event'];

    const result = await collectPages<MessageInstance>(
      a,
      `/conversation/${long.id}/messages/`,
      'messages',
      { message_type: all, sort_by: 'created_at' },
      40,
    );

    expect(ids(result.items)).toEqual(ids(s.control.messages(long.id)));
    expect(result.shortPages).toBeGreaterThan(0);
  });

  it('when filtered by interaction_id and id, then only those messages return', async () => {
    const conversation = s.control.conversations().find((c) => c.num_messages > 6) as ConversationInstance;
    const messages = s.control.messages(conversation.id);
    const interaction = messages[1]?.interaction_id as string;
    const wanted = messages.filter((m) => m.message_type === 'user-message').slice(0, 2);

    const byInteraction = await a.json<{ messages: MessageInstance[] }>(
      `/conversation/${conversation.id}/messages/`,
      {
        interaction_id: interaction,
        message_type: ['user-message', 'agent-message', 'agent-inner-thought', 'external-event'],
        sort_by: 'created_at',
      },
    );
    const byId = await a.json<{ messages: MessageInstance[] }>(`/conversation/${conversation.id}/messages/`, {
      id: ids(wanted),
    });

    expect(ids(byInteraction.messages)).toEqual(
      ids(messages.filter((m) => m.interaction_id === interaction)),
    );
    expect(ids(byId.messages).sort()).toEqual(ids(wanted).sort());
  });

  it('when sorted by interaction_id, then interactions are grouped in ascending order', async () => {
    const conversation = s.control.conversations().find((c) => c.num_messages > 6) as ConversationInstance;

    const body = await a.json<{ messages: MessageInstance[] }>(`/conversation/${conversation.id}/messages/`, {
      sort_by: 'interaction_id',
    });

    const seen = body.messages.map((m) => m.interaction_id);
    expect(seen).toEqual([...seen].sort());
  });
});
