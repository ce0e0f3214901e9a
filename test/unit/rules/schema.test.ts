import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../../shared/config/source-file.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import {
  formatRuleProblem,
  parseRules,
  type RuleProblem,
  RulesValidationError,
} from '../../../shared/rules/index.ts';
import { scratchFiles } from '../../support/scratch-files.ts';

const { dir, file } = scratchFiles('rules');

function problemsOf(act: () => unknown): RuleProblem[] {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(RulesValidationError);
    expect(error).toBeInstanceOf(ConfigurationError);
    return [...(error as RulesValidationError).problems];
  }
  throw new Error('expected a RulesValidationError');
}

const rule = (overrides: Record<string, unknown>) => ({
  name: 'r',
  when: { conversation: { analyzed: true } },
  set: { hit: 'yes' },
  ...overrides,
});
const problems = (...rules: unknown[]) => problemsOf(() => parseRules({ rules }, 'rules.yaml'));
const only = (...rules: unknown[]) => {
  const list = problems(...rules);
  expect(list, JSON.stringify(list, null, 2)).toHaveLength(1);
  return list[0] as RuleProblem;
};

describe('the example rules file', () => {
  it('loads, with the rules a QA lead expects', () => {
    const rules = loadRules(resolve('examples/rules.yaml'));
    const names = rules.rules.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'escalation requests',
        'agent loops',
        'long tool latency',
        'voice-only conversations',
        'unanswered questions',
      ]),
    );
    expect(rules.rules.some((r) => Object.values(r.set).some((v) => v?.includes('{state}')))).toBe(true);
  });
});

