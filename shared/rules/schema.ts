// The tagging rules file (docs/rules.md): which archived conversations get which Amigo tags. A QA
// team reviews it like code, so it is small, regular and validated whole at load time (and at
// `cdk synth`): every mistake names the rule (`rules[3] "agent loops"`), the field path inside it,
// the file line, what is wrong and the fix. Unknown keys are errors with a "did you mean"; regular
// expressions are compiled here (pattern.ts: JavaScript syntax, matched in linear time, so lookaround
// and backreferences are refused), so a bad one never reaches a nightly run.
//
// The language in short:
//
//   rules:
//     - name: agent loops                      # unique; used in tags.json and `rules test`
//       when:                                  # ONE condition; combine with all: [...] any: [...] not: {...}
//         states: { visits: { gte: 4 } }       # a family: conversation, messages, interactions, states,
//       set: { loop_state: "{state}" }         #   transitions, tools, reflections, working_memory,
//       remove: [no_loops]                     #   dynamic_behaviors
//
// List families (every one but conversation and states) choose items by scope keys (`type` of a
// message or transition, `source` of a tool call) and a window (`first: N` / `last: N`), test each
// item with the other keys (all must hold), then quantify: `match: any` (the default), `all`,
// `none`, or `count: { gte: 2 }`. Text tests are case-insensitive: a string or a list means
// "equals one of", or { equals, contains, matches } with `matches` a regular expression.
//
// Conflict resolution (also in docs/rules.md and shared/rules/evaluate.ts): rules run in file
// order and every rule sees the conversation as archived (a rule never sees another rule's tags).
// Only matched rules contribute. For each tag key, the last matching rule that sets or removes it
// wins: a later `set` overrides an earlier `set` or `remove` of the same key, a later `remove`
// drops an earlier `set`.
//
// Templates: a set value may hold `{state}`, `{tool}` or `{behavior_set}`, facts captured by the
// condition that matched. A value may only use a fact that every way its `when` can match
// captures (checked here). Rendered facts are sanitised to the tag pattern: every run of characters
// outside letters, digits, _ and spaces becomes `_` (`verify-identity` -> `verify_identity`).
import * as z from 'zod';
import { readDuration } from '../config/grammar.ts';
import { didYouMean, suggest } from '../config/suggest.ts';
import {
  booleanOf,
  deepFreeze,
  describe,
  formatPath,
  Invalid,
  isPlainObject,
  leaf,
  locate,
  type Path,
  type Problem,
  problemsOf,
  readAt,
  SERVICE_ID_FIX,
  serviceIdOf,
  TAG_PATTERN,
  textOf,
  unknownKeyFix,
} from '../config/validation.ts';
import { ConfigurationError } from '../errors.ts';
import {
  type MessageFormat,
  type MessageType,
  messageFormats,
  messageTypes as specMessageTypes,
  type TransitionKind,
  transitionKinds,
} from '../openapi/index.ts';
import { compilePattern, type RulePattern, RulePatternError } from './pattern.ts';

// ---------------------------------------------------------------------------------------------
// The compiled rule set
// ---------------------------------------------------------------------------------------------

// The spec's own lists (shared/openapi), not retyped here.
export const MESSAGE_TYPES = specMessageTypes;
export const MESSAGE_FORMATS = messageFormats;
export const TRANSITION_TYPES = transitionKinds;
/** Where a tool call log sits in the insights. */
export const TOOL_SOURCES = ['select-next-action', 'engage-user', 'transition'] as const;
/** Facts a matching condition captures for templated tag values. */
export const FACTS = ['state', 'tool', 'behavior_set'] as const;

export type MessageTypeName = MessageType;
export type { MessageFormat };
export type TransitionType = TransitionKind;
export type ToolSource = (typeof TOOL_SOURCES)[number];
export type Fact = (typeof FACTS)[number];

/** The tag key and value pattern of the modify-tags API; the config file's stall tag keeps to it too. */
export { TAG_PATTERN };

/** Case-insensitive text test; every given part must hold. Lists mean "one of". */
export interface TextTest {
  readonly equals?: readonly string[];
  readonly contains?: readonly string[];
  readonly matches?: RulePattern;
}

/** Numeric bounds; durations are in milliseconds. Every given bound must hold. */
export interface Bounds {
  readonly unit: 'count' | 'ms';
  readonly gt?: number;
  readonly gte?: number;
  readonly lt?: number;
  readonly lte?: number;
  readonly eq?: number;
}

export type Quantifier =
  | { readonly kind: 'any' }
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'count'; readonly bounds: Bounds };

