// Rule patterns (the `matches` of a text test): JavaScript regular expressions, matched in linear
// time. Message text comes from anyone who talks to the agent, and JavaScript's RegExp backtracks:
// `^(a+)+$` against 35 a's and a b runs for minutes, and a few thousand characters for longer than
// any Lambda lives (issue 13). So RegExp only checks the syntax here; matching is done by this
// module, which compiles a pattern to a Thompson NFA and runs all its states at once over the text:
// time O(text length x pattern size), memory O(pattern size), whatever the pattern and the text.
//
// Same syntax and same meaning as `new RegExp(source, 'i')` (no `u` flag, Annex B included):
// UTF-16 code units, ASCII \d \w \b, JavaScript's \s, `.` not matching line terminators, `^` and `$`
// at the ends of the text, case folding by JavaScript's Canonicalize (toUpperCase, never mapping a
// non-ASCII character to ASCII). Only whether a pattern matches and where its leftmost match starts
// are computed, which is all rules need; greedy and lazy quantifiers find the same ones.
//
// Refused at load time, with the fix: lookahead and lookbehind ((?= (?! (?<= (?<!) and backreferences
// (\1, \k<name>), which an NFA run in one pass cannot express (RE2 refuses them too), and patterns
// that compile to more than MAX_STATES states (a count like {1000} copies what it repeats).

/** Most NFA states a pattern may compile to: bounds the work per character of text. */
export const MAX_STATES = 5000;

const REGEX_FIX =
  "Check the brackets and escapes; in YAML put the pattern in single quotes, like '\\?\\s*$', so backslashes stay as written";

const LINEAR =
  'which rules do not support: patterns run in linear time, so they cannot look ahead, look behind or refer back to a group';

/** A pattern refused at load time; `problem` follows the quoted pattern in the message. */
export class RulePatternError extends Error {
  readonly problem: string;
  readonly fix: string;
  constructor(problem: string, fix: string) {
    super(problem);
    this.problem = problem;
    this.fix = fix;
  }
}

type CodeTest = (code: number) => boolean;
type Assertion = 'start' | 'end' | 'word' | 'not-word';

type Node =
  | { readonly t: 'char'; readonly test: CodeTest }
  | { readonly t: 'assert'; readonly kind: Assertion }
  | { readonly t: 'cat'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly items: readonly Node[] }
  | { readonly t: 'rep'; readonly item: Node; readonly min: number; readonly max: number };

// ---------------------------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------------------------

const isDigit: CodeTest = (c) => c >= 0x30 && c <= 0x39;
const isWord: CodeTest = (c) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
/** JavaScript's \s: WhiteSpace and LineTerminator. */
const isSpace: CodeTest = (c) =>
  (c >= 0x09 && c <= 0x0d) ||
  c === 0x20 ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff;
const isLineTerminator: CodeTest = (c) => c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
const notLineTerminator: CodeTest = (c) => !isLineTerminator(c);

const CLASS_ESCAPES: Readonly<Record<string, CodeTest>> = {
  d: isDigit,
  D: (c) => !isDigit(c),
  w: isWord,
  W: (c) => !isWord(c),
  s: isSpace,
  S: (c) => !isSpace(c),
};

interface Folding {
  /** Canonicalize(c) of the spec (non-Unicode mode), for every code unit. */
  readonly canon: Uint16Array;
  /** Canonical value -> every code unit with that value, when there are two or more. */
  readonly sharing: ReadonlyMap<number, readonly number[]>;
}

let folding: Folding | undefined;

/** Built once per process, on first use (about 20 ms). */
function caseFolding(): Folding {
  if (folding) return folding;
  const canon = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    const upper = String.fromCharCode(c).toUpperCase();
    const u = upper.charCodeAt(0);
    canon[c] = upper.length !== 1 || (c >= 0x80 && u < 0x80) ? c : u;
  }
  // A group of two or more has a member that is not its own canonical value.
  const sharing = new Map<number, number[]>();
  for (let c = 0; c < 0x10000; c++) {
    const value = canon[c] as number;
    if (value === c) continue;
    let group = sharing.get(value);
    if (!group) {
      group = canon[value] === value ? [value] : [];
      sharing.set(value, group);
    }
    group.push(c);
  }
  for (const [value, group] of sharing) if (group.length < 2) sharing.delete(value);
  folding = { canon, sharing };
  return folding;
}

