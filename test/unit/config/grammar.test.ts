import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, formatRate, parseDuration, parseRate } from '../../../shared/config/grammar.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const DAY = 86_400_000;

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['30m', 1_800_000],
    ['36h', 129_600_000],
    ['7d', 7 * DAY],
    ['2w', 14 * DAY],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['500ms', 500],
    ['1m30s', 90_000],
  ])('when given "%s", then it is %d ms', (text, ms) => {
    expect(parseDuration(text, 'x')).toBe(ms);
  });

  it.each(['', '7', '7 days', '7D', '1.5h', '-1h', '0s', 'h', '1h1h'])(
    'when given "%s", then it fails naming the field',
    (text) => {
      expect(() => parseDuration(text, 'archive.lookback')).toThrow(
        /Invalid configuration archive\.lookback: /,
      );
    },
  );

  it('when any positive duration is formatted, then parsing the text gives it back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 * 365 * DAY }), (ms) => {
        expect(parseDuration(formatDuration(ms), 'x')).toBe(ms);
      }),
    );
  });

  it('when any combination of units is written largest first, then it parses to their sum', () => {
    const units = [
      ['w', 7 * DAY],
      ['d', DAY],
      ['h', 3_600_000],
      ['m', 60_000],
      ['s', 1_000],
      ['ms', 1],
    ] as const;
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }), {
          minLength: units.length,
          maxLength: units.length,
        }),
        (counts) => {
          const parts = units.flatMap(([unit, ms], i) =>
            counts[i] === undefined ? [] : [{ text: `${counts[i]}${unit}`, ms: (counts[i] as number) * ms }],
          );
          const total = parts.reduce((sum, p) => sum + p.ms, 0);
          fc.pre(total > 0);
          expect(parseDuration(parts.map((p) => p.text).join(''), 'x')).toBe(total);
        },
      ),
    );
  });
});

describe('parseRate', () => {
  it.each([
    ['20/min', { limit: 20, windowMs: 60_000 }],
    ['4/s', { limit: 4, windowMs: 1_000 }],
    ['100/h', { limit: 100, windowMs: 3_600_000 }],
    ['15/10s', { limit: 15, windowMs: 10_000 }],
    [' 5 / minute ', { limit: 5, windowMs: 60_000 }],
    ['30/mins', { limit: 30, windowMs: 60_000 }],
    // The window is a duration: any duration, or a unit word with a count.
    ['20/1m30s', { limit: 20, windowMs: 90_000 }],
    ['100/1d', { limit: 100, windowMs: 86_400_000 }],
    ['100/day', { limit: 100, windowMs: 86_400_000 }],
    ['3/2 hours', { limit: 3, windowMs: 7_200_000 }],
    ['6/500ms', { limit: 6, windowMs: 500 }],
  ])('when given %j, then it reads %j', (text, expected) => {
    expect(parseRate(text)).toEqual(expected);
  });

  it.each(['fast', '20', '0/min', '20/fortnight', '1.5/s', '-3/s'])(
    'when given %j, then it fails naming the field and the expected form',
    (text) => {
      const act = () => parseRate(text, 'amigo.rateLimits.get-conversations');
      expect(act).toThrow(ConfigurationError);
      expect(act).toThrow(/amigo\.rateLimits\.get-conversations.*"20\/min"/s);
    },
  );

  it('when a parsed rate is formatted and parsed again, then it round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom(1_000, 60_000, 120_000, 5_000),
        (limit, windowMs) => {
          expect(parseRate(formatRate({ limit, windowMs }))).toEqual({ limit, windowMs });
        },
      ),
    );
  });
});
