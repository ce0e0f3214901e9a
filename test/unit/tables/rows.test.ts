import { describe, expect, it } from 'vitest';
import type { Manifest, StallRecord, TagsRecord } from '../../../shared/archive-format/documents.ts';
import { InvalidDocumentError } from '../../../shared/archive-format/read-document.ts';
import { MessageIdSchema } from '../../../shared/ids.ts';
import {
  type ConversationDocuments,
  conversationRow,
  InsightsRowSchema,
  interactionRows,
  MessageRowSchema,
  messageRows,
  stallRow,
  tagRows,
  toolCalls,
} from '../../../shared/tables/rows.ts';

const PREFIX = 'conversations/org=acme/date=2026-11-25/conversation=c1/';

function manifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    schema: 'amigo-qa/archive-manifest',
    schema_version: 1,
    organization_id: 'acme',
    conversation_id: 'c1',
    service_id: 's1',
    created_at: '2026-11-25T21:14:03.120Z',
    archived_at: '2026-11-26T02:03:11.512Z',
    run_id: 'r1',
    counts: {
      messages: 3,
      messages_by_type: { 'user-message': 1, 'agent-message': 1, 'agent-inner-thought': 1 },
      interactions: 2,
      insights: 2,
      audio: 1,
    },
    api: { num_messages: 4 },
    flags: ['num_messages_mismatch'],
    files: [
      { path: 'audio/m2.wav', bytes: 10, sha256: 'a'.repeat(64), content_type: 'audio/wav' },
      { path: 'conversation.json', bytes: 10, sha256: 'b'.repeat(64), content_type: 'application/json' },
    ],
    ...overrides,
  };
}

const message = (id: string, type: string, format = 'text', at = '2026-11-25T21:15:00.000Z') =>
  MessageRowSchema.parse({
    id,
    interaction_id: 'i1',
    created_at: at,
    sender: 'Kai',
    message: `text of ${id}`,
    format,
    message_type: type,
  });

const call = (tool_name: string, duration: number) => ({
  tool_name,
  tool_id: `${tool_name}-id`,
  tool_version: '1.0.0',
  input: { q: 1 },
  output: null,
  duration,
});

function docs(overrides: Partial<ConversationDocuments> = {}): ConversationDocuments {
  return {
    manifest: manifest(),
    conversation: {
      id: 'c1',
      user_id: 'u1',
      is_finished: true,
      is_analyzed: false,
      tags: { region: 'north' },
    },
    messages: [
      message('m1', 'user-message'),
      message('m2', 'agent-message', 'voice'),
      message('m3', 'agent-inner-thought'),
    ],
    insights: [
      InsightsRowSchema.parse({ interaction_id: 'i1', insights: { current_state_name: 'greeting' } }),
      InsightsRowSchema.parse({
        interaction_id: 'i2',
        insights: {
          current_state_name: 'schedule',
          state_transition_logs: [
            { type: 'action', tool_call_logs: [[call('a', 1.5)]], designated_tool_call_log: call('b', 2) },
          ],
          select_next_action_tool_call_logs: [[call('c', 3), call('d', 4)]],
          engage_user_tool_call_logs: [[call('e', 5)]],
          reflections: ['r'],
          working_memory: [],
        },
      }),
    ],
    tags: undefined,
    prefix: PREFIX,
    ...overrides,
  };
}

function tags(overrides: Partial<TagsRecord> = {}): TagsRecord {
  return {
    schema_version: 1,
    conversation_id: 'c1',
    evaluated_at: '2026-11-26T02:05:00.000Z',
    rules_source: 'rules.yaml',
    run_id: 'r1',
    before: { keep: 'yes' },
    after: {},
    applied: { updates: {}, deletes: [] },
    dropped: [],
    posted: true,
    results: [],
    ...overrides,
  };
}

const rule = (name: string, matched: boolean, set: Record<string, string | null>, remove: string[] = []) => ({
  rule: name,
  matched,
  reasons: [],
  set,
  remove,
});