/** A literal code unit, case-insensitively. */
function literal(code: number): Node {
  const { canon } = caseFolding();
  const value = canon[code] as number;
  return { t: 'char', test: (c) => canon[c] === value };
}

/**
 * A character set, case-insensitively: a code unit matches when some member of the set has its
 * canonical value (the spec's CharacterSetMatcher), or, inverted, when none has.
 */
function charSet(member: CodeTest, invert = false): Node {
  const { canon, sharing } = caseFolding();
  const has: CodeTest = (c) => {
    if (member(c)) return true;
    const group = sharing.get(canon[c] as number);
    return group?.some(member) === true;
  };
  return { t: 'char', test: invert ? (c) => !has(c) : has };
}

// ---------------------------------------------------------------------------------------------
// Parsing (the source is already known to be valid: `new RegExp(source, 'i')` accepted it)
// ---------------------------------------------------------------------------------------------

const isOctal = (ch: string | undefined) => ch !== undefined && ch >= '0' && ch <= '7';
const isHex = (ch: string | undefined) => ch !== undefined && /^[0-9a-fA-F]$/.test(ch);
const QUANTIFIER = /\{(\d+)(?:(,)(\d*))?\}/y;
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };

function refuse(kind: string, fragment: string, at: number, fix: string): RulePatternError {
  return new RulePatternError(`uses ${kind} (${fragment} at character ${at + 1}), ${LINEAR}`, fix);
}

const LOOKAHEAD_FIX =
  'Rewrite it without (?= or (?!: match the text itself, or split the test into conditions under all: [...], with not: {...} around the part a (?!...) excluded';
const LOOKBEHIND_FIX =
  'Rewrite it without (?<= or (?<!: match the text before as part of the pattern (\\$\\d+ instead of (?<=\\$)\\d+), or split the test into conditions under all: [...] and not: {...}';
const BACKREFERENCE_FIX =
  'Rewrite it without the backreference: write out again what the group may match ((yes|no), (yes|no) instead of (yes|no), \\1)';

class Parser {
  readonly src: string;
  i = 0;
  /** Capturing groups in the whole pattern: `\N` up to this count is a backreference. */
  readonly groups: number;
  /** With a named group, `\k` is a backreference (else the letter k). */
  readonly named: boolean;

  constructor(src: string) {
    this.src = src;
    let groups = 0;
    let named = false;
    let inClass = false;
    for (let i = 0; i < src.length; i++) {
      const ch = src[i];
      if (ch === '\\') i++;
      else if (inClass) inClass = ch !== ']';
      else if (ch === '[') inClass = true;
      else if (ch === '(') {
        if (src[i + 1] !== '?') groups++;
        else if (src[i + 2] === '<' && src[i + 3] !== '=' && src[i + 3] !== '!') {
          groups++;
          named = true;
        }
      }
    }
    this.groups = groups;
    this.named = named;
  }

  peek(k = 0): string | undefined {
    return this.src[this.i + k];
  }

  parse(): Node {
    const node = this.disjunction();
    if (this.i < this.src.length) throw new RulePatternError(`has an unexpected "${this.peek()}"`, REGEX_FIX);
    return node;
  }

  disjunction(): Node {
    const items = [this.alternative()];
    while (this.peek() === '|') {
      this.i++;
      items.push(this.alternative());
    }
    return items.length === 1 ? (items[0] as Node) : { t: 'alt', items };
  }