interface ConditionBase {
  /** Where the condition sits in its rule, e.g. `when.any[1].messages`; reasons quote it. */
  readonly path: string;
}

interface ListBase extends ConditionBase {
  readonly first?: number;
  readonly last?: number;
  readonly quantifier: Quantifier;
}

export interface AllCondition extends ConditionBase {
  readonly kind: 'all' | 'any';
  readonly conditions: readonly Condition[];
}
export interface NotCondition extends ConditionBase {
  readonly kind: 'not';
  readonly condition: Condition;
}
export interface ConversationCondition extends ConditionBase {
  readonly kind: 'conversation';
  readonly service?: readonly string[];
  readonly analyzed?: boolean;
  readonly tags?: TagsTest;
  readonly duration?: Bounds;
  readonly messageCount?: Bounds;
}
export interface TagsTest {
  readonly has?: readonly string[];
  readonly lacks?: readonly string[];
  readonly equals?: Readonly<Record<string, string | null>>;
}
export interface MessagesCondition extends ListBase {
  readonly kind: 'messages';
  readonly type?: readonly MessageTypeName[];
  readonly is?: readonly MessageTypeName[];
  readonly format?: readonly MessageFormat[];
  readonly sender?: TextTest;
  readonly contains?: readonly string[];
  readonly matches?: RulePattern;
}
export interface InteractionsCondition extends ListBase {
  readonly kind: 'interactions';
  readonly state?: TextTest;
  readonly action?: TextTest;
  readonly objective?: TextTest;
}
export interface StatesCondition extends ConditionBase {
  readonly kind: 'states';
  readonly name?: TextTest;
  readonly visits: Bounds;
  readonly consecutive: boolean;
}
export interface TransitionsCondition extends ListBase {
  readonly kind: 'transitions';
  readonly type?: readonly TransitionType[];
  readonly from?: TextTest;
  readonly to?: TextTest;
  readonly exitCondition?: TextTest;
  readonly queries?: TextTest;
}
export interface ToolsCondition extends ListBase {
  readonly kind: 'tools';
  readonly source?: readonly ToolSource[];
  readonly name?: TextTest;
  readonly duration?: Bounds;
  readonly output?: TextTest;
  readonly input?: TextTest;
}
export interface ReflectionsCondition extends ListBase {
  readonly kind: 'reflections';
  readonly contains?: readonly string[];
  readonly matches?: RulePattern;
}
export interface WorkingMemoryCondition extends ListBase {
  readonly kind: 'working_memory';
  readonly contains?: readonly string[];
  readonly matches?: RulePattern;
  readonly context?: TextTest;
}
export interface DynamicBehaviorsCondition extends ListBase {
  readonly kind: 'dynamic_behaviors';
  readonly set?: TextTest;
  readonly version?: Bounds;
}

export type ListCondition =
  | MessagesCondition
  | InteractionsCondition
  | TransitionsCondition
  | ToolsCondition
  | ReflectionsCondition
  | WorkingMemoryCondition
  | DynamicBehaviorsCondition;

export type Condition = AllCondition | NotCondition | ConversationCondition | StatesCondition | ListCondition;

export interface Rule {
  readonly name: string;
  readonly description: string | undefined;
  readonly when: Condition;
  /** Tag key -> value (null: a bare tag). Values may hold `{state}`-style placeholders. */
  readonly set: Readonly<Record<string, string | null>>;
  readonly remove: readonly string[];
}

