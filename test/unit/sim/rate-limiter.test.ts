import { describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, pageLength } from '../../../sim/handlers.ts';
import { SlidingWindowLog } from '../../../sim/rate-limiter.ts';

describe('sliding window log', () => {
  it('when the limit is reached, then the next call is rejected until the oldest call leaves the window', () => {
    const log = new SlidingWindowLog();
    for (let t = 0; t < 3; t++) expect(log.check('u', 3, 1000, t * 100).allowed).toBe(true);

    const rejected = log.check('u', 3, 1000, 500);

    expect(rejected).toMatchObject({ allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 500 });
    expect(log.check('u', 3, 1000, 999).allowed).toBe(false);
    expect(log.check('u', 3, 1000, 1000)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('when calls are rejected, then they do not extend the wait', () => {
    const log = new SlidingWindowLog();
    log.check('u', 1, 1000, 0);
    for (let t = 100; t < 1000; t += 100) log.check('u', 1, 1000, t);

    expect(log.check('u', 1, 1000, 1000).allowed).toBe(true);
  });

  it('when keys differ, then their windows are independent', () => {
    const log = new SlidingWindowLog();
    log.check('a', 1, 1000, 0);

    expect(log.check('b', 1, 1000, 0).allowed).toBe(true);
    expect(log.peek('a', 1, 1000, 0).allowed).toBe(false);
  });
});

describe('pagination helpers', () => {
  it('when offsets are encoded, then tokens are opaque integers that decode back', () => {
    expect(encodeToken(0)).toBe(3);
    expect(decodeToken(encodeToken(150))).toBe(150);
    expect(decodeToken(0)).toBe(0);
    expect(decodeToken(151)).toBeUndefined();
    expect(decodeToken(-4)).toBeUndefined();
  });

  it('when page lengths are computed, then some pages are short but none is empty or too long', () => {
    const lengths = Array.from({ length: 200 }, (_, offset) => pageLength(1, 'list', offset, 10));

    expect(lengths.every((n) => n >= 1 && n <= 10)).toBe(true);
    expect(lengths.some((n) => n < 10)).toBe(true);
    expect(pageLength(1, 'list', 5, 10)).toBe(pageLength(1, 'list', 5, 10));
  });
});