describe('conversation rows', () => {
  it("when a folder is read, then its row holds the manifest's ids, times in ms, counts, flags and the last state", () => {
    const row = conversationRow(docs());

    expect(row).toMatchObject({
      conversation_id: 'c1',
      organization_id: 'acme',
      service_id: 's1',
      user_id: 'u1',
      run_id: 'r1',
      created_at: Date.parse('2026-11-25T21:14:03.120Z'),
      archived_at: Date.parse('2026-11-26T02:03:11.512Z'),
      is_finished: true,
      is_analyzed: false,
      num_messages: 4,
      messages: 3,
      user_messages: 1,
      agent_messages: 1,
      agent_inner_thoughts: 1,
      external_events: 0,
      interactions: 2,
      audio: 1,
      voice: true,
      flags: ['num_messages_mismatch'],
      final_state: 'schedule',
      last_message_type: 'agent-message',
    });
  });

  it('when there is no tags.json, then the tags are those of conversation.json; with one, those after its post', () => {
    expect(conversationRow(docs()).tags).toEqual({ region: 'north' });
    expect(conversationRow(docs({ tags: tags({ after: { region: 'south', x: null } }) })).tags).toEqual({
      region: 'south',
      x: null,
    });
  });

  it('when no message is spoken or voice and no insights exist, then voice is false and the last state and speaker null', () => {
    const row = conversationRow(docs({ messages: [message('m3', 'agent-inner-thought')], insights: [] }));

    expect(row).toMatchObject({ voice: false, final_state: null, last_message_type: null });
  });
});

describe('message rows', () => {
  it('when messages are read, then each has its position, time in ms and, when recorded, its recording key', () => {
    const rows = messageRows(docs());

    expect(rows.map((r) => [r.message_id, r.position, r.audio_key])).toEqual([
      ['m1', 0, null],
      ['m2', 1, `${PREFIX}audio/m2.wav`],
      ['m3', 2, null],
    ]);
    expect(rows[1]).toMatchObject({
      conversation_id: 'c1',
      interaction_id: 'i1',
      message_type: 'agent-message',
      format: 'voice',
      sender: 'Kai',
      message: 'text of m2',
      created_at: Date.parse('2026-11-25T21:15:00.000Z'),
    });
  });
});

describe('interaction rows', () => {
  it('when insights are read, then each interaction lists its tool calls from transitions, select-next-action and engage-user', () => {
    const rows = interactionRows(docs());

    expect(
      rows.map((r) => [r.interaction_id, r.position, r.current_state_name, r.tool_call_count, r.transitions]),
    ).toEqual([
      ['i1', 0, 'greeting', 0, 0],
      ['i2', 1, 'schedule', 5, 1],
    ]);
    expect(
      ((rows[1]?.tool_calls ?? []) as Array<Record<string, unknown>>).map((c) => [
        c.source,
        c.tool_name,
        c.duration,
      ]),
    ).toEqual([
      ['transition', 'a', 1.5],
      ['transition', 'b', 2],
      ['select-next-action', 'c', 3],
      ['select-next-action', 'd', 4],
      ['engage-user', 'e', 5],
    ]);
    expect(rows[0]).toMatchObject({
      tool_calls: [],
      reflections: [],
      working_memory: [],
      state_transition_logs: [],
    });
  });

  it('when a tool call has no output, then its row keeps null, not the input', () => {
    const [first] = toolCalls(docs().insights[1]?.insights ?? {}) as Array<Record<string, unknown>>;

    expect(first).toEqual({
      source: 'transition',
      tool_name: 'a',
      tool_id: 'a-id',
      tool_version: '1.0.0',
      duration: 1.5,
      output: null,
    });
  });
});

