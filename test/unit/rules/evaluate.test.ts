import { describe, expect, it } from 'vitest';
import {
  conversationDurationMs,
  evaluateRules,
  parseRules,
  type RuleResult,
  sanitizeFact,
} from '../../../shared/rules/index.ts';
import { archived, message, oneRule, SERVICE, tool, transition } from './fixtures.ts';

/** The single rule's result. */
function run(when: unknown, conv = basic(), set: Record<string, string | null> = { hit: 'yes' }): RuleResult {
  return evaluateRules(oneRule(when, set), conv).results[0] as RuleResult;
}
const matches = (when: unknown, conv = basic()) => run(when, conv).matched;

function basic() {
  return archived(
    [
      message('user-message', 'Hi, I have a question about my bill', { at: 1, interaction: 'i1', id: 'u1' }),
      message('agent-inner-thought', 'Check the invoice first.', { at: 2, interaction: 'i1', id: 't1' }),
      message('agent-message', 'Of course. Could you confirm your date of birth?', {
        at: 3,
        interaction: 'i1',
        id: 'a1',
      }),
      message('user-message', 'I want to SPEAK TO A HUMAN please', {
        at: 60,
        interaction: 'i2',
        id: 'u2',
        format: 'voice',
      }),
      message('agent-message', 'Let me connect you.', {
        at: 62,
        interaction: 'i2',
        id: 'a2',
        format: 'voice',
      }),
      message('external-event', 'User switched device.', { at: 90, interaction: 'i3', id: 'e1' }),
    ],
    [
      [
        'i1',
        {
          current_state_name: 'verify_identity',
          current_state_action: 'Confirm identity details',
          state_transition_logs: [
            transition('action', 'greeting', 'identify_need', {
              previous_state_exit_condition_description: 'The user stated their request.',
            }),
            transition('recall', 'identify_need', 'verify_identity', {
              performed_queries: ['the bill I received'],
            }),
          ],
          working_memory: [{ content: 'Allergic to penicillin', context: 'From the intake form' }],
          reflections: ['I should have asked for the date earlier.'],
          select_next_action_tool_call_logs: [[tool('get_invoice', 12.5)]],
        },
      ],
      [
        'i2',
        {
          current_state_name: 'verify_identity',
          state_transition_logs: [
            transition('jumpback', 'verify_identity', 'verify_identity'),
            transition('tool-call', 'verify_identity', 'verify_identity', {
              designated_tool_call_log: tool('create_ticket', 0.4, null),
            }),
          ],
          engage_user_tool_call_logs: [[tool('send_sms', 0.2, '{"status":"error"}')]],
          triggered_dynamic_behavior_set_version_info: ['6650f0c1a2b3c4d5e6f7beef', 3],
        },
      ],
    ],
    { tags: { channel: 'phone', cohort: null } },
  );
}

describe('conversation fields', () => {
  it('service, analyzed, tags, duration, message count', () => {
    expect(matches({ conversation: { service: SERVICE } })).toBe(true);
    expect(matches({ conversation: { service: ['6650f0c1a2b3c4d5e6f7ffff'] } })).toBe(false);
    expect(matches({ conversation: { analyzed: true } })).toBe(true);
    expect(matches({ conversation: { analyzed: false } })).toBe(false);
    expect(matches({ conversation: { tags: { has: ['channel', 'cohort'] } } })).toBe(true);
    expect(matches({ conversation: { tags: { has: 'reviewed' } } })).toBe(false);
    expect(matches({ conversation: { tags: { lacks: 'reviewed' } } })).toBe(true);
    expect(matches({ conversation: { tags: { lacks: 'channel' } } })).toBe(false);
    expect(matches({ conversation: { tags: { equals: { channel: 'phone', cohort: null } } } })).toBe(true);
    expect(matches({ conversation: { tags: { equals: { channel: 'web' } } } })).toBe(false);
    expect(matches({ conversation: { tags: { equals: { cohort: 'pilot' } } } })).toBe(false);
    expect(matches({ conversation: { duration: { gte: '90s', lt: '91s' } } })).toBe(true);
    expect(matches({ conversation: { duration: { gt: '90s' } } })).toBe(false);
    expect(matches({ conversation: { message_count: { eq: 6 } } })).toBe(true);
    expect(matches({ conversation: { message_count: { lte: 5 } } })).toBe(false);
  });

  it('duration is the last message (any type) minus the conversation start; 0 without messages', () => {
    expect(conversationDurationMs(basic())).toBe(90_000);
    expect(conversationDurationMs(archived([]))).toBe(0);
  });

  it('explains each field; a failing rule quotes only the failing fields', () => {
    const result = run({ conversation: { analyzed: true, duration: { gt: '30m' } } });
    expect(result.matched).toBe(false);
    expect(result.reasons).toEqual([
      { condition: 'when.conversation.duration', detail: 'the conversation lasted 1m30s (needs > 30m)' },
    ]);
  });
});

