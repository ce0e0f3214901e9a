// What the config file (pipeline-config.ts) and the rules file (rules/schema.ts) validate alike.
// Both report every mistake as a field path, a problem and a fix, so a value reader throws
// {@link Invalid} carrying those parts, `leaf` turns it into a zod issue, and each file's parser
// adds what only it knows (the line, the rule's name, its "did you mean" for a misplaced key).
import * as z from 'zod';
import { ConfigurationError } from '../errors.ts';
import { OBJECT_ID } from '../ids.ts';
import { suggest } from './suggest.ts';

/** Where a value sits in the parsed file: keys and list indexes from the root. */
export type Path = ReadonlyArray<string | number>;

/** One mistake: where, what is wrong, and what to write instead. */
export interface Problem {
  readonly path: Path;
  readonly problem: string;
  readonly fix: string;
}

/** A value that is not what its field needs; `at` is a path below the field, when the value is nested. */
export class Invalid extends Error {
  readonly problem: string;
  readonly fix: string;
  readonly at: Path;
  constructor(problem: string, fix: string, at: Path = []) {
    super(problem);
    this.problem = problem;
    this.fix = fix;
    this.at = at;
  }

  /** Runs `read`; its Invalid becomes a ConfigurationError naming `field`. For readers outside a file. */
  static named<T>(field: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      if (error instanceof Invalid) throw new ConfigurationError(field, error.problem, error.fix);
      throw error;
    }
  }
}

/** Reads the item at `key` of a list or section: a mistake in it is placed under `key`. */
export function readAt<T>(key: string | number, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof Invalid) throw new Invalid(error.problem, error.fix, [key, ...error.at]);
    throw error;
  }
}

/** A value as a message quotes it: short text in quotes, containers by kind. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a section';
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

export function booleanOf(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  throw new Invalid(`must be true or false, not ${describe(value)}`, 'Write true or false, without quotes');
}

/** Text that is not blank, as written (callers that want it trimmed trim it). */
export function textOf(value: unknown, fix: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Invalid(`must be text, not ${describe(value)}`, fix);
  }
  return value;
}

/** The tag key and value pattern of the modify-tags API (ASCII `\w`, so stricter where it matters). */
export const TAG_PATTERN = /^[\w\s]+$/;

export const SERVICE_ID_FIX =
  'Copy the service id (24 characters, 0-9 and a-f) from the Amigo dashboard, in quotes, e.g. "6650f0c1a2b3c4d5e6f70812"';

/** An Amigo service id, trimmed. YAML reads an all-digit id as a number: that gets its own fix. */
export function serviceIdOf(value: unknown): string {
  if (typeof value === 'number') {
    throw new Invalid(
      `${value} is not a service id (it was read as a number)`,
      'Put the id in quotes, like "6650f0c1a2b3c4d5e6f70812"',
    );
  }
  if (typeof value !== 'string' || !OBJECT_ID.test(value.trim())) {
    throw new Invalid(`${describe(value)} is not a service id`, SERVICE_ID_FIX);
  }
  return value.trim();
}

/**
 * A zod leaf read by a value reader: its Invalid becomes a custom issue whose params carry the fix,
 * placed at `at` below the leaf. Anything else it throws is a bug and propagates.
 */
export function leaf<T>(read: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return read(value);
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      ctx.issues.push({
        code: 'custom',
        message: error.problem,
        input: value,
        path: [...error.at],
        params: { fix: error.fix },
      });
      return z.NEVER;
    }
  });
}

/**
 * The problems behind zod issues of the value at `under`: each unknown key through `unknownKey`, a
 * leaf's Invalid as it was thrown, anything else (a wrong shape) through `other`.
 */
export function problemsOf(
  issues: readonly z.core.$ZodIssue[],
  under: Path,
  unknownKey: (objectPath: Path, key: string) => Problem,
  other: (path: Path, issue: z.core.$ZodIssue) => Problem,
): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = [...under, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(unknownKey(path, key));
    } else if (issue.code === 'custom' && issue.params?.fix !== undefined) {
      out.push({ path, problem: issue.message, fix: String(issue.params.fix) });
    } else {
      out.push(other(path, issue));
    }
  }
  return out;
}

/**
 * The fix for a key that is not known here: the close one when it looks like a typo, else what
 * `elsewhere` says (the key belongs in another section), else the keys that are known.
 */
export function unknownKeyFix(
  key: string,
  known: readonly string[],
  elsewhere: () => string | undefined = () => undefined,
): string {
  const close = suggest(key, known);
  if (close) return `Did you mean "${close}"?`;
  return elsewhere() ?? `Remove it, or use one of: ${known.join(', ')}`;
}

/**
 * `archive.lookback`, `rules[3].when.any[1]`, `visits.>=`; a key that would blur the path (blank,
 * or with spaces, dots, brackets or quotes, like a tag key "needs review") is quoted.
 */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[^\s.[\]"]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The first problem's text with where it is: `is not a setting (in a.yaml, line 4; 2 more problems after this one)`. */
export function locate(problem: string, source: string, line: number | undefined, more: number): string {
  const after = more > 0 ? `; ${more} more ${more === 1 ? 'problem' : 'problems'} after this one` : '';
  return `${problem} (in ${source}${line === undefined ? '' : `, line ${line}`}${after})`;
}

/** A validated result is handed out frozen, so no caller can change what another one reads. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
