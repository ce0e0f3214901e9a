// Rule patterns run on a linear-time matcher (shared/rules/pattern.ts) that must find exactly what
// `new RegExp(source, 'i')` finds. These tests compare the two: on generated patterns and texts,
// and on every UTF-16 code unit for the character classes and case folding.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, RulePatternError } from '../../../shared/rules/pattern.ts';

/** Where RegExp finds the leftmost match, or -1: what the matcher must answer. */
const native = (source: string, text: string) => new RegExp(source, 'i').exec(text)?.index ?? -1;

const hex4 = (c: number) => c.toString(16).padStart(4, '0');

// Characters where the engines could disagree: case pairs outside ASCII, letters whose upper case
// is ASCII (ſ, K), whitespace beyond ASCII, line terminators, a surrogate pair.
const TEXT_UNITS = [
  'a',
  'A',
  'b',
  'k',
  'K',
  's',
  'ſ',
  'K',
  'é',
  'É',
  'ß',
  'µ',
  'μ',
  'ς',
  'Σ',
  '1',
  '_',
  '-',
  '?',
  '.',
  ' ',
  '\u00a0',
  '\u2028',
  '\n',
  '\r',
  '\t',
  '\ufeff',
  '😀',
];

const literal = fc.constantFrom(
  'a',
  'b',
  'A',
  'k',
  's',
  'é',
  'ſ',
  'K',
  'ß',
  'µ',
  'σ',
  ' ',
  '1',
  '_',
  '-',
  '\\?',
  '\\.',
  '\\n',
  '\\r',
  '\\t',
  '\\x41',
  '\\u00C9',
  '\\u00a0',
  '\\0',
  '\\cJ',
  '\\-',
  '😀',
);
const charSet = fc.constantFrom(
  '.',
  '\\d',
  '\\D',
  '\\w',
  '\\W',
  '\\s',
  '\\S',
  '[ab]',
  '[^a\\s]',
  '[a-z]',
  '[^a-z]',
  '[\\d-]',
  '[\\w-z]',
  '[A-Z_]',
  '[é-ſ]',
  '[^\\W]',
  '[^]',
  '[]',
  '[\\b\\t-\\r]',
  '[😀]',
);
const assertion = fc.constantFrom('^', '$', '\\b', '\\B');
const quantifier = fc.constantFrom(
  '',
  '',
  '',
  '*',
  '+',
  '?',
  '{2}',
  '{0,2}',
  '{1,}',
  '*?',
  '+?',
  '??',
  '{1,2}?',
);
// Groups get bounded quantifiers only: a starred group, like (a|a)*, would make RegExp itself, the
// reference here, backtrack for ages on some texts (the very problem the matcher solves).
const groupQuantifier = fc.constantFrom('', '', '?', '{2}', '{0,2}', '??');

const { alternation } = fc.letrec<{ piece: string; group: string; sequence: string; alternation: string }>(
  (tie) => ({
    piece: fc.oneof(
      { maxDepth: 3 },
      fc.tuple(fc.oneof(literal, charSet), quantifier).map(([a, q]) => a + q),
      assertion,
      fc.tuple(tie('group'), groupQuantifier).map(([g, q]) => g + q),
    ),
    group: fc
      .tuple(fc.constantFrom('(', '(?:', '(?<g>'), tie('alternation'))
      .map(([open, inner]) => `${open}${inner})`),
    sequence: fc.array(tie('piece'), { maxLength: 4 }).map((pieces) => pieces.join('')),
    alternation: fc.array(tie('sequence'), { minLength: 1, maxLength: 3 }).map((seqs) => seqs.join('|')),
  }),
);
/** Valid for RegExp (a named group only once). */
const pattern = alternation.filter((p) => {
  try {
    new RegExp(p, 'i');
    return true;
  } catch {
    return false;
  }
});
const text = fc.array(fc.constantFrom(...TEXT_UNITS), { maxLength: 10 }).map((units) => units.join(''));