describe('tag rows', () => {
  it('when rules set, remove, drop and re-set tags, then each key has one row with the last matching rule and its action', () => {
    const record = tags({
      results: [
        rule('first', true, { a: '1', b: '1' }),
        rule('unmatched', false, { a: 'no' }),
        rule('second', true, { b: '2', keep: 'yes', full: 'x' }, ['gone']),
      ],
      applied: { updates: { a: '1', b: '2' }, deletes: ['gone'] },
      dropped: [{ key: 'full', value: 'x', reason: 'the 20-tag limit' }],
    });

    const rows = tagRows(record, `${PREFIX}tags.json`);

    expect(rows.map((r) => [r.key, r.value, r.rule, r.action, r.reason])).toEqual([
      ['a', '1', 'first', 'set', null],
      ['b', '2', 'second', 'set', null],
      ['full', 'x', 'second', 'dropped', 'the 20-tag limit'],
      ['gone', null, 'second', 'removed', null],
      ['keep', 'yes', 'second', 'unchanged', null],
    ]);
    expect(rows[0]).toMatchObject({
      conversation_id: 'c1',
      run_id: 'r1',
      posted: true,
      evaluated_at: Date.parse('2026-11-26T02:05:00.000Z'),
    });
  });

  it('when amigo-qa removes a tag it owns that no rule sets any more, then the removal is a row with no rule', () => {
    const record = tags({
      results: [rule('first', true, { a: '1' }), rule('retired', false, { old: 'x' })],
      before: { a: '1', old: 'x' },
      applied: { updates: {}, deletes: ['old'] },
    });

    const rows = tagRows(record, `${PREFIX}tags.json`);

    expect(rows.map((r) => [r.key, r.value, r.rule, r.action, r.cause])).toEqual([
      ['a', '1', 'first', 'unchanged', null],
      ['old', null, null, 'removed', null],
    ]);
  });

  it('when one key is dropped at the limit and another held by someone else, then each row carries its cause', () => {
    const record = tags({
      results: [rule('first', true, { full: 'x', theirs: 'ours' })],
      dropped: [
        { key: 'full', value: 'x', reason: 'the 20-tag limit', cause: 'limit' },
        { key: 'theirs', value: 'ours', reason: 'held by a person', cause: 'not-owned' },
      ],
    });

    const rows = tagRows(record, `${PREFIX}tags.json`);

    expect(rows.map((r) => [r.key, r.action, r.cause, r.reason])).toEqual([
      ['full', 'dropped', 'limit', 'the 20-tag limit'],
      ['theirs', 'dropped', 'not-owned', 'held by a person'],
    ]);
  });

  it('when a record written before ownership drops a key without a cause, then its cause is the limit', () => {
    const record = tags({
      results: [rule('first', true, { full: 'x' })],
      dropped: [{ key: 'full', value: 'x', reason: 'the 20-tag limit' }],
    });

    expect(tagRows(record, `${PREFIX}tags.json`).map((r) => r.cause)).toEqual(['limit']);
  });

  it('when no rule matched, then there is no row', () => {
    expect(tagRows(tags({ results: [rule('r', false, { a: '1' })] }), `${PREFIX}tags.json`)).toEqual([]);
  });
});

describe('stall rows', () => {
  it('when a stall record is read, then the wait is the time from the last agent message to the request', () => {
    const record: StallRecord = {
      schema: 'amigo-qa/stall-record',
      schema_version: 1,
      status: 'rejected',
      organization_id: 'acme',
      conversation_id: 'c1',
      interaction_id: 'i2',
      service_id: 's1',
      conversation_created_at: '2026-11-25T21:14:03.120Z',
      run_id: null,
      requested_at: '2026-11-26T02:00:00.000Z',
      answered_at: '2026-11-26T02:00:01.000Z',
      context: null,
      recommended_responses: [],
      last_agent_message: {
        id: MessageIdSchema.parse('6650f0c1a2b3c4d5e6f70899'),
        created_at: '2026-11-26T01:00:00.000Z',
        message: 'hidden',
        format: 'text',
      },
      num_messages: 7,
      rejection: { status: 400, detail: 'user replied' },
    };

    const row = stallRow(record, 'stalled/k.json');

    expect(row).toMatchObject({
      status: 'rejected',
      run_id: null,
      wait_ms: 3_600_000,
      answered_at: Date.parse('2026-11-26T02:00:01.000Z'),
      last_agent_message_id: '6650f0c1a2b3c4d5e6f70899',
      rejection_status: 400,
      error_code: null,
      tag: null,
    });
    expect(Object.values(row)).not.toContain('hidden');
  });
});

describe('bad timestamps', () => {
  it('when a stored timestamp cannot be read, then the error names the document and the field', () => {
    const bad = docs({ manifest: manifest({ archived_at: 'yesterday' }) });

    expect(() => conversationRow(bad)).toThrow(InvalidDocumentError);
    expect(() => conversationRow(bad)).toThrow(
      `${PREFIX}manifest.json is invalid: field archived_at: not a timestamp`,
    );
    expect(() => tagRows(tags({ evaluated_at: 'soon' }), `${PREFIX}tags.json`)).toThrow(
      /tags\.json is invalid: field evaluated_at/,
    );
  });
});
