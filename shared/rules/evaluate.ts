// Evaluates a rule set against one archived conversation: a pure, deterministic function. The same
// rules and the same conversation give the same Evaluation, reasons included, whatever order the
// messages and insights arrive in: evaluation first sorts messages by created_at, then id, and
// interactions by the position of their first message (interactions with no message last, by id).
// Items inside one interaction's insights (transitions, tool calls, reflections, memories) keep
// the order Amigo gave them.
//
// Conflict resolution: rules run in file order, and every rule sees the conversation as archived
// (one rule's tags never feed another rule's condition). Only matched rules contribute. For each
// tag key the last matching rule that sets or removes it wins: a later `set` overrides an earlier
// `set` or `remove` of the key; a later `remove` drops an earlier `set`. `updates` and `deletes`
// are therefore disjoint, each sorted by key. They are the rules' intent, independent of the
// conversation's current tags (writing a tag that is already there is harmless).
//
// Facts for templates (`{state}`, `{tool}`, `{behavior_set}`) come from the first matching item
// of the first condition (in rule order, depth first) that captured that fact. A rendered fact is
// sanitised to the tag pattern: every run of characters other than letters, digits, _ and spaces
// becomes `_`, whitespace runs become one space; an empty fact renders as `unknown`.
//
// Text tests with `matches` run the rule's pattern with pattern.ts, in time linear in the text,
// never with RegExp: message text comes from anyone, and a backtracking pattern would hang the
// worker.
//
// Duration of a conversation = created_at of its last archived message (any type) minus the
// conversation's created_at; 0 when it has no message.
import type { ArchivedConversation } from '../archive/read.ts';
import { formatDuration } from '../config/grammar.ts';
import type { InteractionInsights, MessageInstance } from '../openapi/index.ts';
import type { RulePattern } from './pattern.ts';
import type {
  Bounds,
  Condition,
  ConversationCondition,
  Fact,
  ListCondition,
  Rule,
  RuleSet,
  StatesCondition,
  TextTest,
  ToolSource,
} from './schema.ts';

export type { ArchivedConversation };

export interface Reason {
  /** Where the condition sits in the rule, e.g. `when.any[1].messages`. */
  condition: string;
  detail: string;
  messageId?: string;
  interactionId?: string;
}

export interface RuleResult {
  rule: string;
  matched: boolean;
  /** Why the rule matched (the conditions that held) or why not (the ones that failed). */
  reasons: Reason[];
  /** What this rule sets when it matched (templates rendered); empty when it did not. */
  set: Record<string, string | null>;
  /** What this rule removes when it matched; empty when it did not. */
  remove: string[];
}

export interface Evaluation {
  /** One per rule, in file order. */
  results: RuleResult[];
  /** Tags to write (the modify-tags `updates`), after conflict resolution, sorted by key. */
  updates: Record<string, string | null>;
  /** Tags to delete (the modify-tags `deletes`), after conflict resolution, sorted. */
  deletes: string[];
}

/** At most this many items are quoted per condition; the rest are counted. */
const MAX_ITEM_REASONS = 5;

type Facts = Partial<Record<Fact, string>>;

interface Outcome {
  matched: boolean;
  reasons: Reason[];
  facts: Facts;
}

// ---------------------------------------------------------------------------------------------
// The conversation, prepared once: sorted, flattened into the items each family looks at
// ---------------------------------------------------------------------------------------------

interface ToolCallLogLike {
  tool_name?: string;
  duration?: number;
  output?: string | null;
  input?: unknown;
}

interface Item {
  readonly label: string;
  readonly messageId?: string;
  readonly interactionId?: string;
  readonly facts?: Facts;
}

interface MessageItem extends Item {
  readonly message: MessageInstance;
}
interface InteractionItem extends Item {
  readonly interactionId: string;
  readonly insights: InteractionInsights;
}
interface TransitionItem extends Item {
  readonly type: string;
  readonly from: string;
  readonly to: string;
  readonly exitCondition: string | undefined;
  readonly queries: readonly string[];
}
interface ToolItem extends Item {
  readonly source: ToolSource;
  readonly log: ToolCallLogLike;
}
interface TextItem extends Item {
  readonly text: string;
  readonly context?: string;
}
interface BehaviorItem extends Item {
  readonly setId: string;
  readonly version: number;
}