describe('compilePattern: the same matches as RegExp with the i flag', () => {
  it('when patterns without lookaround or backreferences are generated, then the leftmost match starts where RegExp finds it', () => {
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 4 }), (source, texts) => {
        const compiled = compilePattern(source);
        for (const t of texts) {
          expect(compiled.search(t), `${source} on ${JSON.stringify(t)}`).toBe(native(source, t));
          expect(compiled.test(t)).toBe(native(source, t) >= 0);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('when a text contains the pattern somewhere, then both engines find it at the same place', () => {
    fc.assert(
      fc.property(pattern, text, text, (source, before, after) => {
        const sample = new RegExp(source, 'i').exec('aAb1_ -?.é')?.[0] ?? 'a';
        const t = `${before}${sample}${after}`;
        expect(compilePattern(source).search(t), `${source} on ${JSON.stringify(t)}`).toBe(native(source, t));
      }),
      { numRuns: 300 },
    );
  });

  it('when Annex B syntax is used (octal and control escapes, literal braces, class escapes in ranges), then it means what RegExp reads', () => {
    const cases: Array<[string, string[]]> = [
      ['\\12', ['\n', '12']],
      ['(a)\\12', ['a\n', 'a\u0001' + '2']],
      ['\\8\\9', ['89']],
      ['\\08', ['\u00008']],
      ['\\377\\400', ['\u00ff\u00200']],
      ['\\cA\\c1', ['\u0001\\c1']],
      ['[\\c1\\c_]', ['\u0011', '\u001f', 'c']],
      ['[\\c]', ['\\', 'c']],
      ['\\x4\\u12', ['x4u12']],
      ['\\u{41}', ['u'.repeat(41), 'A']],
      ['a{,2}|x{1|}', ['a{,2}', 'x{1', '}']],
      ['[\\d-z]', ['-', 'q', 'z', '5']],
      ['[a-\\s]', ['-', ' ', 'b']],
      ['\\k\\p{L}', ['kp{L}', 'kL']],
      ['[\\k-]', ['k', '-']],
      [']', [']']],
      ['😀+', ['😀😀', '\ud83d']],
      ['^.$', ['😀', 'a']],
    ];
    for (const [source, texts] of cases) {
      for (const t of texts) {
        expect(compilePattern(source).search(t), `${source} on ${JSON.stringify(t)}`).toBe(native(source, t));
      }
    }
  });
});

describe('compilePattern: character sets and case folding on every UTF-16 code unit', () => {
  it('when \\s, \\S, \\w, \\W, \\d, . and classes are tested on each code unit, then they match exactly where RegExp does', () => {
    const sources = ['\\s', '\\S', '\\w', '\\W', '\\d', '.', '[a-z]', '[^a-z]', '[\\s\\d]', '[^\\S]', '\\b.'];
    for (const source of sources) {
      const compiled = compilePattern(source);
      const regexp = new RegExp(source, 'i');
      const differ: string[] = [];
      for (let c = 0; c < 0x10000; c++) {
        const t = String.fromCharCode(c);
        if (compiled.test(t) !== regexp.test(t)) differ.push(hex4(c));
      }
      expect(differ, source).toEqual([]);
    }
  });

  it('when each code unit is a literal, then it matches its case variants exactly where RegExp does', () => {
    const differ: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      const source = `\\u${hex4(c)}`;
      const compiled = compilePattern(source);
      const regexp = new RegExp(source, 'i');
      const variants = new Set([ch, ch.toUpperCase(), ch.toLowerCase(), ch.toLocaleUpperCase('en')]);
      for (const variant of variants) {
        for (const unit of variant) {
          if (compiled.test(unit) !== regexp.test(unit))
            differ.push(`${hex4(c)} vs ${hex4(unit.charCodeAt(0))}`);
        }
      }
    }
    expect(differ).toEqual([]);
  });
});

describe('compilePattern: refusals', () => {
  it('when a pattern looks around or refers back, then it is refused; RegExp syntax errors keep their message', () => {
    const refused = (source: string) => {
      try {
        compilePattern(source);
      } catch (error) {
        expect(error).toBeInstanceOf(RulePatternError);
        return (error as RulePatternError).problem;
      }
      throw new Error(`${source} was accepted`);
    };
    expect(refused('x(?=y)')).toMatch(/^uses a lookahead \(\(\?= at character 2\)/);
    expect(refused('x(?!y)')).toMatch(/^uses a lookahead \(\(\?! at character 2\)/);
    expect(refused('(?<=x)y')).toMatch(/^uses a lookbehind \(\(\?<= at character 1\)/);
    expect(refused('(?<!x)y')).toMatch(/^uses a lookbehind \(\(\?<! at character 1\)/);
    expect(refused('(x)\\1')).toMatch(/^uses a backreference \(\\1 at character 4\)/);
    expect(refused('(x)(y)(z)(a)(b)(c)(d)(e)(f)(g)\\10')).toMatch(/^uses a backreference \(\\10 at/);
    expect(refused('(?<n>x)\\k<n>')).toMatch(/^uses a backreference \(\\k<n> at character 8\)/);
    expect(refused('a{5001}')).toMatch(/^is too large/);
    expect(refused('(speak')).toBe(
      'is not a valid regular expression: Invalid regular expression: /(speak/i: Unterminated group',
    );
  });

  it('when a pattern is refused or accepted, then catastrophic ones are accepted and run in linear time', () => {
    const compiled = compilePattern('^(a+)+$');
    expect(compiled.test(`${'a'.repeat(100_000)}b`)).toBe(false);
    expect(compiled.search('a'.repeat(100_000))).toBe(0);
    expect(compilePattern('(x+x+)+y').search('x'.repeat(20_000))).toBe(-1);
    expect(String(compiled)).toBe('/^(a+)+$/i');
  });
});
