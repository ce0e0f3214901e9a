// Property tests: evaluation is deterministic (same input, identical output including reasons),
// order-stable (the order messages and insights arrive in does not matter: evaluation sorts
// messages by created_at then id, interactions by their first message), does not touch its
// input, and resolves conflicts as "last matching writer wins".
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ArchivedConversation } from '../../../shared/archive/read.ts';
import {
  type InteractionInsights,
  type MessageInstance,
  transitionKinds,
} from '../../../shared/openapi/index.ts';
import { evaluateRules, parseRules } from '../../../shared/rules/index.ts';
import { conversation, insights, START, tool, transition } from './fixtures.ts';

const WORDS = ['human', 'bill', 'refill', 'please', 'help?', 'appointment', 'thanks', 'nurse', 'Allergic'];
const STATES = ['greeting', 'identify_need', 'verify_identity', 'schedule', 'wrap_up'];
const TOOLS = ['lookup_appointment', 'send_sms', 'create_ticket', 'get_invoice'];
const INTERACTIONS = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'];
const TRANSITIONS = transitionKinds;

const text = fc.array(fc.constantFrom(...WORDS), { minLength: 0, maxLength: 6 }).map((w) => w.join(' '));

const messagesArb = fc
  .array(
    fc.record({
      type: fc.constantFrom(
        'user-message',
        'agent-message',
        'agent-inner-thought',
        'external-event' as const,
      ),
      text,
      at: fc.integer({ min: 0, max: 40 }), // few distinct times, so ties on created_at happen
      format: fc.constantFrom('text', 'voice' as const),
      interaction: fc.constantFrom(...INTERACTIONS),
    }),
    { maxLength: 25 },
  )
  .map((rows) =>
    rows.map(
      (r, i): MessageInstance => ({
        id: `m${String(i).padStart(3, '0')}`,
        interaction_id: r.interaction,
        created_at: new Date(START + r.at * 60_000).toISOString(),
        sender: r.type === 'user-message' ? 'Maria' : 'Nova',
        message: r.text,
        format: r.format,
        message_type: r.type as MessageInstance['message_type'],
      }),
    ),
  );

const toolArb = fc
  .record({
    name: fc.constantFrom(...TOOLS),
    seconds: fc.double({ min: 0, max: 30, noNaN: true }),
    ok: fc.boolean(),
  })
  .map((t) => tool(t.name, t.seconds, t.ok ? '{"status":"ok"}' : null));

const insightsArb: fc.Arbitrary<InteractionInsights> = fc
  .record({
    state: fc.constantFrom(...STATES),
    transitions: fc.array(
      fc.record({
        type: fc.constantFrom(...TRANSITIONS),
        from: fc.constantFrom(...STATES),
        to: fc.constantFrom(...STATES),
      }),
      { maxLength: 3 },
    ),
    sna: fc.array(fc.array(toolArb, { minLength: 1, maxLength: 2 }), { maxLength: 2 }),
    engage: fc.array(fc.array(toolArb, { minLength: 1, maxLength: 2 }), { maxLength: 2 }),
    reflections: fc.array(text, { maxLength: 2 }),
    memory: fc.array(fc.record({ content: text, context: text }), { maxLength: 2 }),
    behavior: fc.option(
      fc.tuple(
        fc.constantFrom('aaaaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbb'),
        fc.integer({ min: 1, max: 5 }),
      ),
    ),
  })
  .map((r) =>
    insights({
      current_state_name: r.state,
      state_transition_logs: r.transitions.map((t) => transition(t.type, t.from, t.to)),
      select_next_action_tool_call_logs: r.sna,
      engage_user_tool_call_logs: r.engage,
      reflections: r.reflections,
      working_memory: r.memory,
      triggered_dynamic_behavior_set_version_info: r.behavior,
    }),
  );

const conversationArb: fc.Arbitrary<ArchivedConversation> = fc
  .record({
    messages: messagesArb,
    insights: fc.uniqueArray(fc.tuple(fc.constantFrom(...INTERACTIONS), insightsArb), {
      selector: ([id]) => id,
      maxLength: INTERACTIONS.length,
    }),
    analyzed: fc.boolean(),
    tags: fc.dictionary(
      fc.constantFrom('channel', 'reviewed', 'cohort'),
      fc.option(fc.constantFrom('a', 'b')),
    ),
  })
  .map((r) => ({
    conversation: conversation({ is_analyzed: r.analyzed, tags: r.tags, num_messages: r.messages.length }),
    messages: r.messages,
    insights: r.insights.map(([interaction_id, i]) => ({ interaction_id, insights: i })),
  }));