interface Prepared {
  readonly archived: ArchivedConversation;
  readonly messages: MessageItem[];
  readonly interactions: InteractionItem[];
  readonly transitions: TransitionItem[];
  readonly tools: ToolItem[];
  readonly reflections: TextItem[];
  readonly memory: TextItem[];
  readonly behaviors: BehaviorItem[];
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareMessages(a: MessageInstance, b: MessageInstance): number {
  const ta = Date.parse(a.created_at);
  const tb = Date.parse(b.created_at);
  if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta - tb;
  return (
    compareStrings(String(a.created_at), String(b.created_at)) ||
    compareStrings(String(a.id), String(b.id)) ||
    compareStrings(JSON.stringify(a), JSON.stringify(b))
  );
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** A short quote of `text`, around `at` when given. */
function excerpt(text: string, at?: number): string {
  const flat = oneLine(text);
  const max = 80;
  if (flat.length <= max) return JSON.stringify(flat);
  const start = at === undefined || at < 40 ? 0 : Math.min(at - 30, flat.length - max);
  const body = flat.slice(start, start + max);
  return JSON.stringify(`${start > 0 ? '…' : ''}${body}${start + max < flat.length ? '…' : ''}`);
}

function arr<T>(value: readonly T[] | null | undefined): readonly T[] {
  return Array.isArray(value) ? value : [];
}

function prepare(archived: ArchivedConversation): Prepared {
  const sorted = [...arr(archived.messages)].sort(compareMessages);
  const messages: MessageItem[] = sorted.map((m) => ({
    label: `${m.message_type} ${m.id}`,
    messageId: m.id,
    interactionId: m.interaction_id,
    message: m,
  }));
  const firstIndex = new Map<string, number>();
  sorted.forEach((m, i) => {
    if (!firstIndex.has(m.interaction_id)) firstIndex.set(m.interaction_id, i);
  });
  const entries = [...arr(archived.insights)].sort((a, b) => {
    const ia = firstIndex.get(a.interaction_id) ?? Number.POSITIVE_INFINITY;
    const ib = firstIndex.get(b.interaction_id) ?? Number.POSITIVE_INFINITY;
    if (ia !== ib) return ia < ib ? -1 : 1;
    return (
      compareStrings(a.interaction_id, b.interaction_id) ||
      compareStrings(JSON.stringify(a.insights), JSON.stringify(b.insights))
    );
  });
  const interactions: InteractionItem[] = [];
  const transitions: TransitionItem[] = [];
  const tools: ToolItem[] = [];
  const reflections: TextItem[] = [];
  const memory: TextItem[] = [];
  const behaviors: BehaviorItem[] = [];
  for (const { interaction_id: id, insights } of entries) {
    const state = String(insights.current_state_name ?? '');
    interactions.push({
      label: `interaction ${id} in state ${JSON.stringify(state)}`,
      interactionId: id,
      insights,
      facts: { state },
    });
    const toolGroups = (groups: unknown, source: ToolSource, where: string) => {
      arr(groups as ToolCallLogLike[][]).forEach((group) => {
        for (const log of arr(group)) {
          const name = String(log?.tool_name ?? '');
          tools.push({
            label: `tool ${name} (${where}) in interaction ${id}`,
            interactionId: id,
            source,
            log: log ?? {},
            facts: { tool: name },
          });
        }
      });
    };
    for (const raw of arr(insights.state_transition_logs)) {
      const log = raw as Record<string, unknown>;
      const type = String(log.type ?? '');
      const from = String(log.previous_state ?? '');
      const to = String(log.next_state ?? '');
      transitions.push({
        label: `${type} transition ${JSON.stringify(from)} -> ${JSON.stringify(to)} in interaction ${id}`,
        interactionId: id,
        type,
        from,
        to,
        exitCondition:
          typeof log.previous_state_exit_condition_description === 'string'
            ? log.previous_state_exit_condition_description
            : undefined,
        queries: arr(log.performed_queries as string[]).map(String),
        facts: { state: to },
      });
      toolGroups(log.tool_call_logs, 'transition', `${type} transition`);
      const designated = log.designated_tool_call_log as ToolCallLogLike | undefined;
      if (designated && typeof designated === 'object') {
        toolGroups([[designated]], 'transition', `${type} transition, designated`);
      }
    }
    toolGroups(insights.select_next_action_tool_call_logs, 'select-next-action', 'select-next-action');
    toolGroups(insights.engage_user_tool_call_logs, 'engage-user', 'engage-user');
    for (const text of arr(insights.reflections)) {
      reflections.push({
        label: `reflection ${excerpt(String(text))}`,
        interactionId: id,
        text: String(text),
      });
    }
    for (const m of arr(insights.working_memory)) {
      memory.push({
        label: `working memory ${excerpt(String(m?.content ?? ''))}`,
        interactionId: id,
        text: String(m?.content ?? ''),
        context: String(m?.context ?? ''),
      });
    }
    const behavior = insights.triggered_dynamic_behavior_set_version_info;
    if (Array.isArray(behavior) && behavior.length >= 1) {
      const setId = String(behavior[0]);
      const version = Number(behavior[1] ?? 0);
      behaviors.push({
        label: `dynamic behavior set ${setId} v${version} in interaction ${id}`,
        interactionId: id,
        setId,
        version,
        facts: { behavior_set: setId },
      });
    }
  }
  return { archived, messages, interactions, transitions, tools, reflections, memory, behaviors };
}

// ---------------------------------------------------------------------------------------------
// Tests on values
// ---------------------------------------------------------------------------------------------

function describeTextTest(t: TextTest): string {
  const parts: string[] = [];
  if (t.equals) parts.push(`is ${t.equals.map((s) => JSON.stringify(s)).join(' or ')}`);
  if (t.contains) parts.push(`contains ${t.contains.map((s) => JSON.stringify(s)).join(' or ')}`);
  if (t.matches) parts.push(`matches ${t.matches}`);
  return parts.join(' and ');
}

/** What in `value` satisfies the test, or null. Case-insensitive throughout. */
function textPasses(t: TextTest, value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const lower = value.toLowerCase();
  const parts: string[] = [];
  if (t.equals) {
    const hit = t.equals.find((s) => s.toLowerCase() === lower);
    if (hit === undefined) return null;
    parts.push(`is ${JSON.stringify(hit)}`);
  }
  if (t.contains) {
    const hit = t.contains.find((s) => lower.includes(s.toLowerCase()));
    if (hit === undefined) return null;
    parts.push(`contains ${JSON.stringify(hit)}`);
  }
  if (t.matches) {
    if (!t.matches.test(value)) return null;
    parts.push(`matches ${t.matches}`);
  }
  return parts.join(' and ');
}

function formatBound(unit: Bounds['unit'], n: number): string {
  if (unit === 'count') return String(n);
  return Number.isInteger(n) && n > 0 ? formatDuration(n) : `${n}ms`;
}

export function describeBounds(b: Bounds): string {
  const parts: string[] = [];
  if (b.eq !== undefined) parts.push(`= ${formatBound(b.unit, b.eq)}`);
  if (b.gt !== undefined) parts.push(`> ${formatBound(b.unit, b.gt)}`);
  if (b.gte !== undefined) parts.push(`>= ${formatBound(b.unit, b.gte)}`);
  if (b.lt !== undefined) parts.push(`< ${formatBound(b.unit, b.lt)}`);
  if (b.lte !== undefined) parts.push(`<= ${formatBound(b.unit, b.lte)}`);
  return parts.join(' and ');
}

export function withinBounds(b: Bounds, n: number): boolean {
  return (
    (b.eq === undefined || n === b.eq) &&
    (b.gt === undefined || n > b.gt) &&
    (b.gte === undefined || n >= b.gte) &&
    (b.lt === undefined || n < b.lt) &&
    (b.lte === undefined || n <= b.lte)
  );
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 3).replace(/\.?0+$/, '')}s`;
  return formatDuration(Math.round(ms / 1000) * 1000);
}

// ---------------------------------------------------------------------------------------------
// List families
// ---------------------------------------------------------------------------------------------

interface Test<T> {
  readonly describe: string;
  /** A phrase saying what held (e.g. `contains "human"`), or null when the item fails. */
  readonly check: (item: T) => string | null;
}

function textTest<T>(
  name: string,
  t: TextTest | undefined,
  value: (item: T) => string | null | undefined,
): Test<T>[] {
  if (!t) return [];
  return [
    {
      describe: `${name} ${describeTextTest(t)}`,
      check: (item) => {
        const hit = textPasses(t, value(item));
        return hit === null ? null : `${name} ${hit}`;
      },
    },
  ];
}

function phraseTest<T>(
  contains: readonly string[] | undefined,
  matches: RulePattern | undefined,
  text: (item: T) => string,
): Test<T>[] {
  const out: Test<T>[] = [];
  if (contains) {
    out.push({
      describe: `contains ${contains.map((s) => JSON.stringify(s)).join(' or ')}`,
      check: (item) => {
        const lower = text(item).toLowerCase();
        const hit = contains.find((s) => lower.includes(s.toLowerCase()));
        return hit === undefined
          ? null
          : `contains ${JSON.stringify(hit)}: ${excerpt(text(item), lower.indexOf(hit.toLowerCase()))}`;
      },
    });
  }
  if (matches) {
    out.push({
      describe: `matches ${matches}`,
      check: (item) => {
        const at = matches.search(text(item));
        return at < 0 ? null : `matches ${matches}: ${excerpt(text(item), at)}`;
      },
    });
  }
  return out;
}

function boundsTest<T>(
  name: string,
  b: Bounds | undefined,
  value: (item: T) => number | undefined,
  show: (n: number) => string,
): Test<T>[] {
  if (!b) return [];
  return [
    {
      describe: `${name} ${describeBounds(b)}`,
      check: (item) => {
        const n = value(item);
        return n === undefined || !withinBounds(b, n) ? null : `${name} ${show(n)} (${describeBounds(b)})`;
      },
    },
  ];
}

function reasonFor(condition: string, item: Item, detail: string): Reason {
  return {
    condition,
    detail,
    ...(item.messageId === undefined ? {} : { messageId: item.messageId }),
    ...(item.interactionId === undefined ? {} : { interactionId: item.interactionId }),
  };
}

function itemDetail(item: Item, phrases: readonly string[]): string {
  return phrases.length === 0 ? item.label : `${item.label}: ${phrases.join(', ')}`;
}

function quoteItems(condition: string, items: ReadonlyArray<{ item: Item; phrases: string[] }>): Reason[] {
  const out = items
    .slice(0, MAX_ITEM_REASONS)
    .map(({ item, phrases }) => reasonFor(condition, item, itemDetail(item, phrases)));
  if (items.length > MAX_ITEM_REASONS) {
    out.push({ condition, detail: `and ${items.length - MAX_ITEM_REASONS} more` });
  }
  return out;
}

function evaluateList<T extends Item>(
  c: ListCondition,
  scoped: readonly T[],
  scopeNoun: string,
  tests: readonly Test<T>[],
): Outcome {
  const items =
    c.first !== undefined ? scoped.slice(0, c.first) : c.last !== undefined ? scoped.slice(-c.last) : scoped;
  const counted =
    c.first !== undefined
      ? `the first ${c.first}`
      : c.last !== undefined
        ? `the last ${c.last}`
        : `the ${items.length}`;
  const described = tests.filter((t) => t.describe !== '').map((t) => t.describe);
  const what = described.length === 0 ? '' : ` (${described.join(', ')})`;
  const passing: Array<{ item: T; phrases: string[] }> = [];
  const failing: Array<{ item: T; phrases: string[] }> = [];
  for (const item of items) {
    const phrases: string[] = [];
    let ok = true;
    for (const test of tests) {
      const phrase = test.check(item);
      if (phrase === null) {
        ok = false;
        break;
      }
      if (phrase !== '') phrases.push(phrase);
    }
    (ok ? passing : failing).push({ item, phrases });
  }
  const path = c.path;
  const facts = (): Facts => ({ ...(passing[0]?.item.facts ?? {}) });
  const q = c.quantifier;
  switch (q.kind) {
    case 'any':
      return passing.length > 0
        ? { matched: true, reasons: quoteItems(path, passing), facts: facts() }
        : {
            matched: false,
            reasons: [{ condition: path, detail: `none of ${counted} ${scopeNoun} matches${what}` }],
            facts: {},
          };
    case 'all':
      if (items.length === 0) {
        return {
          matched: false,
          reasons: [{ condition: path, detail: `there are no ${scopeNoun} to check` }],
          facts: {},
        };
      }
      return failing.length === 0
        ? {
            matched: true,
            reasons: [{ condition: path, detail: `all of ${counted} ${scopeNoun} match${what}` }],
            facts: facts(),
          }
        : {
            matched: false,
            reasons: quoteItems(
              path,
              failing.map(({ item }) => ({ item, phrases: [`does not match${what}`] })),
            ),
            facts: {},
          };
    case 'none':
      return passing.length === 0
        ? {
            matched: true,
            reasons: [{ condition: path, detail: `none of ${counted} ${scopeNoun} matches${what}` }],
            facts: {},
          }
        : { matched: false, reasons: quoteItems(path, passing), facts: {} };
    case 'count': {
      const ok = withinBounds(q.bounds, passing.length);
      const summary: Reason = {
        condition: path,
        detail: `${passing.length} of ${counted} ${scopeNoun} match${what}; needs ${describeBounds(q.bounds)}`,
      };
      return ok
        ? { matched: true, reasons: [summary, ...quoteItems(path, passing)], facts: facts() }
        : { matched: false, reasons: [summary], facts: {} };
    }
  }
}

function nounOf(names: readonly string[] | undefined, plural: string): string {
  return names ? `${names.join(' or ')} ${plural}` : plural;
}

const MESSAGE_NOUNS: Record<string, string> = {
  'user-message': 'user messages',
  'agent-message': 'agent messages',
  'agent-inner-thought': 'inner thoughts',
  'external-event': 'external events',
};

function evaluateListCondition(c: ListCondition, p: Prepared): Outcome {
  switch (c.kind) {
    case 'messages': {
      const scoped = c.type
        ? p.messages.filter((m) => c.type?.includes(m.message.message_type as never))
        : p.messages;
      const tests: Test<MessageItem>[] = [];
      if (c.is) {
        const is = c.is;
        tests.push({
          describe: `is ${is.join(' or ')}`,
          check: (m) => (is.includes(m.message.message_type as never) ? '' : null),
        });
      }
      if (c.format) {
        const format = c.format;
        tests.push({
          describe: `format ${format.join(' or ')}`,
          check: (m) => (format.includes(m.message.format as never) ? `format ${m.message.format}` : null),
        });
      }
      tests.push(...textTest<MessageItem>('sender', c.sender, (m) => m.message.sender));
      tests.push(...phraseTest<MessageItem>(c.contains, c.matches, (m) => String(m.message.message ?? '')));
      if (!c.contains && !c.matches) {
        // No test quotes the text: quote it in the reason (a test that always holds).
        tests.push({ describe: '', check: (m) => excerpt(String(m.message.message ?? '')) });
      }
      return evaluateList(
        c,
        scoped,
        c.type ? c.type.map((t) => MESSAGE_NOUNS[t] ?? t).join(' and ') : 'messages',
        tests,
      );
    }
    case 'interactions':
      return evaluateList(c, p.interactions, 'interactions', [
        ...textTest<InteractionItem>('state', c.state, (i) => i.insights.current_state_name),
        ...textTest<InteractionItem>('action', c.action, (i) => i.insights.current_state_action),
        ...textTest<InteractionItem>('objective', c.objective, (i) => i.insights.current_state_objective),
      ]);
    case 'transitions': {
      const scoped = c.type ? p.transitions.filter((t) => c.type?.includes(t.type as never)) : p.transitions;
      return evaluateList(c, scoped, nounOf(c.type, 'state transitions'), [
        ...textTest<TransitionItem>('from', c.from, (t) => t.from),
        ...textTest<TransitionItem>('to', c.to, (t) => t.to),
        ...textTest<TransitionItem>('exit condition', c.exitCondition, (t) => t.exitCondition),
        ...(c.queries
          ? [
              {
                describe: `a query ${describeTextTest(c.queries)}`,
                check: (t: TransitionItem) => {
                  for (const q of t.queries) {
                    const hit = textPasses(c.queries as TextTest, q);
                    if (hit !== null) return `query ${excerpt(q)} ${hit}`;
                  }
                  return null;
                },
              },
            ]
          : []),
      ]);
    }
    case 'tools': {
      const scoped = c.source ? p.tools.filter((t) => c.source?.includes(t.source)) : p.tools;
      return evaluateList(c, scoped, nounOf(c.source, 'tool calls'), [
        ...textTest<ToolItem>('name', c.name, (t) => t.log.tool_name),
        ...boundsTest<ToolItem>(
          'duration',
          c.duration,
          (t) => (typeof t.log.duration === 'number' ? t.log.duration * 1000 : undefined),
          formatMs,
        ),
        ...textTest<ToolItem>('output', c.output, (t) => t.log.output),
        ...textTest<ToolItem>('input', c.input, (t) =>
          t.log.input === undefined ? undefined : JSON.stringify(t.log.input),
        ),
      ]);
    }
    case 'reflections':
      return evaluateList(
        c,
        p.reflections,
        'reflections',
        phraseTest<TextItem>(c.contains, c.matches, (r) => r.text),
      );
    case 'working_memory':
      return evaluateList(c, p.memory, 'working memories', [
        ...phraseTest<TextItem>(c.contains, c.matches, (m) => m.text),
        ...textTest<TextItem>('context', c.context, (m) => m.context),
      ]);
    case 'dynamic_behaviors':
      return evaluateList(c, p.behaviors, 'triggered dynamic behavior sets', [
        ...textTest<BehaviorItem>('set', c.set, (b) => b.setId),
        ...boundsTest<BehaviorItem>('version', c.version, (b) => b.version, String),
      ]);
  }
}

// ---------------------------------------------------------------------------------------------
// Conversation and states
// ---------------------------------------------------------------------------------------------

/** Last archived message's created_at minus the conversation's created_at, in ms (0 without messages). */
export function conversationDurationMs(archived: ArchivedConversation): number {
  const start = Date.parse(archived.conversation.created_at);
  let last = Number.NEGATIVE_INFINITY;
  for (const m of arr(archived.messages)) {
    const t = Date.parse(m.created_at);
    if (Number.isFinite(t) && t > last) last = t;
  }
  if (!Number.isFinite(start) || !Number.isFinite(last)) return 0;
  return Math.max(0, last - start);
}

function evaluateConversation(c: ConversationCondition, p: Prepared): Outcome {
  const conv = p.archived.conversation;
  const checks: Array<{ field: string; ok: boolean; detail: string }> = [];
  if (c.service) {
    const ok = c.service.includes(conv.service_id);
    checks.push({
      field: 'service',
      ok,
      detail: `service ${conv.service_id} is ${ok ? '' : 'not '}one of ${c.service.join(', ')}`,
    });
  }
  if (c.analyzed !== undefined) {
    const ok = conv.is_analyzed === c.analyzed;
    checks.push({
      field: 'analyzed',
      ok,
      detail: `the conversation is ${conv.is_analyzed ? '' : 'not '}analyzed`,
    });
  }
  if (c.tags) {
    const tags: Record<string, string | null> = conv.tags ?? {};
    for (const key of c.tags.has ?? []) {
      const ok = Object.hasOwn(tags, key);
      checks.push({
        field: 'tags.has',
        ok,
        detail: `the conversation ${ok ? 'has' : 'does not have'} the tag ${JSON.stringify(key)}`,
      });
    }
    for (const key of c.tags.lacks ?? []) {
      const ok = !Object.hasOwn(tags, key);
      checks.push({
        field: 'tags.lacks',
        ok,
        detail: `the conversation ${ok ? 'does not have' : 'has'} the tag ${JSON.stringify(key)}`,
      });
    }
    for (const [key, value] of Object.entries(c.tags.equals ?? {})) {
      const has = Object.hasOwn(tags, key);
      const actual = has ? (tags[key] ?? null) : undefined;
      const ok = has && actual === value;
      checks.push({
        field: 'tags.equals',
        ok,
        detail: `the tag ${JSON.stringify(key)} is ${has ? JSON.stringify(actual) : 'absent'} (wanted ${JSON.stringify(value)})`,
      });
    }
  }
  if (c.duration) {
    const ms = conversationDurationMs(p.archived);
    const ok = withinBounds(c.duration, ms);
    checks.push({
      field: 'duration',
      ok,
      detail: `the conversation lasted ${formatMs(ms)} (needs ${describeBounds(c.duration)})`,
    });
  }
  if (c.messageCount) {
    const n = p.messages.length;
    const ok = withinBounds(c.messageCount, n);
    checks.push({
      field: 'message_count',
      ok,
      detail: `${n} archived messages (needs ${describeBounds(c.messageCount)})`,
    });
  }
  const matched = checks.every((x) => x.ok);
  const reasons = checks
    .filter((x) => x.ok === matched)
    .map((x) => ({ condition: `${c.path}.${x.field}`, detail: x.detail }));
  return { matched, reasons, facts: {} };
}

function evaluateStates(c: StatesCondition, p: Prepared): Outcome {
  // The sequence of current states, one per interaction, in conversation order.
  const groups = new Map<string, string[][]>(); // state -> runs of interaction ids
  let previous: string | undefined;
  for (const i of p.interactions) {
    const state = String(i.insights.current_state_name ?? '');
    const runs = groups.get(state) ?? [];
    if (!groups.has(state)) groups.set(state, runs);
    if (state === previous && runs.length > 0) (runs[runs.length - 1] as string[]).push(i.interactionId);
    else runs.push([i.interactionId]);
    previous = state;
  }
  const how = c.consecutive ? ' in a row' : '';
  const candidates: Array<{ state: string; ids: string[] }> = [];
  for (const [state, runs] of groups) {
    if (c.name && textPasses(c.name, state) === null) continue;
    const ids = c.consecutive
      ? runs.reduce((best, run) => (run.length > best.length ? run : best), [] as string[])
      : runs.flat();
    candidates.push({ state, ids });
  }
  const hits = candidates.filter((x) => withinBounds(c.visits, x.ids.length));
  const scope = c.name ? ` (states whose name ${describeTextTest(c.name)})` : '';
  if (hits.length > 0) {
    const reasons: Reason[] = hits.slice(0, MAX_ITEM_REASONS).map(({ state, ids }) => ({
      condition: c.path,
      detail: `state ${JSON.stringify(state)} was the current state of ${ids.length} interactions${how} (needs ${describeBounds(c.visits)}): ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''}`,
      interactionId: ids[0] as string,
    }));
    return { matched: true, reasons, facts: { state: (hits[0] as { state: string }).state } };
  }
  const most = candidates.reduce<{ state: string; ids: string[] } | undefined>(
    (best, x) => (best === undefined || x.ids.length > best.ids.length ? x : best),
    undefined,
  );
  return {
    matched: false,
    reasons: [
      {
        condition: c.path,
        detail:
          most === undefined
            ? `no interaction has insights${scope}`
            : `no state was the current state of ${describeBounds(c.visits)} interactions${how}${scope}; the most: ${JSON.stringify(most.state)} with ${most.ids.length}`,
      },
    ],
    facts: {},
  };
}

// ---------------------------------------------------------------------------------------------
// Combinators and rules
// ---------------------------------------------------------------------------------------------

function mergeFacts(outcomes: readonly Outcome[]): Facts {
  const out: Facts = {};
  for (const o of outcomes) {
    for (const [k, v] of Object.entries(o.facts) as Array<[Fact, string]>) {
      if (out[k] === undefined) out[k] = v;
    }
  }
  return out;
}

function evaluateCondition(c: Condition, p: Prepared): Outcome {
  switch (c.kind) {
    case 'all': {
      const outcomes = c.conditions.map((child) => evaluateCondition(child, p));
      const matched = outcomes.every((o) => o.matched);
      return {
        matched,
        reasons: outcomes.filter((o) => o.matched === matched).flatMap((o) => o.reasons),
        facts: matched ? mergeFacts(outcomes) : {},
      };
    }
    case 'any': {
      const outcomes = c.conditions.map((child) => evaluateCondition(child, p));
      const matching = outcomes.filter((o) => o.matched);
      const matched = matching.length > 0;
      return {
        matched,
        reasons: (matched ? matching : outcomes).flatMap((o) => o.reasons),
        facts: mergeFacts(matching),
      };
    }
    case 'not': {
      const inner = evaluateCondition(c.condition, p);
      return {
        matched: !inner.matched,
        reasons: [
          {
            condition: c.path,
            detail: inner.matched
              ? 'fails: the condition under it matches'
              : 'holds: the condition under it does not match',
          },
          ...inner.reasons,
        ],
        facts: {},
      };
    }
    case 'conversation':
      return evaluateConversation(c, p);
    case 'states':
      return evaluateStates(c, p);
    default:
      return evaluateListCondition(c, p);
  }
}

/** A fact made fit for a tag value: runs outside letters, digits, _ and spaces become `_`. */
export function sanitizeFact(fact: string): string {
  const clean = fact
    .replace(/[^\w\s]+/g, '_')
    .replace(/\s+/g, ' ')
    .trim();
  return clean === '' ? 'unknown' : clean;
}

function render(value: string | null, facts: Facts): string | null {
  if (value === null) return null;
  return value.replace(/\{([^{}]*)\}/g, (_, name: string) => sanitizeFact(facts[name as Fact] ?? '')).trim();
}

function evaluateRule(rule: Rule, p: Prepared): RuleResult {
  const outcome = evaluateCondition(rule.when, p);
  if (!outcome.matched)
    return { rule: rule.name, matched: false, reasons: outcome.reasons, set: {}, remove: [] };
  const set: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(rule.set)) set[key] = render(value, outcome.facts);
  return { rule: rule.name, matched: true, reasons: outcome.reasons, set, remove: [...rule.remove] };
}

/** Resolves the matched rules' sets and removes: for each key, the last writer in file order wins. */
export function resolveConflicts(results: readonly RuleResult[]): Pick<Evaluation, 'updates' | 'deletes'> {
  const last = new Map<string, { value: string | null } | 'remove'>();
  for (const r of results) {
    if (!r.matched) continue;
    for (const [key, value] of Object.entries(r.set)) last.set(key, { value });
    for (const key of r.remove) last.set(key, 'remove');
  }
  const updates: Record<string, string | null> = {};
  const deletes: string[] = [];
  for (const key of [...last.keys()].sort(compareStrings)) {
    const op = last.get(key);
    if (op === 'remove') deletes.push(key);
    else if (op) updates[key] = op.value;
  }
  return { updates, deletes };
}

/** Evaluates every rule, in file order, against one archived conversation. Pure and deterministic. */
export function evaluateRules(rules: RuleSet, conversation: ArchivedConversation): Evaluation {
  const prepared = prepare(conversation);
  const results = rules.rules.map((rule) => evaluateRule(rule, prepared));
  return { results, ...resolveConflicts(results) };
}