export interface RuleSet {
  readonly rules: readonly Rule[];
  /** Where the rules came from (a file path, or a label), for messages. */
  readonly source: string;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export interface RuleProblem {
  /** `rules[3] "agent loops" when.any[1].messages.type`, or a top-level key. */
  readonly field: string;
  readonly problem: string;
  readonly fix: string;
  readonly line?: number;
}

/** The rules file is invalid; `problems` lists every mistake, the message names the first. */
export class RulesValidationError extends ConfigurationError {
  readonly problems: readonly RuleProblem[];
  readonly source: string;
  constructor(source: string, problems: readonly RuleProblem[]) {
    const first = problems[0] as RuleProblem;
    super(first.field, locate(first.problem, source, first.line, problems.length - 1), first.fix);
    this.problems = problems;
    this.source = source;
  }
}

/** One problem as a line for people: `rules[3] "x" when.messages.type (line 14): ... Fix.` */
export function formatRuleProblem(p: RuleProblem): string {
  return `${p.field}${p.line === undefined ? '' : ` (line ${p.line})`}: ${p.problem}${p.fix ? `. ${p.fix}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** A string or a non-empty list of strings. */
function textList(fix: string) {
  return (value: unknown): string[] => {
    if (Array.isArray(value)) {
      if (value.length === 0) throw new Invalid('is an empty list', fix);
      return value.map((v, i) => readAt(i, () => textOf(v, fix)));
    }
    return [textOf(value, fix)];
  };
}

/** A `matches` pattern: JavaScript syntax, matched in linear time (pattern.ts says what it refuses). */
function regexOf(value: unknown): RulePattern {
  const source = textOf(value, 'Write a regular expression, like "speak (to|with) a (human|person)"');
  try {
    return compilePattern(source);
  } catch (error) {
    if (error instanceof RulePatternError)
      throw new Invalid(`${describe(source)} ${error.problem}`, error.fix);
    throw error;
  }
}

const TEXT_TEST_KEYS = ['equals', 'contains', 'matches'] as const;
const TEXT_TEST_FIX =
  'Write a name ("verify_identity"), a list of names, or { contains: "...", matches: "regex", equals: "..." }';

function textTestOf(value: unknown): TextTest {
  if (typeof value === 'string' || Array.isArray(value)) return { equals: textList(TEXT_TEST_FIX)(value) };
  if (!isPlainObject(value))
    throw new Invalid(`must be text or a section, not ${describe(value)}`, TEXT_TEST_FIX);
  const keys = Object.keys(value);
  if (keys.length === 0) throw new Invalid('is empty', TEXT_TEST_FIX);
  const out: { equals?: string[]; contains?: string[]; matches?: RulePattern } = {};
  for (const key of keys) {
    const v = value[key];
    readAt(key, () => {
      if (key === 'equals') out.equals = textList(TEXT_TEST_FIX)(v);
      else if (key === 'contains') out.contains = textList(TEXT_TEST_FIX)(v);
      else if (key === 'matches') out.matches = regexOf(v);
      else throw new Invalid('is not a text test', didYouMean(key, TEXT_TEST_KEYS));
    });
  }
  return out;
}

const BOUND_KEYS = ['gt', 'gte', 'lt', 'lte', 'eq'] as const;
type BoundKey = (typeof BOUND_KEYS)[number];
const BOUND_ALIASES: Record<string, BoundKey> = {
  '>': 'gt',
  '>=': 'gte',
  '<': 'lt',
  '<=': 'lte',
  '=': 'eq',
  '==': 'eq',
};

function boundsOf(unit: 'count' | 'ms') {
  const fix =
    unit === 'ms'
      ? 'Write bounds with durations, like { gt: 10s } or { gte: 5m, lt: 1h }'
      : 'Write bounds with whole numbers, like { gte: 3 } or { gt: 0, lte: 10 }';
  return (value: unknown): Bounds => {
    if (!isPlainObject(value)) throw new Invalid(`must be bounds, not ${describe(value)}`, fix);
    const keys = Object.keys(value);
    if (keys.length === 0) throw new Invalid('has no bound', fix);
    const out: { -readonly [K in keyof Bounds]: Bounds[K] } = { unit };
    for (const key of keys) {
      const v = value[key];
      if (!(BOUND_KEYS as readonly string[]).includes(key)) {
        const alias = BOUND_ALIASES[key];
        throw new Invalid(
          'is not a bound',
          alias ? `Write ${alias} instead of ${key}` : didYouMean(key, BOUND_KEYS),
          [key],
        );
      }
      let n: number;
      if (unit === 'ms') {
        n = readAt(key, () => readDuration(v));
      } else {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
          throw new Invalid(`must be a whole number of 0 or more, not ${describe(v)}`, fix, [key]);
        }
        n = v;
      }
      out[key as BoundKey] = n;
    }
    const lower = Math.max(
      out.gte ?? -1,
      out.gt === undefined ? -1 : out.gt + (unit === 'count' ? 1 : 0.001),
    );
    const upper = Math.min(
      out.lte ?? Number.POSITIVE_INFINITY,
      out.lt === undefined ? Number.POSITIVE_INFINITY : out.lt - (unit === 'count' ? 1 : 0.001),
    );
    const eqOutside = out.eq !== undefined && (out.eq < lower || out.eq > upper);
    if (lower > upper || eqOutside) {
      throw new Invalid('can never hold (no value is inside these bounds)', fix);
    }
    return out;
  };
}

function positiveIntOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Invalid(`must be a whole number of 1 or more, not ${describe(value)}`, 'Write e.g. last: 1');
  }
  return value;
}