describe('parseRules: shape of a rule', () => {
  it('when a rule is valid, then it is compiled with its path-tagged condition', () => {
    const rules = parseRules(
      {
        version: 1,
        rules: [
          {
            name: ' escalation requests ',
            description: 'asked for a person',
            when: {
              any: [{ messages: { type: 'user-message', contains: 'human' } }, { not: { tools: {} } }],
            },
            set: { escalation: 'requested', review: null },
            remove: 'resolved',
          },
        ],
      },
      'rules.yaml',
    );
    const r = rules.rules[0];
    expect(r?.name).toBe('escalation requests');
    expect(r?.set).toEqual({ escalation: 'requested', review: null });
    expect(r?.remove).toEqual(['resolved']);
    expect(r?.when).toMatchObject({
      kind: 'any',
      path: 'when.any',
      conditions: [
        { kind: 'messages', path: 'when.any[0].messages', type: ['user-message'], contains: ['human'] },
        { kind: 'not', path: 'when.any[1].not', condition: { kind: 'tools', path: 'when.any[1].not.tools' } },
      ],
    });
    expect(Object.isFrozen(rules.rules)).toBe(true);
  });

  it('names the rule, the path inside it and the fix for an unknown family key, with did-you-mean', () => {
    const p = only(
      rule({ name: 'first' }),
      rule({
        name: 'agent loops',
        when: { any: [{ conversation: { analyzed: true } }, { messages: { typ: 'user-message' } }] },
      }),
    );
    expect(p.field).toBe('rules[1] "agent loops" when.any[1].messages.typ');
    expect(p.problem).toBe('is not a messages field');
    expect(p.fix).toBe('Did you mean "type"?');
    expect(formatRuleProblem(p)).toBe(
      'rules[1] "agent loops" when.any[1].messages.typ: is not a messages field. Did you mean "type"?',
    );
  });

  it('says where a field belongs when it is under the wrong family', () => {
    const p = only(rule({ when: { messages: { duration: { gt: '10s' } } } }));
    expect(p.field).toBe('rules[0] "r" when.messages.duration');
    expect(p.fix).toMatch(/^"duration" belongs to conversation or tools: move it there/);
  });

  it('refuses unknown condition keys and rule keys with did-you-mean', () => {
    expect(only(rule({ when: { mesages: { contains: 'x' } } }))).toMatchObject({
      field: 'rules[0] "r" when.mesages',
      problem: 'is not a condition',
      fix: 'Did you mean "messages"?',
    });
    expect(only(rule({ sett: { a: 'b' } }))).toMatchObject({
      field: 'rules[0] "r" sett',
      fix: 'Did you mean "set"?',
    });
    expect(only(rule({ when: { tools: { duraton: { gt: '10s' } } } })).fix).toBe('Did you mean "duration"?');
  });

  it('refuses two conditions side by side and tells to wrap them in all or any', () => {
    const p = only(rule({ when: { messages: { contains: 'x' }, tools: { name: 'y' } } }));
    expect(p.field).toBe('rules[0] "r" when');
    expect(p.problem).toMatch(/2 conditions side by side/);
    expect(p.fix).toMatch(/all:.*any:/);
  });

  it('shows the regular expression error, at load time', () => {
    const p = only(rule({ when: { messages: { matches: '(unclosed' } } }));
    expect(p.field).toBe('rules[0] "r" when.messages.matches');
    expect(p.problem).toMatch(/is not a valid regular expression: .*Unterminated group/);
    const q = only(rule({ when: { interactions: { state: { matches: '[a-' } } } }));
    expect(q.field).toBe('rules[0] "r" when.interactions.state.matches');
  });

  it('when a pattern looks ahead or behind, then it is refused with the rule, the field path and the fix', () => {
    const ahead = only(rule({ name: 'no thanks', when: { messages: { matches: '^(?!.*thanks)' } } }));
    expect(ahead).toEqual({
      field: 'rules[0] "no thanks" when.messages.matches',
      problem:
        '"^(?!.*thanks)" uses a lookahead ((?! at character 2), which rules do not support: patterns run in linear time, so they cannot look ahead, look behind or refer back to a group',
      fix: 'Rewrite it without (?= or (?!: match the text itself, or split the test into conditions under all: [...], with not: {...} around the part a (?!...) excluded',
    });
    expect(
      only(
        rule({
          when: { any: [{ conversation: { analyzed: true } }, { reflections: { matches: 'a(?=b)' } }] },
        }),
      ),
    ).toMatchObject({
      field: 'rules[0] "r" when.any[1].reflections.matches',
      problem: expect.stringMatching(/^"a\(\?=b\)" uses a lookahead \(\(\?= at character 2\)/),
    });
    const behind = only(rule({ when: { tools: { output: { matches: '(?<=\\$)\\d+' } } } }));
    expect(behind.field).toBe('rules[0] "r" when.tools.output.matches');
    expect(behind.problem).toMatch(
      /^"\(\?<=\\\\\$\)\\\\d\+" uses a lookbehind \(\(\?<= at character 1\), which rules do not support/,
    );
    expect(behind.fix).toMatch(
      /^Rewrite it without \(\?<= or \(\?<!: match the text before as part of the pattern/,
    );
    expect(
      only(rule({ when: { working_memory: { context: { matches: '(?<!not )allergic' } } } })),
    ).toMatchObject({
      field: 'rules[0] "r" when.working_memory.context.matches',
      problem: expect.stringContaining('uses a lookbehind ((?<! at character 1)'),
    });
  });

  it('when a pattern refers back to a group, then it is refused with the fix; an octal escape is not a backreference', () => {
    const numbered = only(rule({ name: 'echo', when: { messages: { matches: '\\b(\\w+) \\1\\b' } } }));
    expect(numbered.field).toBe('rules[0] "echo" when.messages.matches');
    expect(numbered.problem).toMatch(
      /uses a backreference \(\\1 at character 9\), which rules do not support/,
    );
    expect(numbered.fix).toBe(
      'Rewrite it without the backreference: write out again what the group may match ((yes|no), (yes|no) instead of (yes|no), \\1)',
    );
    expect(only(rule({ when: { interactions: { state: { matches: '(?<s>x)_\\k<s>' } } } }))).toMatchObject({
      field: 'rules[0] "r" when.interactions.state.matches',
      problem: expect.stringContaining('uses a backreference (\\k<s> at character 9)'),
    });
    // With no group to refer to, JavaScript reads \1 as the character U+0001: still valid.
    expect(() =>
      parseRules({ rules: [rule({ when: { messages: { matches: 'a\\1' } } })] }, 'r'),
    ).not.toThrow();
  });

  it('when a pattern would compile to too many states, then it is refused with the fix', () => {
    expect(only(rule({ when: { messages: { matches: '(?:\\w{100}){100}' } } }))).toEqual({
      field: 'rules[0] "r" when.messages.matches',
      problem:
        '"(?:\\\\w{100}){100}" is too large: it compiles to more than 5000 states (a count like {1000} copies what it repeats)',
      fix: 'Use smaller counts or a shorter pattern',
    });
  });

  it('when a pattern is written in JavaScript syntax without lookaround or backreferences, then it loads', () => {
    const patterns = [
      '\\b(speak|talk|chat)\\s+(to|with)\\s+(a|an|the|your)?\\s*(human|person)\\b',
      '\\?\\s*$',
      '^lookup_',
      '(?<word>[a-z]+)-\\d{2,4}',
      '[^\\W_]+\\.?',
      '\\u00e9t\\xe9|caf[eé]',
      'a{,3}}',
    ];
    const rules = parseRules(
      { rules: patterns.map((matches, i) => rule({ name: `p${i}`, when: { messages: { matches } } })) },
      'rules.yaml',
    );
    expect(rules.rules).toHaveLength(patterns.length);
    expect(Object.isFrozen(rules.rules[0]?.when)).toBe(true);
  });

  it('checks tag keys and values against the API pattern', () => {
    expect(only(rule({ set: { 'needs-review': 'yes' } }))).toMatchObject({
      field: 'rules[0] "r" set.needs-review',
      problem: '"needs-review" is not a valid tag key',
    });
    expect(only(rule({ set: { review: 'high!' } }))).toMatchObject({
      field: 'rules[0] "r" set.review',
      problem: '"high!" is not a valid tag value',
    });
    expect(only(rule({ set: { review: '' } })).field).toBe('rules[0] "r" set.review');
    expect(only(rule({ set: { priority: 1 } }))).toMatchObject({
      problem: '1 was read as a number, not text',
    });
    expect(only(rule({ set: {} }))).toMatchObject({ field: 'rules[0] "r" set', problem: 'is empty' });
    expect(only(rule({ set: undefined, remove: ['ok', 'bad-key'] })).field).toBe('rules[0] "r" remove[1]');
    expect(only(rule({ remove: ['hit'] }))).toMatchObject({
      problem: 'removes "hit", which the same rule sets',
    });
  });

  it('refuses duplicate rule names, case-insensitively', () => {
    expect(only(rule({ name: 'Agent loops' }), rule({ name: 'agent loops' }))).toMatchObject({
      field: 'rules[1] "agent loops" name',
      problem: 'repeats the name of rules[0]',
    });
  });

  it('refuses a rule without a name, a condition or an effect', () => {
    const list = problems(
      { when: { conversation: { analyzed: true } }, set: { a: 'b' } },
      { name: 'x', set: { a: 'b' } },
      {
        name: 'y',
        when: { conversation: { analyzed: true } },
      },
    );
    expect(list.map((p) => [p.field, p.problem])).toEqual([
      ['rules[0] name', 'is missing'],
      ['rules[1] "x" when', 'is missing'],
      ['rules[2] "y"', 'sets and removes no tag'],
    ]);
  });

  it('refuses a file that is not a section with rules', () => {
    expect(problemsOf(() => parseRules([], 'f'))[0]).toMatchObject({
      field: '(the file)',
      problem: 'is a list, not a section with rules:',
    });
    expect(problemsOf(() => parseRules({}, 'f'))[0]).toMatchObject({ field: 'rules', problem: 'is missing' });
    expect(problemsOf(() => parseRules({ rule: [] }, 'f'))[0]).toMatchObject({
      field: 'rule',
      fix: 'Did you mean "rules"?',
    });
    expect(problemsOf(() => parseRules({ version: 2, rules: [] }, 'f'))[0]).toMatchObject({
      field: 'version',
    });
    expect(problemsOf(() => parseRules({ rules: ['x'] }, 'f'))[0]).toMatchObject({ field: 'rules[0]' });
  });

  it('reports every problem, the first in the error message', () => {
    try {
      parseRules(
        { rules: [rule({ set: { 'a-b': 'x' } }), rule({ name: 'two', when: { tools: { nme: 'x' } } })] },
        'rules.yaml',
      );
      expect.unreachable();
    } catch (error) {
      const e = error as RulesValidationError;
      expect(e.problems).toHaveLength(2);
      expect(e.field).toBe('rules[0] "r" set.a-b');
      expect(e.message).toMatch(
        /^Invalid configuration rules\[0\] "r" set\.a-b: "a-b" is not a valid tag key \(in rules\.yaml; 1 more problem after this one\)/,
      );
      expect(e.hint).toMatch(/letters, digits/);
    }
  });
});

describe('parseRules: values of fields', () => {
  it('checks message types, formats, transition types and tool sources with did-you-mean', () => {
    expect(only(rule({ when: { messages: { type: 'user_message' } } }))).toMatchObject({
      field: 'rules[0] "r" when.messages.type',
      problem: '"user_message" is not a message type',
    });
    expect(only(rule({ when: { messages: { type: 'user_message' } } })).fix).toMatch(
      /^Did you mean "user-message"\?/,
    );
    expect(only(rule({ when: { messages: { type: ['user-message', 'agent'] } } })).field).toBe(
      'rules[0] "r" when.messages.type[1]',
    );
    expect(only(rule({ when: { messages: { format: 'audio' } } })).problem).toBe(
      '"audio" is not a message format',
    );
    expect(only(rule({ when: { transitions: { type: 'toolcall' } } })).fix).toMatch(
      /^Did you mean "tool-call"\?/,
    );
    expect(only(rule({ when: { tools: { source: 'engage-usr' } } })).fix).toMatch(
      /Did you mean "engage-user"\?/,
    );
  });

  it('checks bounds: known operators, whole numbers, durations with a unit, satisfiable', () => {
    expect(only(rule({ when: { states: { visits: { '>=': 3 } } } }))).toMatchObject({
      field: 'rules[0] "r" when.states.visits.>=',
      fix: 'Write gte instead of >=',
    });
    expect(only(rule({ when: { states: { visits: { gte: 2.5 } } } })).field).toBe(
      'rules[0] "r" when.states.visits.gte',
    );
    expect(only(rule({ when: { tools: { duration: { gt: 10 } } } }))).toMatchObject({
      field: 'rules[0] "r" when.tools.duration.gt',
      problem: '10 has no unit, so it is not a duration',
    });
    expect(only(rule({ when: { tools: { duration: { gt: 'ten seconds' } } } })).problem).toBe(
      '"ten seconds" is not a duration',
    );
    expect(only(rule({ when: { conversation: { message_count: { gt: 10, lt: 5 } } } })).problem).toMatch(
      /can never hold/,
    );
    expect(only(rule({ when: { conversation: { message_count: {} } } })).problem).toBe('has no bound');
    expect(only(rule({ when: { messages: { count: { gte: 2 }, match: 'all' } } })).field).toBe(
      'rules[0] "r" when.messages.count',
    );
    expect(only(rule({ when: { messages: { match: 'every' } } })).problem).toBe(
      '"every" is not a quantifier',
    );
  });

  it('checks windows, state visits, text tests, service ids and tag tests', () => {
    expect(only(rule({ when: { messages: { first: 1, last: 1 } } })).problem).toBe('is given with first');
    expect(only(rule({ when: { messages: { last: 0 } } })).field).toBe('rules[0] "r" when.messages.last');
    expect(only(rule({ when: { states: { consecutive: true } } }))).toMatchObject({
      field: 'rules[0] "r" when.states.visits',
      problem: 'is missing',
    });
    expect(only(rule({ when: { interactions: { state: { contain: 'x' } } } }))).toMatchObject({
      field: 'rules[0] "r" when.interactions.state.contain',
      fix: expect.stringMatching(/^Did you mean "contains"\?/),
    });
    expect(only(rule({ when: { interactions: { state: [] } } })).problem).toBe('is an empty list');
    expect(only(rule({ when: { conversation: { service: 'billing' } } })).problem).toBe(
      '"billing" is not a service id',
    );
    expect(only(rule({ when: { conversation: { tags: { have: ['x'] } } } })).field).toBe(
      'rules[0] "r" when.conversation.tags.have',
    );
    expect(only(rule({ when: { conversation: {} } })).problem).toBe('is empty');
    expect(only(rule({ when: { all: [] } })).problem).toBe('is an empty list');
    expect(only(rule({ when: { not: 'x' } })).field).toBe('rules[0] "r" when.not');
  });

  it('when a bound holds a duration with a repeated unit, then the problem says so and the fix shows the order', () => {
    // Arrange
    const written = rule({ when: { tools: { duration: { gt: '1h1h' } } } });

    // Act
    const problem = only(written);

    // Assert
    expect(problem).toMatchObject({
      field: 'rules[0] "r" when.tools.duration.gt',
      problem: '"1h1h" repeats a unit or has them out of order',
      fix: expect.stringMatching(/largest unit first/),
    });
  });

  it('when a tag key with a space has a bad value, then the field quotes the key', () => {
    // Arrange
    const written = rule({ when: { states: { visits: { gte: 3 } } }, set: { 'needs review': 3 } });

    // Act
    const problem = only(written);

    // Assert
    expect(problem.field).toBe('rules[0] "r" set["needs review"]');
    expect(problem.fix).toBe('Put it in quotes, like "3"');
  });

  it('when a service id is read as a number, then the fix says to quote it', () => {
    // Arrange
    const written = rule({ when: { conversation: { service: [123456] } } });

    // Act
    const problem = only(written);

    // Assert
    expect(problem).toMatchObject({
      field: 'rules[0] "r" when.conversation.service[0]',
      problem: '123456 is not a service id (it was read as a number)',
      fix: expect.stringMatching(/Put the id in quotes/),
    });
  });

  it('checks templates: known facts, captured by every way the rule can match', () => {
    expect(only(rule({ when: { states: { visits: { gte: 3 } } }, set: { loop: '{stat}' } }))).toMatchObject({
      field: 'rules[0] "r" set.loop',
      fix: expect.stringMatching(/^Did you mean \{state\}\?/),
    });
    // Captured by states: fine; by tools: {tool}; inside all: the union.
    expect(() =>
      parseRules(
        {
          rules: [
            rule({ when: { states: { visits: { gte: 3 } } }, set: { loop: 'loop in {state}' } }),
            rule({
              name: 'b',
              when: { all: [{ tools: {} }, { interactions: { last: 1 } }] },
              set: { t: '{tool} in {state}' },
            }),
            rule({ name: 'c', when: { tools: { count: { gte: 1 } } }, set: { t: '{tool}' } }),
          ],
        },
        'f',
      ),
    ).not.toThrow();
    // Not captured: conversation, under not, match none, one branch of any, count that allows 0.
    const notCaptured = [
      { conversation: { analyzed: true } },
      { not: { interactions: {} } },
      { interactions: { match: 'none' } },
      { any: [{ interactions: {} }, { tools: {} }] },
      { interactions: { count: { lte: 3 } } },
    ];
    for (const when of notCaptured) {
      expect(only(rule({ when, set: { s: '{state}' } }))).toMatchObject({
        field: 'rules[0] "r" set.s',
        problem: "uses {state}, but not every way this rule's when can match captures a state",
      });
    }
    expect(only(rule({ set: { s: 'in {state' } })).problem).toBe('"in {state" is not a valid tag value');
  });
});

describe('loadRules', () => {
  it('reads YAML and names the line of the mistake', () => {
    const path = file(
      'rules.yaml',
      [
        'rules:',
        '  - name: agent loops',
        '    when:',
        '      states:',
        '        visits: { gte: 3 }',
        '        consecutiv: true',
        '    set: { loop: "yes" }',
        '',
      ].join('\n'),
    );
    try {
      loadRules(path);
      expect.unreachable();
    } catch (error) {
      const e = error as RulesValidationError;
      expect(e.problems[0]).toMatchObject({
        field: 'rules[0] "agent loops" when.states.consecutiv',
        line: 6,
        fix: 'Did you mean "consecutive"?',
      });
      expect(e.message).toContain(`(in ${path}, line 6)`);
    }
  });

  it('when a pattern in a YAML file looks ahead, then rules check prints the rule, the path, the line and the fix', () => {
    const path = file(
      'lookahead.yaml',
      [
        'rules:',
        '  - name: escalation requests',
        '    when:',
        '      messages:',
        '        type: user-message',
        "        matches: '^(?=.*\\bhuman\\b)'",
        '    set: { escalation: requested }',
        '',
      ].join('\n'),
    );
    const [problem] = problemsOf(() => loadRules(path));
    expect(formatRuleProblem(problem as RuleProblem)).toBe(
      'rules[0] "escalation requests" when.messages.matches (line 6): "^(?=.*\\\\bhuman\\\\b)" uses a lookahead ((?= at character 2), which rules do not support: patterns run in linear time, so they cannot look ahead, look behind or refer back to a group. Rewrite it without (?= or (?!: match the text itself, or split the test into conditions under all: [...], with not: {...} around the part a (?!...) excluded',
    );
  });

  it('reads JSON', () => {
    const path = file('rules.json', JSON.stringify({ rules: [rule({})] }));
    expect(loadRules(path).rules).toHaveLength(1);
    expect(loadRules(path).source).toBe(path);
  });

  it('refuses other extensions, missing files and syntax errors with the fix', () => {
    expect(() => loadRules(file('rules.txt', ''))).toThrow(/has the extension ".txt"/);
    expect(() => loadRules(join(dir, 'missing.yaml'))).toThrow(/does not exist/);
    expect(() => loadRules(file('bad.yaml', 'rules:\n\t- name: x\n'))).toThrow(/is not valid YAML/);
    expect(() => loadRules(file('bad.json', '{"rules": ['))).toThrow(/is not valid JSON/);
  });
});