  alternative(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.peek() !== '|' && this.peek() !== ')') items.push(this.term());
    return items.length === 1 ? (items[0] as Node) : { t: 'cat', items };
  }

  term(): Node {
    const ch = this.peek();
    if (ch === '^' || ch === '$') {
      this.i++;
      return { t: 'assert', kind: ch === '^' ? 'start' : 'end' };
    }
    if (ch === '\\' && (this.peek(1) === 'b' || this.peek(1) === 'B')) {
      const kind = this.peek(1) === 'b' ? 'word' : 'not-word';
      this.i += 2;
      return { t: 'assert', kind };
    }
    if (ch === '(' && this.peek(1) === '?') {
      const at = this.i;
      const next = this.peek(2);
      if (next === '=' || next === '!') throw refuse('a lookahead', `(?${next}`, at, LOOKAHEAD_FIX);
      const after = this.peek(3);
      if (next === '<' && (after === '=' || after === '!'))
        throw refuse('a lookbehind', `(?<${after}`, at, LOOKBEHIND_FIX);
    }
    return this.quantified(this.atom());
  }

  quantified(atom: Node): Node {
    let min: number;
    let max: number;
    const ch = this.peek();
    if (ch === '*' || ch === '+' || ch === '?') {
      this.i++;
      min = ch === '+' ? 1 : 0;
      max = ch === '?' ? 1 : Number.POSITIVE_INFINITY;
    } else if (ch === '{') {
      QUANTIFIER.lastIndex = this.i;
      const m = QUANTIFIER.exec(this.src);
      if (!m) return atom; // Annex B: a `{` that starts no quantifier is a literal
      this.i += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    } else return atom;
    if (this.peek() === '?') this.i++; // lazy: the same matches exist
    return { t: 'rep', item: atom, min, max };
  }

  atom(): Node {
    const ch = this.peek() as string;
    if (ch === '.') {
      this.i++;
      return charSet(notLineTerminator);
    }
    if (ch === '[') return this.charClass();
    if (ch === '(') return this.group();
    if (ch === '\\') return this.atomEscape();
    this.i++;
    return literal(ch.charCodeAt(0));
  }

  group(): Node {
    const at = this.i;
    this.i++;
    if (this.peek() === '?') {
      if (this.peek(1) === ':') this.i += 2;
      else if (this.peek(1) === '<') this.i = this.src.indexOf('>', this.i) + 1;
      else {
        // Syntax a later JavaScript may accept (modifiers such as (?i:...)): not in the rules' language.
        throw new RulePatternError(
          `uses ${this.src.slice(at, at + 3)} (at character ${at + 1}), which rules do not support`,
          'Use a plain group, (...) or (?:...)',
        );
      }
    }
    const inner = this.disjunction();
    this.i++; // ')'
    return inner;
  }

  atomEscape(): Node {
    const at = this.i;
    const ch = this.peek(1) as string;
    const set = CLASS_ESCAPES[ch];
    if (set) {
      this.i += 2;
      return charSet(set);
    }
    if (ch === 'k' && this.named) {
      const end = this.src.indexOf('>', at);
      throw refuse('a backreference', this.src.slice(at, end < 0 ? at + 2 : end + 1), at, BACKREFERENCE_FIX);
    }
    if (ch >= '1' && ch <= '9') {
      const digits = /^\d+/.exec(this.src.slice(at + 1))?.[0] ?? ch;
      if (Number(digits) <= this.groups)
        throw refuse('a backreference', `\\${digits}`, at, BACKREFERENCE_FIX);
    }
    return literal(this.characterEscape(false));
  }

  /** An escape standing for one code unit; `\c` without a control letter is a backslash. */
  characterEscape(inClass: boolean): number {
    const ch = this.peek(1) as string;
    const control = CONTROL_ESCAPES[ch];
    if (control !== undefined) {
      this.i += 2;
      return control;
    }
    if (ch === 'b' && inClass) {
      this.i += 2;
      return 0x08;
    }
    if (ch === 'c') {
      const letter = this.peek(2);
      if (letter !== undefined && (/^[a-zA-Z]$/.test(letter) || (inClass && /^[0-9_]$/.test(letter)))) {
        this.i += 3;
        return letter.charCodeAt(0) % 32;
      }
      this.i += 1; // the backslash itself; `c` is read next
      return 0x5c;
    }
    if (isOctal(ch)) {
      // Annex B legacy octal: up to three digits from 0-3, two from 4-7.
      let value = Number(ch);
      this.i += 2;
      const most = ch <= '3' ? 2 : 1;
      for (let k = 0; k < most && isOctal(this.peek()); k++) {
        value = value * 8 + Number(this.peek());
        this.i++;
      }
      return value;
    }
    if (ch === 'x' && isHex(this.peek(2)) && isHex(this.peek(3))) {
      const value = Number.parseInt(this.src.slice(this.i + 2, this.i + 4), 16);
      this.i += 4;
      return value;
    }
    if (ch === 'u' && [2, 3, 4, 5].every((k) => isHex(this.peek(k)))) {
      const value = Number.parseInt(this.src.slice(this.i + 2, this.i + 6), 16);
      this.i += 6;
      return value;
    }
    this.i += 2; // an identity escape: the character itself
    return ch.charCodeAt(0);
  }

  charClass(): Node {
    this.i++; // '['
    const invert = this.peek() === '^';
    if (invert) this.i++;
    const ranges: number[] = [];
    const sets: CodeTest[] = [];
    const add = (a: number | CodeTest) => {
      if (typeof a === 'number') ranges.push(a, a);
      else sets.push(a);
    };
    while (this.peek() !== ']') {
      const a = this.classAtom();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.i++;
        const b = this.classAtom();
        if (typeof a === 'number' && typeof b === 'number') ranges.push(a, b);
        else {
          // Annex B: a class escape at either end makes the dash a literal.
          add(a);
          add(0x2d);
          add(b);
        }
      } else add(a);
    }
    this.i++; // ']'
    const member: CodeTest = (c) => {
      for (let k = 0; k < ranges.length; k += 2) {
        if (c >= (ranges[k] as number) && c <= (ranges[k + 1] as number)) return true;
      }
      return sets.some((s) => s(c));
    };
    return charSet(member, invert);
  }

  classAtom(): number | CodeTest {
    const ch = this.peek() as string;
    if (ch !== '\\') {
      this.i++;
      return ch.charCodeAt(0);
    }
    const set = CLASS_ESCAPES[this.peek(1) as string];
    if (set) {
      this.i += 2;
      return set;
    }
    return this.characterEscape(true);
  }
}