describe('messages', () => {
  it('type scopes, contains is a case-insensitive substring (one of), matches a case-insensitive regex', () => {
    expect(matches({ messages: { type: 'user-message', contains: 'speak to a human' } })).toBe(true);
    expect(matches({ messages: { type: 'agent-message', contains: 'speak to a human' } })).toBe(false);
    expect(matches({ messages: { contains: ['nope', 'CONNECT YOU'] } })).toBe(true);
    expect(matches({ messages: { matches: '\\bspeak\\s+to\\s+a\\s+(human|person)\\b' } })).toBe(true);
    expect(matches({ messages: { matches: '^speak' } })).toBe(false);
    expect(matches({ messages: { type: 'agent-inner-thought', contains: 'invoice' } })).toBe(true);
    expect(matches({ messages: { type: 'external-event', contains: 'device' } })).toBe(true);
  });

  it('format, sender and is are tests on each message', () => {
    expect(matches({ messages: { type: 'user-message', format: 'voice' } })).toBe(true);
    expect(matches({ messages: { type: 'external-event', format: 'voice' } })).toBe(false);
    expect(matches({ messages: { sender: 'maria garcia' } })).toBe(true);
    expect(matches({ messages: { sender: { contains: 'nov' }, type: 'user-message' } })).toBe(false);
    expect(
      matches({ messages: { type: ['user-message', 'agent-message'], last: 1, is: 'agent-message' } }),
    ).toBe(true);
    expect(
      matches({ messages: { type: ['user-message', 'agent-message'], last: 1, is: 'user-message' } }),
    ).toBe(false);
  });

  it('first and last take a window of the scoped messages, in conversation order', () => {
    expect(matches({ messages: { type: 'agent-message', first: 1, matches: '\\?\\s*$' } })).toBe(true);
    expect(matches({ messages: { type: 'agent-message', last: 1, matches: '\\?\\s*$' } })).toBe(false);
    expect(matches({ messages: { last: 1, contains: 'device' } })).toBe(true);
  });

  it('quantifiers: any (default), all, none, count', () => {
    expect(matches({ messages: { type: 'user-message', format: 'voice', match: 'all' } })).toBe(false);
    expect(
      matches({ messages: { type: 'agent-message', contains: ['connect', 'confirm'], match: 'all' } }),
    ).toBe(true);
    expect(matches({ messages: { type: 'user-message', contains: 'refund', match: 'none' } })).toBe(true);
    expect(matches({ messages: { type: 'user-message', contains: 'human', match: 'none' } })).toBe(false);
    expect(matches({ messages: { type: 'user-message', count: { eq: 2 } } })).toBe(true);
    expect(matches({ messages: { format: 'voice', count: { gte: 3 } } })).toBe(false);
    expect(matches({ messages: { contains: 'zzz', count: { eq: 0 } } })).toBe(true);
    // all over nothing is false (a conversation with no voice messages is not "all voice").
    expect(matches({ messages: { type: 'user-message', match: 'all' } }, archived([]))).toBe(false);
  });

  it('explains a match with the message and its interaction, and a miss with a summary', () => {
    const hit = run({
      any: [{ conversation: { analyzed: false } }, { messages: { type: 'user-message', contains: 'human' } }],
    });
    expect(hit.matched).toBe(true);
    expect(hit.reasons).toEqual([
      {
        condition: 'when.any[1].messages',
        detail: 'user-message u2: contains "human": "I want to SPEAK TO A HUMAN please"',
        messageId: 'u2',
        interactionId: 'i2',
      },
    ]);
    const miss = run({ messages: { type: 'user-message', contains: 'refund' } });
    expect(miss.reasons).toEqual([
      { condition: 'when.messages', detail: 'none of the 2 user messages matches (contains "refund")' },
    ]);
  });
});

