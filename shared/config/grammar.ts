// The two small grammars operators write by hand: durations ("30m", "7d", "1h30m") in the config
// file, the rules file and on the command line, and rates ("20/min", "15/10s") in
// `amigo.rateLimits`. One units table serves both, so a rate's window is read as a duration.
//
// Durations are strict (one letter per unit, largest first, each unit once, no spaces inside a
// number): they appear in many places and a lenient reader would let "7D" or "7 days" mean
// different things in different fields. A rate's window also takes unit words ("/min", "/minute",
// "/2 hours"), the way rate limits are usually quoted, as well as any duration ("/1m30s").
import type { RateLimit } from '../openapi/index.ts';
import { describe, Invalid } from './validation.ts';

/** Milliseconds per unit, largest first (the order `formatDuration` writes them in). */
const DURATION_UNITS = [
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;
type DurationUnit = (typeof DURATION_UNITS)[number][0];
const UNIT_MS = Object.fromEntries(DURATION_UNITS) as Record<DurationUnit, number>;

const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_PARTS = /^(?:\d+(?:ms|[wdhms]))+$/;
const DURATION_FIX = 'Write it like "7d", "36h" or "30m"';

/** A duration as milliseconds; throws {@link Invalid} with the problem and the fix. */
export function readDuration(value: unknown): number {
  if (typeof value === 'number') {
    throw new Invalid(`${value} has no unit, so it is not a duration`, DURATION_FIX);
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Invalid(`${describe(value)} is not a duration`, DURATION_FIX);
  }
  const compact = value.trim().replace(/\s+/g, '');
  const match = DURATION.exec(compact);
  if (!match) {
    if (DURATION_PARTS.test(compact)) {
      throw new Invalid(
        `"${value}" repeats a unit or has them out of order`,
        'Write the largest unit first and each unit once, like "1h30m" or "1d12h"',
      );
    }
    throw new Invalid(`"${value}" is not a duration`, DURATION_FIX);
  }
  let ms = 0;
  DURATION_UNITS.forEach(([, unitMs], i) => {
    const n = match[i + 1];
    if (n !== undefined) ms += Number(n) * unitMs;
  });
  if (!Number.isSafeInteger(ms)) throw new Invalid(`"${value}" is too long`, DURATION_FIX);
  if (ms === 0) throw new Invalid(`"${value}" is zero`, `Give a duration longer than zero. ${DURATION_FIX}`);
  return ms;
}

/** A duration reader that also refuses values outside `[min, max]`, both written as durations. */
export function durationIn(min: string, max: string): (value: unknown) => number {
  const minMs = readDuration(min);
  const maxMs = readDuration(max);
  return (value) => {
    const ms = readDuration(value);
    if (ms < minMs || ms > maxMs) {
      throw new Invalid(
        `"${value}" is ${ms < minMs ? 'shorter' : 'longer'} than allowed`,
        `Use a duration from "${min}" to "${max}"`,
      );
    }
    return ms;
  };
}

/** Parses `"30s"`, `"30m"`, `"36h"`, `"7d"`, `"2w"`, `"500ms"` or combinations (`"1h30m"`) into ms. */
export function parseDuration(text: string, field = 'duration'): number {
  return Invalid.named(field, () => readDuration(text));
}

/** The shortest text `parseDuration` reads back as `ms`, largest unit first (`5_400_000` -> `"1h30m"`). */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`${ms} is not a whole number of ms`);
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, unitMs] of DURATION_UNITS) {
    const n = Math.floor(rest / unitMs);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * unitMs;
  }
  return out;
}

/** The words a rate's window may use for a unit: the duration letters, and words. */
const WINDOW_WORDS: Record<string, DurationUnit> = {
  ...(Object.fromEntries(DURATION_UNITS.map(([unit]) => [unit, unit])) as Record<DurationUnit, DurationUnit>),
  sec: 's',
  second: 's',
  min: 'm',
  minute: 'm',
  hour: 'h',
  day: 'd',
  week: 'w',
};
const RATE = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(.+?)\s*$/;
/** A window written as an optional count and one unit word: "min", "10s", "2 minutes", "1.5s". */
const WINDOW_WORD = /^(\d+(?:\.\d+)?)?\s*([a-z]+)$/i;
const RATE_FIX = 'Write it as calls per unit, for example "20/min", "4/s" or "100/h"';

/** A rate's window in ms: one unit word with an optional count, or any duration ("1m30s"). */
function windowOf(text: string): number | undefined {
  const word = WINDOW_WORD.exec(text);
  if (word) {
    const name = (word[2] as string).toLowerCase();
    // A plural ("mins", "hours") names the same unit.
    const unit = WINDOW_WORDS[name] ?? WINDOW_WORDS[name.replace(/s$/, '')];
    if (unit === undefined) return undefined;
    const count = word[1] === undefined ? 1 : Number(word[1]);
    return count > 0 ? count * UNIT_MS[unit] : undefined;
  }
  try {
    return readDuration(text);
  } catch (error) {
    if (error instanceof Invalid) return undefined;
    throw error;
  }
}

/** A rate as a limit per window; throws {@link Invalid} with the problem and the fix. */
export function readRate(value: unknown): RateLimit {
  if (typeof value !== 'string') throw new Invalid(`${describe(value)} is not a rate`, RATE_FIX);
  const match = RATE.exec(value);
  const limit = Number(match?.[1]);
  const windowMs = match ? windowOf(match[2] as string) : undefined;
  if (windowMs === undefined || !(limit > 0)) throw new Invalid(`"${value}" is not a rate`, RATE_FIX);
  if (!Number.isInteger(limit)) {
    throw new Invalid(
      `"${value}" allows a fraction of a call`,
      'Use a whole number of calls per window, for example "3/2s" or "20/min"',
    );
  }
  return { limit, windowMs };
}

/** Parses `"20/min"`, `"4/s"`, `"100/h"`, `"15/10s"` or `"20/1m30s"` into a limit per window. */
export function parseRate(text: string, field = 'rate'): RateLimit {
  return Invalid.named(field, () => readRate(text));
}

/** The rate as `parseRate` reads it back: per minute when the window is whole minutes, else per second. */
export function formatRate(rate: RateLimit): string {
  return rate.windowMs % 60_000 === 0 && rate.windowMs >= 60_000
    ? `${rate.limit}/${rate.windowMs === 60_000 ? '' : rate.windowMs / 60_000}min`
    : `${rate.limit}/${rate.windowMs === 1_000 ? '' : rate.windowMs / 1_000}s`;
}