/** Rules over every family and quantifier, some with templates. */
const POOL = [
  {
    name: 'escalation',
    when: { messages: { type: 'user-message', contains: ['human', 'nurse'] } },
    set: { escalation: 'requested' },
  },
  {
    name: 'voice only',
    when: { messages: { type: ['user-message', 'agent-message'], format: 'voice', match: 'all' } },
    set: { modality: 'voice' },
  },
  {
    name: 'unanswered',
    when: {
      messages: {
        type: ['user-message', 'agent-message'],
        last: 1,
        is: 'agent-message',
        matches: '\\?\\s*$',
      },
    },
    set: { unanswered: 'yes' },
  },
  { name: 'loops', when: { states: { visits: { gte: 2 }, consecutive: true } }, set: { loop: '{state}' } },
  {
    name: 'visits',
    when: { states: { name: { contains: 'i' }, visits: { gte: 2 } } },
    set: { visited: '{state}' },
  },
  {
    name: 'slow',
    when: { tools: { duration: { gt: '10s' } } },
    set: { slow_tool: '{tool}' },
    remove: ['fast'],
  },
  {
    name: 'no output',
    when: { tools: { output: { contains: 'ok' }, match: 'none' } },
    set: { fast: 'maybe' },
  },
  {
    name: 'jumpbacks',
    when: { transitions: { type: ['jumpback', 'recall'], count: { gte: 2 } } },
    set: { jumps: '{state}' },
  },
  {
    name: 'last state',
    when: { all: [{ interactions: { last: 1 } }, { not: { interactions: { last: 1, state: 'wrap_up' } } }] },
    set: { dropped: '{state}' },
  },
  { name: 'reflect', when: { reflections: { contains: 'bill' } }, remove: ['escalation'] },
  {
    name: 'memory',
    when: { working_memory: { matches: 'allergic', context: { contains: 'help' } } },
    set: { clinical: 'allergy' },
  },
  {
    name: 'behavior',
    when: { dynamic_behaviors: { version: { gte: 3 } } },
    set: { behavior: '{behavior_set}' },
  },
  {
    name: 'conv',
    when: {
      any: [
        { conversation: { analyzed: false } },
        { conversation: { tags: { has: 'reviewed' }, duration: { gt: '10m' } } },
      ],
    },
    set: { look: null },
    remove: ['loop'],
  },
  {
    name: 'count',
    when: { messages: { count: { gte: 3, lte: 10 }, format: 'voice' } },
    set: { escalation: 'voice' },
  },
];

const rulesArb = fc.shuffledSubarray(POOL, { minLength: 1 }).map((rules) => parseRules({ rules }, 'pool'));

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function permuted<T>(items: readonly T[]): fc.Arbitrary<T[]> {
  return fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length });
}

describe('evaluateRules properties', () => {
  it('is deterministic: the same input gives an identical evaluation, reasons included', () => {
    fc.assert(
      fc.property(rulesArb, conversationArb, (rules, conv) => {
        const first = evaluateRules(rules, conv);
        const second = evaluateRules(rules, structuredClone(conv));
        expect(second).toStrictEqual(first);
        expect(JSON.stringify(evaluateRules(rules, conv))).toBe(JSON.stringify(first));
      }),
      { numRuns: 200 },
    );
  });

  it('is order-stable: permuting messages and insights changes nothing', () => {
    fc.assert(
      fc.property(
        rulesArb,
        conversationArb.chain((conv) =>
          fc.tuple(fc.constant(conv), permuted(conv.messages), permuted(conv.insights)),
        ),
        (rules, [conv, messages, insightRows]) => {
          const shuffled: ArchivedConversation = { ...conv, messages, insights: insightRows };
          expect(evaluateRules(rules, shuffled)).toStrictEqual(evaluateRules(rules, conv));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not modify its input', () => {
    fc.assert(
      fc.property(rulesArb, conversationArb, (rules, conv) => {
        const before = JSON.stringify(conv);
        // Frozen: any write (including an in-place sort) throws in strict-mode code.
        evaluateRules(rules, deepFreeze(conv));
        expect(JSON.stringify(conv)).toBe(before);
      }),
      { numRuns: 50 },
    );
  });

  it('resolves conflicts as last matching writer wins, in file order', () => {
    const KEYS = ['a', 'b', 'c', 'd'];
    const ruleArb = fc
      .record({
        matches: fc.boolean(),
        ops: fc.dictionary(
          fc.constantFrom(...KEYS),
          fc.option(fc.constantFrom('x', 'y', 'remove'), { nil: null }),
          {
            minKeys: 1,
          },
        ),
      })
      .map((r) => ({
        matches: r.matches,
        set: Object.fromEntries(Object.entries(r.ops).filter(([, v]) => v !== 'remove')) as Record<
          string,
          string | null
        >,
        remove: Object.entries(r.ops)
          .filter(([, v]) => v === 'remove')
          .map(([k]) => k),
      }));
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 8 }), fc.boolean(), (specs, analyzed) => {
        const rules = parseRules(
          {
            rules: specs.map((s, i) => ({
              name: `rule ${i}`,
              when: { conversation: { analyzed: s.matches ? analyzed : !analyzed } },
              ...(Object.keys(s.set).length ? { set: s.set } : {}),
              ...(s.remove.length ? { remove: s.remove } : {}),
            })),
          },
          'model',
        );
        const conv: ArchivedConversation = {
          conversation: conversation({ is_analyzed: analyzed }),
          messages: [],
          insights: [],
        };
        const model = new Map<string, string | null | 'REMOVE'>();
        for (const s of specs) {
          if (!s.matches) continue;
          for (const [k, v] of Object.entries(s.set)) model.set(k, v);
          for (const k of s.remove) model.set(k, 'REMOVE');
        }
        const expectedUpdates = Object.fromEntries(
          [...model.entries()].filter(([, v]) => v !== 'REMOVE').sort(([a], [b]) => (a < b ? -1 : 1)),
        );
        const expectedDeletes = [...model.entries()]
          .filter(([, v]) => v === 'REMOVE')
          .map(([k]) => k)
          .sort();
        const evaluation = evaluateRules(rules, conv);
        expect(evaluation.updates).toStrictEqual(expectedUpdates);
        expect(evaluation.deletes).toStrictEqual(expectedDeletes);
        expect(evaluation.results.map((r) => r.matched)).toEqual(specs.map((s) => s.matches));
      }),
      { numRuns: 300 },
    );
  });
});