describe('patterns against hostile text', () => {
  // `^(a+)+$` backtracks exponentially in JavaScript's RegExp: 35 a's and a b took about two minutes,
  // 5,000 would outlive any Lambda. Rule patterns run in linear time, so these return at once.
  const hostile = (text: string) =>
    archived([
      message('user-message', text, { at: 1, interaction: 'i1', id: 'u1' }),
      message('agent-message', 'How can I help?', { at: 2, interaction: 'i1', id: 'a1' }),
    ]);

  it('when a user message is 35 a followed by b, then ^(a+)+$ does not match and evaluation returns', () => {
    const result = run(
      { messages: { type: 'user-message', matches: '^(a+)+$' } },
      hostile(`${'a'.repeat(35)}b`),
    );
    expect(result.matched).toBe(false);
    expect(result.reasons).toEqual([
      { condition: 'when.messages', detail: 'none of the 1 user messages matches (matches /^(a+)+$/i)' },
    ]);
  });

  it('when a user message is 5,000 a followed by b, then every catastrophic pattern misses and the right ones match', () => {
    const text = `${'a'.repeat(5000)}b`;
    const conv = hostile(text);
    for (const pattern of [
      '^(a+)+$',
      '^(a|a)*$',
      '^(a|aa)+$',
      '^(a*)*$',
      '(a+)+c',
      '^(\\w+\\s?)*\\?$',
      '(.*a){20}c',
    ]) {
      expect(matches({ messages: { type: 'user-message', matches: pattern } }, conv), pattern).toBe(false);
    }
    expect(matches({ messages: { type: 'user-message', matches: '^(a+)+b$' } }, conv)).toBe(true);
    expect(
      matches({ messages: { type: 'user-message', matches: '^(a+)+$' } }, hostile('a'.repeat(5000))),
    ).toBe(true);
  });

  it('when the hostile text is in a sender, a reflection or a tool output, then those text tests return too', () => {
    const text = `${'a'.repeat(5000)}!`;
    const conv = archived(
      [message('user-message', 'hi', { at: 1, interaction: 'i1', id: 'u1', sender: text })],
      [['i1', { reflections: [text], select_next_action_tool_call_logs: [[tool('lookup', 1, text)]] }]],
    );
    expect(matches({ messages: { sender: { matches: '^(a+)+$' } } }, conv)).toBe(false);
    expect(matches({ reflections: { matches: '^(a|a)+$' } }, conv)).toBe(false);
    expect(matches({ tools: { output: { matches: '^(a*)*$' } } }, conv)).toBe(false);
    expect(matches({ tools: { output: { matches: '^(a*)*!$' } } }, conv)).toBe(true);
  });

  it('when a pattern matches, then the reason quotes the text around the leftmost match, as before', () => {
    const text = `${'x'.repeat(200)} please let me SPEAK to a human now ${'y'.repeat(100)}`;
    const hit = run(
      { messages: { type: 'user-message', matches: 'speak\\s+to\\s+a\\s+(human|person)' } },
      hostile(text),
    );
    // The quote starts 30 characters before the match, as it did with RegExp's exec().index.
    expect(hit.reasons[0]?.detail).toBe(
      `user-message u1: matches /speak\\s+to\\s+a\\s+(human|person)/i: "…${'x'.repeat(15)} please let me SPEAK to a human now ${'y'.repeat(29)}…"`,
    );
  });
});