function enumList<T extends string>(values: readonly T[], noun: string) {
  return (value: unknown): T[] => {
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) throw new Invalid('is an empty list', `Use one or more of: ${values.join(', ')}`);
    return list.map((v, i) => {
      const at = Array.isArray(value) ? [i] : [];
      if (typeof v !== 'string') {
        throw new Invalid(`${describe(v)} is not ${noun}`, `Use one of: ${values.join(', ')}`, at);
      }
      if (!(values as readonly string[]).includes(v)) {
        throw new Invalid(`${describe(v)} is not ${noun}`, didYouMean(v, values), at);
      }
      return v as T;
    });
  };
}

const MATCHES = ['any', 'all', 'none'] as const;
function matchOf(value: unknown): 'any' | 'all' | 'none' {
  if (typeof value === 'string' && (MATCHES as readonly string[]).includes(value)) {
    return value as 'any' | 'all' | 'none';
  }
  throw new Invalid(
    `${describe(value)} is not a quantifier`,
    `${typeof value === 'string' && suggest(value, MATCHES) ? `Did you mean "${suggest(value, MATCHES)}"? ` : ''}Use any (at least one item), all (every item) or none; for a number use count: { gte: 2 }`,
  );
}

/** One service id or a non-empty list of them. */
function serviceIdsOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [serviceIdOf(value)];
  if (value.length === 0) throw new Invalid('is an empty list', SERVICE_ID_FIX);
  return value.map((id, i) => readAt(i, () => serviceIdOf(id)));
}

const TAG_FIX = 'Use letters, digits, _ and spaces, like "escalation" or "needs review"';

function tagKeyOf(value: unknown): string {
  if (typeof value === 'number') {
    throw new Invalid(`${value} was read as a number, not a tag key`, 'Put it in quotes');
  }
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') throw new Invalid(`must be a tag key, not ${describe(value)}`, TAG_FIX);
  if (!TAG_PATTERN.test(text)) throw new Invalid(`${describe(value)} is not a valid tag key`, TAG_FIX);
  return text;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** A set value: null (bare tag) or text that, placeholders aside, satisfies the tag pattern. */
function tagValueOf(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value === 'number' || typeof value === 'boolean') {
    throw new Invalid(
      `${String(value)} was read as a ${typeof value}, not text`,
      `Put it in quotes, like "${String(value)}"`,
    );
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Invalid(
      `must be a tag value or null (a bare tag), not ${describe(value)}`,
      `${TAG_FIX}; write null for a tag without a value`,
    );
  }
  const text = value.trim();
  for (const [, name] of text.matchAll(PLACEHOLDER)) {
    if (!(FACTS as readonly string[]).includes(name as string)) {
      throw new Invalid(
        `uses {${name}}, which is not a fact a condition captures`,
        `${suggest(name as string, FACTS) ? `Did you mean {${suggest(name as string, FACTS)}}? ` : ''}Use one of: ${FACTS.map((f) => `{${f}}`).join(', ')}`,
      );
    }
  }
  const literal = text.replace(PLACEHOLDER, '');
  if (literal.trim() !== '' && !TAG_PATTERN.test(literal)) {
    throw new Invalid(`${describe(value)} is not a valid tag value`, `${TAG_FIX}; facts are written {state}`);
  }
  return text;
}

function setOf(value: unknown): Record<string, string | null> {
  const fix = 'Write tag: value pairs, like { escalation: requested, reviewed: null }';
  if (!isPlainObject(value)) throw new Invalid(`must be a section of tags, not ${describe(value)}`, fix);
  if (Object.keys(value).length === 0) throw new Invalid('is empty', fix);
  const out: Record<string, string | null> = {};
  for (const [rawKey, v] of Object.entries(value)) {
    readAt(rawKey, () => {
      const key = tagKeyOf(rawKey);
      if (Object.hasOwn(out, key)) throw new Invalid(`sets the tag "${key}" twice`, 'Keep one of them');
      out[key] = tagValueOf(v);
    });
  }
  return out;
}

/** One tag key or a non-empty list of them, each once. */
function tagKeysOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [tagKeyOf(value)];
  if (value.length === 0)
    throw new Invalid('is an empty list', 'List tag keys, like [resolved, needs review]');
  return [...new Set(value.map((v, i) => readAt(i, () => tagKeyOf(v))))];
}