// ---------------------------------------------------------------------------------------------
// The NFA and its simulation
// ---------------------------------------------------------------------------------------------

const CHAR = 0;
const SPLIT = 1;
const ASSERT = 2;
const MATCH = 3;

interface Program {
  readonly op: readonly number[];
  readonly out: readonly number[];
  readonly out1: readonly number[];
  readonly test: readonly (CodeTest | undefined)[];
  readonly assertion: readonly (Assertion | undefined)[];
  readonly start: number;
}

const tooLarge = () =>
  new RulePatternError(
    `is too large: it compiles to more than ${MAX_STATES} states (a count like {1000} copies what it repeats)`,
    'Use smaller counts or a shorter pattern',
  );

function compile(root: Node): Program {
  const op: number[] = [];
  const out: number[] = [];
  const out1: number[] = [];
  const test: (CodeTest | undefined)[] = [];
  const assertion: (Assertion | undefined)[] = [];
  const emit = (o: number, next: number, next1 = -1, t?: CodeTest, a?: Assertion): number => {
    if (op.length >= MAX_STATES) throw tooLarge();
    op.push(o);
    out.push(next);
    out1.push(next1);
    test.push(t);
    assertion.push(a);
    return op.length - 1;
  };
  // Built back to front: `next` is where the node continues.
  const build = (node: Node, next: number): number => {
    switch (node.t) {
      case 'char':
        return emit(CHAR, next, -1, node.test);
      case 'assert':
        return emit(ASSERT, next, -1, undefined, node.kind);
      case 'cat': {
        let at = next;
        for (let k = node.items.length - 1; k >= 0; k--) at = build(node.items[k] as Node, at);
        return at;
      }
      case 'alt': {
        const starts = node.items.map((item) => build(item, next));
        let at = starts[starts.length - 1] as number;
        for (let k = starts.length - 2; k >= 0; k--) at = emit(SPLIT, starts[k] as number, at);
        return at;
      }
      case 'rep': {
        let at = next;
        if (node.max === Number.POSITIVE_INFINITY) {
          const loop = emit(SPLIT, -1, next);
          out[loop] = build(node.item, loop);
          at = loop;
        } else {
          if (node.max - node.min > MAX_STATES) throw tooLarge();
          for (let k = node.min; k < node.max; k++) at = emit(SPLIT, build(node.item, at), at);
        }
        if (node.min > MAX_STATES) throw tooLarge();
        for (let k = 0; k < node.min; k++) at = build(node.item, at);
        return at;
      }
    }
  };
  const start = build(root, emit(MATCH, -1));
  return { op, out, out1, test, assertion, start };
}