describe('insights', () => {
  it('interactions: state, action, objective; captures the state', () => {
    expect(matches({ interactions: { state: 'VERIFY_IDENTITY' } })).toBe(true);
    expect(matches({ interactions: { state: ['greeting', 'wrap_up'] } })).toBe(false);
    expect(matches({ interactions: { action: { contains: 'identity' } } })).toBe(true);
    expect(matches({ interactions: { objective: { matches: '^understand' } } })).toBe(true);
    expect(matches({ interactions: { state: 'verify_identity', count: { eq: 2 } } })).toBe(true);
    const r = run({ interactions: { last: 1 } }, basic(), { ended_in: '{state}' });
    expect(r.set).toEqual({ ended_in: 'verify_identity' });
    expect(r.reasons[0]).toMatchObject({ condition: 'when.interactions', interactionId: 'i2' });
  });

  it('states: visits in total or in a row, filtered by name; captures the state', () => {
    expect(matches({ states: { visits: { gte: 2 } } })).toBe(true);
    expect(matches({ states: { visits: { gte: 2 }, consecutive: true } })).toBe(true);
    expect(matches({ states: { visits: { gte: 3 } } })).toBe(false);
    expect(matches({ states: { name: 'greeting', visits: { gte: 1 } } })).toBe(false);
    const loop = run({ states: { visits: { gte: 2 }, consecutive: true } }, basic(), {
      loop_state: '{state}',
    });
    expect(loop.set).toEqual({ loop_state: 'verify_identity' });
    expect(loop.reasons[0]?.detail).toBe(
      'state "verify_identity" was the current state of 2 interactions in a row (needs >= 2): i1, i2',
    );
    const miss = run({ states: { visits: { gte: 3 }, consecutive: true } });
    expect(miss.reasons[0]?.detail).toBe(
      'no state was the current state of >= 3 interactions in a row; the most: "verify_identity" with 2',
    );
  });

  it('states in a row: a visit in between breaks the run', () => {
    const conv = archived(
      [
        message('agent-message', 'a', { interaction: 'x1' }),
        message('agent-message', 'b', { interaction: 'x2' }),
        message('agent-message', 'c', { interaction: 'x3' }),
      ],
      [
        ['x1', { current_state_name: 'schedule' }],
        ['x2', { current_state_name: 'greeting' }],
        ['x3', { current_state_name: 'schedule' }],
      ],
    );
    expect(matches({ states: { visits: { eq: 2 } } }, conv)).toBe(true);
    expect(matches({ states: { visits: { eq: 2 }, consecutive: true } }, conv)).toBe(false);
  });

  it('transitions: each of the 7 types, from, to, exit condition, recall queries; captures the next state', () => {
    const conv = archived(
      [message('agent-message', 'x', { interaction: 'k' })],
      [
        [
          'k',
          {
            state_transition_logs: [
              transition('action', 'a', 'b'),
              transition('decision', 'b', 'c'),
              transition('recall', 'c', 'd', { performed_queries: ['insurance coverage'] }),
              transition('jumpback', 'd', 'a'),
              transition('annotation', 'a', 'e'),
              transition('reflection', 'e', 'f'),
              transition('tool-call', 'f', 'g'),
            ],
          },
        ],
      ],
    );
    for (const [type, to] of [
      ['action', 'b'],
      ['decision', 'c'],
      ['recall', 'd'],
      ['jumpback', 'a'],
      ['annotation', 'e'],
      ['reflection', 'f'],
      ['tool-call', 'g'],
    ]) {
      const r = run({ transitions: { type } }, conv, { to: '{state}' });
      expect(r.matched, type).toBe(true);
      expect(r.set).toEqual({ to });
    }
    expect(matches({ transitions: { type: ['jumpback', 'recall'], count: { eq: 2 } } }, conv)).toBe(true);
    expect(matches({ transitions: { from: 'd', to: 'a' } }, conv)).toBe(true);
    expect(matches({ transitions: { type: 'action', to: 'c' } }, conv)).toBe(false);
    expect(matches({ transitions: { queries: { contains: 'insurance' } } }, conv)).toBe(true);
    expect(matches({ transitions: { exit_condition: { contains: 'stated their request' } } })).toBe(true);
  });

  it('tools: source, name, duration, output, input, from every place in the insights; captures the tool', () => {
    expect(matches({ tools: { duration: { gt: '10s' } } })).toBe(true);
    expect(matches({ tools: { duration: { gt: '13s' } } })).toBe(false);
    expect(matches({ tools: { source: 'engage-user', name: 'send_sms' } })).toBe(true);
    expect(matches({ tools: { source: 'select-next-action', name: 'send_sms' } })).toBe(false);
    expect(matches({ tools: { source: 'transition', name: 'create_ticket' } })).toBe(true);
    expect(matches({ tools: { output: { contains: '"error"' } } })).toBe(true);
    expect(matches({ tools: { name: 'create_ticket', output: { matches: '.*' } } })).toBe(false); // null output
    expect(matches({ tools: { input: { contains: 'appointment' }, count: { eq: 3 } } })).toBe(true);
    const r = run({ tools: { duration: { gt: '10s' } } }, basic(), { slow_tool: '{tool}' });
    expect(r.set).toEqual({ slow_tool: 'get_invoice' });
    expect(r.reasons[0]).toEqual({
      condition: 'when.tools',
      detail: 'tool get_invoice (select-next-action) in interaction i1: duration 12.5s (> 10s)',
      interactionId: 'i1',
    });
  });

  it('reflections, working memory and dynamic behaviours', () => {
    expect(matches({ reflections: { contains: 'should have asked' } })).toBe(true);
    expect(matches({ reflections: { matches: 'tool calls' } })).toBe(false);
    expect(matches({ working_memory: { contains: 'penicillin', context: { contains: 'intake' } } })).toBe(
      true,
    );
    expect(matches({ working_memory: { contains: 'penicillin', context: 'conversation' } })).toBe(false);
    expect(matches({ dynamic_behaviors: {} })).toBe(true);
    expect(matches({ dynamic_behaviors: { version: { gte: 4 } } })).toBe(false);
    expect(matches({ dynamic_behaviors: { set: '6650f0c1a2b3c4d5e6f7beef', version: { eq: 3 } } })).toBe(
      true,
    );
    const r = run({ dynamic_behaviors: {} }, basic(), { behavior: '{behavior_set}' });
    expect(r.set).toEqual({ behavior: '6650f0c1a2b3c4d5e6f7beef' });
  });
});

