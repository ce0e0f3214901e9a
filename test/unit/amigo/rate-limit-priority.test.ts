import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveRateLimits, SlidingWindowRateBudget } from '../../../shared/amigo/rate-limit.ts';
import type { Priority } from '../../../shared/ports/rate-budget.ts';
import { RESERVE_HOLD_WINDOWS, reservedSlots } from '../../../shared/ports/rate-budget.ts';

const OP = 'get-conversation-messages';
const WINDOW = 1_000;

function budgetFor(limit: number, reserveShare?: number) {
  const limits = resolveRateLimits({ [OP]: { limit, windowMs: WINDOW } });
  return new SlidingWindowRateBudget({
    limits,
    maxTransitMs: 0,
    ...(reserveShare === undefined ? {} : { reserveShare }),
  });
}

/** Starts an acquire and records when (ms since `start`) it was granted. */
function track(budget: SlidingWindowRateBudget, priority: Priority, start: number) {
  const out: { at: number | undefined; done: Promise<void> } = { at: undefined, done: Promise.resolve() };
  out.done = budget.acquire(OP, undefined, priority).then(() => {
    out.at = Date.now() - start;
  });
  return out;
}

/** The most grants within any window of WINDOW ms. */
function busiestWindow(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= WINDOW) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('SlidingWindowRateBudget by class', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('when a high caller has used the operation and only the reserve is free, then a normal caller waits while a later high caller is granted at once', async () => {
    // Arrange: limit 10, reserve 2; one high call, then 7 normal calls fill the window down to the reserve.
    const budget = budgetFor(10, 0.2);
    const start = Date.now();
    await budget.acquire(OP, undefined, 'high');
    for (let i = 0; i < 7; i++) await budget.acquire(OP, undefined, 'normal');

    // Act
    const normal = track(budget, 'normal', start);
    await vi.advanceTimersByTimeAsync(100);
    const high = track(budget, 'high', start);
    await vi.advanceTimersByTimeAsync(0);

    // Assert: the high caller took a reserved slot at once; the normal one waits for the window to move.
    expect(high.at).toBe(100);
    expect(normal.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(WINDOW);
    expect(normal.at).toBe(WINDOW);
  });

  it('when no high caller has used the operation, then normal callers use the whole limit', async () => {
    // Arrange
    const budget = budgetFor(10, 0.2);
    const start = Date.now();

    // Act
    const calls = Array.from({ length: 10 }, () => track(budget, 'normal', start));
    await vi.advanceTimersByTimeAsync(0);

    // Assert
    expect(calls.map((c) => c.at)).toEqual(new Array(10).fill(0));
  });

  it('when no high caller comes for two windows, then the reserve lapses and a waiting normal caller takes it', async () => {
    // Arrange: the window full down to the reserve by a high call and normal calls.
    const budget = budgetFor(5, 0.2);
    const start = Date.now();
    await budget.acquire(OP, undefined, 'high');
    for (let i = 0; i < 3; i++) await budget.acquire(OP, undefined, 'normal');
    // Nine wait: four fit the normal cap at the first window's end, and five are left for the
    // moment the reserve lapses, so the fifth slot shows whether it did.
    const normals = Array.from({ length: 9 }, () => track(budget, 'normal', start));

    // Act
    await vi.advanceTimersByTimeAsync(RESERVE_HOLD_WINDOWS * WINDOW + 1);

    // Assert: up to the hold, at most limit - reserve (4) normal grants per window; after it the fifth slot is theirs too.
    const granted = normals.map((c) => c.at).filter((t): t is number => t !== undefined);
    expect(granted.filter((t) => t < RESERVE_HOLD_WINDOWS * WINDOW)).toHaveLength(4);
    expect(granted.filter((t) => t === RESERVE_HOLD_WINDOWS * WINDOW)).toHaveLength(5);
  });

  it('when high and normal callers keep arriving together for many windows, then no window holds more than the limit and the high class waits only once, at most a window', async () => {
    // Arrange: a steady stream of both classes, more than the limit can serve.
    const budget = budgetFor(10, 0.2);
    const start = Date.now();
    const highs: ReturnType<typeof track>[] = [];
    const normals: ReturnType<typeof track>[] = [];
    const highAsked: number[] = [];

    // Act: 30 normal callers at once, then a high caller every 500 ms (as many as the reserve holds) for 10 windows.
    for (let i = 0; i < 30; i++) normals.push(track(budget, 'normal', start));
    for (let t = 0; t < 10 * WINDOW; t += 500) {
      highAsked.push(t);
      highs.push(track(budget, 'high', start));
      await vi.advanceTimersByTimeAsync(500);
    }
    await vi.advanceTimersByTimeAsync(10 * WINDOW);

    // Assert
    const all = [...highs, ...normals].map((c) => c.at as number);
    expect(all.every((t) => t !== undefined)).toBe(true);
    expect(busiestWindow(all)).toBeLessThanOrEqual(10);
    const highWaits = highs.map((c, i) => (c.at as number) - (highAsked[i] as number));
    // The high callers of the first window find it full (no reserve was kept before them) and wait for
    // it to move; from then on the reserve is there for every one.
    expect(highWaits.slice(0, 2).every((w) => w <= WINDOW)).toBe(true);
    expect(highWaits.slice(2)).toEqual(new Array(highWaits.length - 2).fill(0));
    // The normal class absorbs the backlog: it still gets most of the budget.
    expect(normals.filter((c) => (c.at as number) < 5 * WINDOW).length).toBeGreaterThan(20);
  });
});

describe('reservedSlots', () => {
  it('when the share rounds to nothing, then one slot is still kept; never the whole limit', () => {
    expect(reservedSlots(20, 0.2)).toBe(4);
    expect(reservedSlots(3, 0.2)).toBe(1);
    expect(reservedSlots(2, 0.9)).toBe(1);
    expect(reservedSlots(1, 0.2)).toBe(0);
    expect(reservedSlots(20, 0)).toBe(0);
  });
});