/** Where the leftmost match of `program` in `text` starts, or -1. O(text length x states). */
function search(program: Program, text: string): number {
  const { op, out, out1, test, assertion } = program;
  const n = text.length;
  const size = op.length;
  let pcs = new Int32Array(size);
  let starts = new Int32Array(size);
  let count = 0;
  let nextPcs = new Int32Array(size);
  let nextStarts = new Int32Array(size);
  let nextCount = 0;
  const seen = new Int32Array(size).fill(-1); // the position a state was last added at
  const stack = new Int32Array(2 * size + 2);
  const word = (at: number) => at >= 0 && at < n && isWord(text.charCodeAt(at));
  const holds = (kind: Assertion | undefined, at: number): boolean => {
    switch (kind) {
      case 'start':
        return at === 0;
      case 'end':
        return at === n;
      case 'word':
        return word(at - 1) !== word(at);
      default:
        return word(at - 1) === word(at);
    }
  };
  // Adds the states reachable from `pc` without reading, at position `at`, to the next list. A
  // state keeps the first start it is reached with: lists are in order of start, earliest first.
  const add = (pc: number, at: number, start: number) => {
    let top = 0;
    stack[top++] = pc;
    while (top > 0) {
      const s = stack[--top] as number;
      if (seen[s] === at) continue;
      seen[s] = at;
      const o = op[s];
      if (o === SPLIT) {
        stack[top++] = out1[s] as number;
        stack[top++] = out[s] as number;
      } else if (o === ASSERT) {
        if (holds(assertion[s], at)) stack[top++] = out[s] as number;
      } else {
        nextPcs[nextCount] = s;
        nextStarts[nextCount] = start;
        nextCount++;
      }
    }
  };
  let best = -1;
  add(program.start, 0, 0);
  for (let at = 0; ; at++) {
    [pcs, nextPcs] = [nextPcs, pcs];
    [starts, nextStarts] = [nextStarts, starts];
    count = nextCount;
    nextCount = 0;
    const code = at < n ? text.charCodeAt(at) : -1;
    for (let k = 0; k < count; k++) {
      const s = pcs[k] as number;
      if (op[s] === MATCH) {
        best = starts[k] as number; // the states after this one started no earlier
        break;
      }
      if (code >= 0 && (test[s] as CodeTest)(code)) add(out[s] as number, at + 1, starts[k] as number);
    }
    if (at >= n) break;
    if (best < 0) add(program.start, at + 1, at + 1);
    else if (nextCount === 0) break;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The compiled pattern
// ---------------------------------------------------------------------------------------------

/** A rule's regular expression: `new RegExp(source, 'i')`'s matches, found in linear time. */
export class RulePattern {
  readonly source: string;
  readonly #program: Program;
  readonly #display: string;

  constructor(source: string, program: Program, display: string) {
    this.source = source;
    this.#program = program;
    this.#display = display;
  }

  /** Whether the pattern matches somewhere in `text`. */
  test(text: string): boolean {
    return search(this.#program, text) >= 0;
  }

  /** Where the leftmost match starts (as RegExp's `exec(text).index`), or -1. */
  search(text: string): number {
    return search(this.#program, text);
  }

  /** As RegExp shows it: `/\?\s*$/i`. */
  toString(): string {
    return this.#display;
  }
}

/** Compiles a rule pattern; throws {@link RulePatternError} with the problem and the fix. */
export function compilePattern(source: string): RulePattern {
  let native: RegExp;
  try {
    native = new RegExp(source, 'i');
  } catch (error) {
    throw new RulePatternError(`is not a valid regular expression: ${(error as Error).message}`, REGEX_FIX);
  }
  try {
    return new RulePattern(source, compile(new Parser(source).parse()), String(native));
  } catch (error) {
    if (error instanceof RangeError) {
      throw new RulePatternError('nests groups too deeply', 'Use fewer nested groups');
    }
    throw error;
  }
}