describe('all, any, not', () => {
  it('combine, with reasons that say which parts held or failed', () => {
    const hit = run({
      all: [
        { messages: { type: 'user-message', contains: 'human' } },
        { not: { conversation: { tags: { has: 'reviewed' } } } },
      ],
    });
    expect(hit.matched).toBe(true);
    expect(hit.reasons.map((r) => r.condition)).toEqual([
      'when.all[0].messages',
      'when.all[1].not',
      'when.all[1].not.conversation.tags.has',
    ]);
    expect(hit.reasons[1]?.detail).toBe('holds: the condition under it does not match');

    const miss = run({ all: [{ conversation: { analyzed: true } }, { tools: { name: 'nope' } }] });
    expect(miss.matched).toBe(false);
    expect(miss.reasons.map((r) => r.condition)).toEqual(['when.all[1].tools']);

    const anyMiss = run({ any: [{ conversation: { analyzed: false } }, { tools: { name: 'nope' } }] });
    expect(anyMiss.reasons.map((r) => r.condition)).toEqual([
      'when.any[0].conversation.analyzed',
      'when.any[1].tools',
    ]);

    expect(matches({ not: { not: { conversation: { analyzed: true } } } })).toBe(true);
  });

  it('a fact comes from the first condition that captured it', () => {
    const r = run(
      {
        all: [
          { interactions: { first: 1 } },
          { transitions: { type: 'jumpback' } },
          { tools: { name: 'send_sms' } },
        ],
      },
      basic(),
      { s: '{state}', t: '{tool}' },
    );
    expect(r.set).toEqual({ s: 'verify_identity', t: 'send_sms' });
  });
});

describe('templates', () => {
  it('sanitises a rendered fact to the tag pattern', () => {
    expect(sanitizeFact('verify-identity')).toBe('verify_identity');
    expect(sanitizeFact('  a.b//c  d ')).toBe('a_b_c d');
    expect(sanitizeFact('***')).toBe('_');
    expect(sanitizeFact('')).toBe('unknown');
    const conv = archived(
      [message('agent-message', 'x', { interaction: 'k' })],
      [['k', { current_state_name: 'Intake: step 2' }]],
    );
    expect(run({ interactions: {} }, conv, { at: 'in {state}' }).set).toEqual({ at: 'in Intake_ step 2' });
  });
});

describe('conflict resolution', () => {
  const rules = parseRules(
    {
      rules: [
        {
          name: 'one',
          when: { conversation: { analyzed: true } },
          set: { a: '1', b: '1', c: null },
          remove: ['d'],
        },
        {
          name: 'two (no match)',
          when: { conversation: { analyzed: false } },
          set: { a: 'never' },
          remove: ['b'],
        },
        {
          name: 'three',
          when: { conversation: { analyzed: true } },
          set: { a: '3', d: 'back' },
          remove: ['c'],
        },
        { name: 'four', when: { messages: { contains: 'human' } }, remove: ['a'], set: { e: 'x' } },
      ],
    },
    'test',
  );

  it('last matching writer wins; unmatched rules do not contribute; output sorted', () => {
    const evaluation = evaluateRules(rules, basic());
    expect(evaluation.results.map((r) => [r.rule, r.matched])).toEqual([
      ['one', true],
      ['two (no match)', false],
      ['three', true],
      ['four', true],
    ]);
    expect(evaluation.results[1]).toMatchObject({ set: {}, remove: [] });
    // a: set 1, set 3, then removed by four -> delete. b: only one sets it. c: set, then removed.
    // d: removed by one, set by three -> update. e: set by four.
    expect(evaluation.updates).toEqual({ b: '1', d: 'back', e: 'x' });
    expect(Object.keys(evaluation.updates)).toEqual(['b', 'd', 'e']);
    expect(evaluation.deletes).toEqual(['a', 'c']);
  });

  it('rules see the conversation as archived, not the tags earlier rules set', () => {
    const chained = parseRules(
      {
        rules: [
          { name: 'sets', when: { conversation: { analyzed: true } }, set: { reviewed: 'yes' } },
          { name: 'reads', when: { conversation: { tags: { has: 'reviewed' } } }, set: { seen: 'yes' } },
        ],
      },
      'test',
    );
    expect(evaluateRules(chained, basic()).updates).toEqual({ reviewed: 'yes' });
  });
});