const TAGS_TEST_KEYS = ['has', 'lacks', 'equals'] as const;
function tagsTestOf(value: unknown): TagsTest {
  const fix = 'Write { has: [key], lacks: [key], equals: { key: value } }';
  if (!isPlainObject(value)) throw new Invalid(`must be a section, not ${describe(value)}`, fix);
  if (Object.keys(value).length === 0) throw new Invalid('is empty', fix);
  const out: { has?: string[]; lacks?: string[]; equals?: Record<string, string | null> } = {};
  for (const [key, v] of Object.entries(value)) {
    readAt(key, () => {
      if (key === 'has') out.has = tagKeysOf(v);
      else if (key === 'lacks') out.lacks = tagKeysOf(v);
      else if (key === 'equals') {
        const equals = setOf(v);
        for (const [k, val] of Object.entries(equals)) {
          if (val?.includes('{'))
            throw new Invalid('cannot use a template here', 'Write the value itself', [k]);
        }
        out.equals = equals;
      } else throw new Invalid('is not a tag test', didYouMean(key, TAGS_TEST_KEYS));
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schemas: one strict object per condition family
// ---------------------------------------------------------------------------------------------

/** A leaf read by one of the value functions above; every rule field may be left out. */
function optionalLeaf<T>(read: (value: unknown) => T) {
  return leaf(read).optional();
}

const window = { first: optionalLeaf(positiveIntOf), last: optionalLeaf(positiveIntOf) };
const quantify = { match: optionalLeaf(matchOf), count: optionalLeaf(boundsOf('count')) };
const messageTypes = optionalLeaf(enumList(MESSAGE_TYPES, 'a message type'));

const FAMILY_SCHEMAS = {
  conversation: z.strictObject({
    service: optionalLeaf(serviceIdsOf),
    analyzed: optionalLeaf(booleanOf),
    tags: optionalLeaf(tagsTestOf),
    duration: optionalLeaf(boundsOf('ms')),
    message_count: optionalLeaf(boundsOf('count')),
  }),
  messages: z.strictObject({
    type: messageTypes,
    ...window,
    is: messageTypes,
    format: optionalLeaf(enumList(MESSAGE_FORMATS, 'a message format')),
    sender: optionalLeaf(textTestOf),
    contains: optionalLeaf(
      textList('Write a phrase or a list of phrases, like ["speak to a human", "real person"]'),
    ),
    matches: optionalLeaf(regexOf),
    ...quantify,
  }),
  interactions: z.strictObject({
    ...window,
    state: optionalLeaf(textTestOf),
    action: optionalLeaf(textTestOf),
    objective: optionalLeaf(textTestOf),
    ...quantify,
  }),
  states: z.strictObject({
    name: optionalLeaf(textTestOf),
    visits: optionalLeaf(boundsOf('count')),
    consecutive: optionalLeaf(booleanOf),
  }),
  transitions: z.strictObject({
    type: optionalLeaf(enumList(TRANSITION_TYPES, 'a state transition type')),
    ...window,
    from: optionalLeaf(textTestOf),
    to: optionalLeaf(textTestOf),
    exit_condition: optionalLeaf(textTestOf),
    queries: optionalLeaf(textTestOf),
    ...quantify,
  }),
  tools: z.strictObject({
    source: optionalLeaf(enumList(TOOL_SOURCES, 'a tool call source')),
    ...window,
    name: optionalLeaf(textTestOf),
    duration: optionalLeaf(boundsOf('ms')),
    output: optionalLeaf(textTestOf),
    input: optionalLeaf(textTestOf),
    ...quantify,
  }),
  reflections: z.strictObject({
    ...window,
    contains: optionalLeaf(textList('Write a phrase or a list of phrases')),
    matches: optionalLeaf(regexOf),
    ...quantify,
  }),
  working_memory: z.strictObject({
    ...window,
    contains: optionalLeaf(textList('Write a phrase or a list of phrases')),
    matches: optionalLeaf(regexOf),
    context: optionalLeaf(textTestOf),
    ...quantify,
  }),
  dynamic_behaviors: z.strictObject({
    ...window,
    set: optionalLeaf(textTestOf),
    version: optionalLeaf(boundsOf('count')),
    ...quantify,
  }),
} as const;

type Family = keyof typeof FAMILY_SCHEMAS;
export const FAMILIES = Object.keys(FAMILY_SCHEMAS) as Family[];
const COMBINATORS = ['all', 'any', 'not'] as const;
const CONDITION_KEYS: readonly string[] = [...COMBINATORS, ...FAMILIES];
const FAMILY_KEYS: Record<Family, readonly string[]> = Object.fromEntries(
  FAMILIES.map((f) => [f, Object.keys(FAMILY_SCHEMAS[f].shape)]),
) as unknown as Record<Family, readonly string[]>;

const FAMILY_EXAMPLES: Record<Family, string> = {
  conversation: 'conversation: { duration: { gt: 30m } }',
  messages: 'messages: { type: user-message, contains: "speak to a human" }',
  interactions: 'interactions: { state: verify_identity }',
  states: 'states: { visits: { gte: 4 }, consecutive: true }',
  transitions: 'transitions: { type: jumpback, count: { gte: 2 } }',
  tools: 'tools: { duration: { gt: 10s } }',
  reflections: 'reflections: { contains: "should have" }',
  working_memory: 'working_memory: { contains: allergic }',
  dynamic_behaviors: 'dynamic_behaviors: { set: "6650f0c1a2b3c4d5e6f70812" }',
};
const CONDITION_FIX = `Write one condition: all: [...], any: [...], not: {...}, or one of ${FAMILIES.join(', ')}`;

/** Facts each family captures from the item that matched. */
const CAPTURES: Partial<Record<Family, Fact>> = {
  interactions: 'state',
  states: 'state',
  transitions: 'state',
  tools: 'tool',
  dynamic_behaviors: 'behavior_set',
};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** A key that is not known where it stands; a key of another family is pointed there. */
function unknownKeyProblem(objectPath: Path, key: string, known: readonly string[], where: string): Problem {
  const fix = unknownKeyFix(key, known, () => {
    const homes = FAMILIES.filter((f) => FAMILY_KEYS[f].includes(key) && !known.includes(key));
    return homes.length > 0
      ? `"${key}" belongs to ${homes.join(' or ')}: move it there (combine conditions with all: [...]), or use one of: ${known.join(', ')}`
      : undefined;
  });
  return { path: [...objectPath, key], problem: `is not ${where}`, fix };
}

class Parser {
  readonly problems: Problem[] = [];

  add(path: Path, problem: string, fix: string): void {
    this.problems.push({ path, problem, fix });
  }

  unknownKey(objectPath: Path, key: string, known: readonly string[], where: string): void {
    this.problems.push(unknownKeyProblem(objectPath, key, known, where));
  }

  condition(input: unknown, path: Path, rulePath: string): Condition | undefined {
    if (!isPlainObject(input)) {
      this.add(path, `must be a condition, not ${describe(input)}`, CONDITION_FIX);
      return undefined;
    }
    const keys = Object.keys(input);
    if (keys.length === 0) {
      this.add(path, 'is an empty condition', CONDITION_FIX);
      return undefined;
    }
    const unknown = keys.filter((k) => !CONDITION_KEYS.includes(k));
    for (const key of unknown) this.unknownKey(path, key, CONDITION_KEYS, 'a condition');
    if (unknown.length > 0) return undefined;
    if (keys.length > 1) {
      this.add(
        path,
        `has ${keys.length} conditions side by side (${keys.join(', ')})`,
        'Put them in a list under all: (every one must hold) or any: (one is enough), one condition per item',
      );
      return undefined;
    }
    const key = keys[0] as string;
    const value = input[key];
    const here = [...path, key];
    const at = rulePath === '' ? key : `${rulePath}.${key}`;
    if (key === 'all' || key === 'any') {
      if (!Array.isArray(value) || value.length === 0) {
        this.add(
          here,
          Array.isArray(value) ? 'is an empty list' : `must be a list of conditions, not ${describe(value)}`,
          `Write a list, one condition per item: ${key}: [ { messages: {...} }, { tools: {...} } ]`,
        );
        return undefined;
      }
      const conditions = value.map((c, i) => this.condition(c, [...here, i], `${at}[${i}]`));
      if (conditions.some((c) => c === undefined)) return undefined;
      return { kind: key, path: at, conditions: conditions as Condition[] };
    }
    if (key === 'not') {
      const condition = this.condition(value, here, at);
      return condition && { kind: 'not', path: at, condition };
    }
    return this.family(key as Family, value, here, at);
  }

  family(family: Family, value: unknown, path: Path, at: string): Condition | undefined {
    if (!isPlainObject(value)) {
      this.add(path, `must be a section, not ${describe(value)}`, `Write it like ${FAMILY_EXAMPLES[family]}`);
      return undefined;
    }
    const parsed = FAMILY_SCHEMAS[family].safeParse(value);
    if (!parsed.success) {
      this.problems.push(
        ...problemsOf(
          parsed.error.issues,
          path,
          (at, key) => unknownKeyProblem(at, key, FAMILY_KEYS[family], `a ${family} field`),
          (at, issue) => ({
            path: at,
            problem: issue.message,
            fix: `Write it like ${FAMILY_EXAMPLES[family]}`,
          }),
        ),
      );
      return undefined;
    }
    const f = parsed.data as Record<string, unknown>;
    const problemsBefore = this.problems.length;
    if (f.first !== undefined && f.last !== undefined) {
      this.add([...path, 'last'], 'is given with first', 'Keep first or last, not both');
    }
    if (f.match !== undefined && f.count !== undefined) {
      this.add([...path, 'count'], 'is given with match', 'Keep match (any, all, none) or count, not both');
    }
    if (family === 'conversation' && Object.keys(value).length === 0) {
      this.add(path, 'is empty', 'Give at least one of: service, analyzed, tags, duration, message_count');
    }
    if (family === 'states' && f.visits === undefined) {
      this.add([...path, 'visits'], 'is missing', 'Say how many visits make a loop, like visits: { gte: 4 }');
    }
    if (this.problems.length > problemsBefore) return undefined;
    const quantifier: Quantifier =
      f.count !== undefined
        ? { kind: 'count', bounds: f.count as Bounds }
        : { kind: (f.match as 'any' | 'all' | 'none' | undefined) ?? 'any' };
    const defined = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const list = { first: f.first, last: f.last, quantifier };
    switch (family) {
      case 'conversation':
        return defined({
          kind: family,
          path: at,
          service: f.service,
          analyzed: f.analyzed,
          tags: f.tags,
          duration: f.duration,
          messageCount: f.message_count,
        }) as unknown as ConversationCondition;
      case 'states':
        return defined({
          kind: family,
          path: at,
          name: f.name,
          visits: f.visits,
          consecutive: f.consecutive ?? false,
        }) as unknown as StatesCondition;
      case 'transitions':
        return defined({
          kind: family,
          path: at,
          ...list,
          type: f.type,
          from: f.from,
          to: f.to,
          exitCondition: f.exit_condition,
          queries: f.queries,
        }) as unknown as TransitionsCondition;
      default: {
        const { match: _m, count: _c, first: _f, last: _l, ...rest } = f;
        return defined({ kind: family, path: at, ...list, ...rest }) as unknown as ListCondition;
      }
    }
  }
}

/** Facts captured by every way `c` can match (a template may only use these). */
function guaranteedFacts(c: Condition): Set<Fact> {
  switch (c.kind) {
    case 'all':
      return new Set(c.conditions.flatMap((child) => [...guaranteedFacts(child)]));
    case 'any': {
      const sets = c.conditions.map(guaranteedFacts);
      const first = sets[0] ?? new Set<Fact>();
      return new Set([...first].filter((f) => sets.every((s) => s.has(f))));
    }
    case 'not':
    case 'conversation':
      return new Set();
    case 'states':
      return new Set(['state']);
    default: {
      const fact = CAPTURES[c.kind];
      if (!fact) return new Set();
      const q = c.quantifier;
      const atLeastOne =
        q.kind === 'any' ||
        q.kind === 'all' ||
        (q.kind === 'count' &&
          ((q.bounds.gte ?? 0) >= 1 || q.bounds.gt !== undefined || (q.bounds.eq ?? 0) >= 1));
      return atLeastOne ? new Set([fact]) : new Set();
    }
  }
}

const RULE_KEYS = ['name', 'description', 'when', 'set', 'remove'] as const;
const RULE_SCHEMA = z.strictObject({
  name: optionalLeaf((v) => {
    const name = textOf(v, 'Give every rule a short, unique name, like "escalation requests"').trim();
    if (name.length > 120) throw new Invalid('is longer than 120 characters', 'Shorten the name');
    return name;
  }),
  description: optionalLeaf((v) => textOf(v, 'Describe the rule in a sentence, or remove description')),
  when: z.unknown().optional(),
  set: optionalLeaf(setOf),
  remove: optionalLeaf(tagKeysOf),
});

function parseRuleSet(input: unknown): { rules: Rule[]; problems: Problem[] } {
  const parser = new Parser();
  const rules: Rule[] = [];
  const fileFix = 'Start the file with rules: and list the rules under it (see examples/rules.yaml)';
  if (!isPlainObject(input)) {
    parser.add(
      [],
      Array.isArray(input)
        ? 'is a list, not a section with rules:'
        : `must be a section with rules:, not ${describe(input)}`,
      fileFix,
    );
    return { rules, problems: parser.problems };
  }
  for (const key of Object.keys(input)) {
    if (key !== 'rules' && key !== 'version')
      parser.unknownKey([], key, ['version', 'rules'], 'a rules file key');
  }
  if (input.version !== undefined && input.version !== 1) {
    parser.add(
      ['version'],
      `${describe(input.version)} is not a supported version`,
      'Write version: 1, or leave it out',
    );
  }
  const list = input.rules;
  if (!Array.isArray(list)) {
    parser.add(
      ['rules'],
      list === undefined ? 'is missing' : `must be a list of rules, not ${describe(list)}`,
      fileFix,
    );
    return { rules, problems: parser.problems };
  }
  const seen = new Map<string, number>();
  list.forEach((raw, index) => {
    const path: Path = ['rules', index];
    if (!isPlainObject(raw)) {
      parser.add(path, `must be a rule (name, when, set/remove), not ${describe(raw)}`, fileFix);
      return;
    }
    const before = parser.problems.length;
    const parsed = RULE_SCHEMA.safeParse(raw);
    if (!parsed.success) {
      parser.problems.push(
        ...problemsOf(
          parsed.error.issues,
          path,
          (at, key) => unknownKeyProblem(at, key, RULE_KEYS, 'a rule field'),
          (at, issue) => ({ path: at, problem: issue.message, fix: fileFix }),
        ),
      );
    }
    if (raw.name === undefined)
      parser.add([...path, 'name'], 'is missing', 'Give every rule a short, unique name');
    let when: Condition | undefined;
    if (raw.when === undefined) {
      parser.add([...path, 'when'], 'is missing', `Say when the rule applies. ${CONDITION_FIX}`);
    } else {
      when = parser.condition(raw.when, [...path, 'when'], 'when');
    }
    if (raw.set === undefined && raw.remove === undefined) {
      parser.add(path, 'sets and removes no tag', 'Add set: { tag: value } or remove: [tag]');
    }
    if (!parsed.success || when === undefined || parser.problems.length > before) return;
    const data = parsed.data;
    const name = data.name as string;
    const set = data.set ?? {};
    const remove = data.remove ?? [];
    for (const key of remove) {
      if (Object.hasOwn(set, key)) {
        parser.add(
          [...path, 'remove'],
          `removes "${key}", which the same rule sets`,
          'Keep it in set or in remove, not both',
        );
      }
    }
    const facts = guaranteedFacts(when);
    for (const [key, value] of Object.entries(set)) {
      for (const [, fact] of value?.matchAll(PLACEHOLDER) ?? []) {
        if (!facts.has(fact as Fact)) {
          parser.add(
            [...path, 'set', key],
            `uses {${fact}}, but not every way this rule's when can match captures a ${fact}`,
            `{state} comes from interactions, states or transitions; {tool} from tools; {behavior_set} from dynamic_behaviors. The condition must match at least one item (not under not:, in every branch of any:, not with match: none)`,
          );
        }
      }
    }
    const folded = name.toLowerCase();
    const previous = seen.get(folded);
    if (previous !== undefined) {
      parser.add(
        [...path, 'name'],
        `repeats the name of rules[${previous}]`,
        'Give every rule a unique name',
      );
    } else seen.set(folded, index);
    if (parser.problems.length > before) return;
    rules.push({ name, description: data.description?.trim(), when, set, remove });
  });
  return { rules, problems: parser.problems };
}

function ruleName(input: unknown, index: number): string | undefined {
  if (!isPlainObject(input) || !Array.isArray(input.rules)) return undefined;
  const rule = input.rules[index];
  return isPlainObject(rule) && typeof rule.name === 'string' && rule.name.trim() !== ''
    ? rule.name.trim()
    : undefined;
}

/** `rules[3] "agent loops" when.any[1].messages.type` */
function fieldOf(input: unknown, path: Path): string {
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const name = ruleName(input, path[1]);
    const head = `rules[${path[1]}]${name ? ` ${JSON.stringify(name)}` : ''}`;
    const rest = formatPath(path.slice(2));
    return rest ? `${head} ${rest}` : head;
  }
  return formatPath(path) || '(the file)';
}

function resolveRuleSet(
  input: unknown,
  source: string,
  lineOf?: (path: Path) => number | undefined,
): RuleSet {
  const { rules, problems } = parseRuleSet(input);
  if (problems.length > 0) {
    const located: RuleProblem[] = problems.map((p) => {
      const line = lineOf?.(p.path);
      return {
        field: fieldOf(input, p.path),
        problem: p.problem,
        fix: p.fix,
        ...(line === undefined ? {} : { line }),
      };
    });
    // In file order when every problem has a line (the sort is stable).
    if (located.every((p) => p.line !== undefined)) located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new RulesValidationError(source, located);
  }
  return deepFreeze({ rules, source });
}

/** Validates a rules object (already parsed from YAML or JSON). Throws {@link RulesValidationError}. */
export function parseRules(
  input: unknown,
  source: string,
  lineOf?: (path: Path) => number | undefined,
): RuleSet {
  return resolveRuleSet(input, source, lineOf);
}
