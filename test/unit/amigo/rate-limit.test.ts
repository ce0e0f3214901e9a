import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  rateFeedbackFrom,
  resolveRateLimits,
  SlidingWindowRateBudget,
} from '../../../shared/amigo/rate-limit.ts';
import { operations } from '../../../shared/openapi/index.ts';

const OP = 'get-conversations';

function budgetFor(limit: number, windowMs: number, maxTransitMs = 0) {
  const limits = resolveRateLimits({ [OP]: { limit, windowMs } });
  return new SlidingWindowRateBudget({ limits, maxTransitMs });
}

/** Requests `count` tokens at the given offsets (ms) and returns when each was granted. */
async function grantTimes(budget: SlidingWindowRateBudget, arrivals: number[]): Promise<number[]> {
  const start = Date.now();
  const grants: number[] = new Array(arrivals.length);
  const order = arrivals.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  const pending: Promise<void>[] = [];
  let clock = 0;
  for (const { at, i } of order) {
    await vi.advanceTimersByTimeAsync(at - clock);
    clock = at;
    pending.push(
      budget.acquire(OP).then(() => {
        grants[i] = Date.now() - start;
      }),
    );
  }
  for (
    let guard = 0;
    guard < 10_000 && grants.filter((g) => g !== undefined).length < arrivals.length;
    guard++
  ) {
    await vi.advanceTimersToNextTimerAsync();
  }
  await Promise.all(pending);
  return grants;
}

describe('resolveRateLimits', () => {
  it('when nothing is overridden, then every operation gets the limit published in the spec', () => {
    const limits = resolveRateLimits();
    expect(limits['sign-in-with-api-key']).toEqual({ limit: 5, windowMs: 60_000 });
    expect(limits['get-conversations']).toEqual({ limit: 15, windowMs: 60_000 });
    expect(limits['get-conversation-messages']).toEqual({ limit: 20, windowMs: 60_000 });
    expect(limits['retrieve-message-source']).toEqual({ limit: 30, windowMs: 60_000 });
    expect(limits['get-interaction-insights']).toEqual({ limit: 20, windowMs: 60_000 });
    expect(limits['modify-tags-of-conversation']).toEqual({ limit: 50, windowMs: 60_000 });
    expect(limits['recommend-responses-for-interaction']).toEqual({ limit: 20, windowMs: 60_000 });
    expect(Object.keys(limits).sort()).toEqual(Object.keys(operations).sort());
  });

  it('when an override names an operation, then only that operation changes', () => {
    const limits = resolveRateLimits({ 'get-conversations': '4/s' });
    expect(limits['get-conversations']).toEqual({ limit: 4, windowMs: 1_000 });
    expect(limits['get-conversation-messages']).toEqual({ limit: 20, windowMs: 60_000 });
  });

  it('when an override names an unknown operation, then it fails naming the field and listing valid ids', () => {
    expect(() => resolveRateLimits({ 'get-conversation': '4/s' }, 'amigo.rateLimits')).toThrow(
      /amigo\.rateLimits\.get-conversation: is not an Amigo operationId.*get-conversations/s,
    );
  });
});

describe('rateFeedbackFrom', () => {
  it('when the headers carry limits and Retry-After in seconds, then they are read in milliseconds', () => {
    const headers = new Headers({
      'Retry-After': '3',
      'X-RateLimit-Limit': '15',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '1700000000',
    });
    expect(rateFeedbackFrom(429, headers, 0)).toEqual({
      status: 429,
      retryAfterMs: 3_000,
      limit: 15,
      remaining: 0,
      resetAtMs: 1_700_000_000_000,
    });
  });

  it('when Retry-After is an HTTP date, then it becomes the wait from now', () => {
    const now = Date.parse('2026-11-26T10:00:00Z');
    const headers = new Headers({ 'Retry-After': 'Thu, 26 Nov 2026 10:00:05 GMT' });
    expect(rateFeedbackFrom(503, headers, now).retryAfterMs).toBe(5_000);
  });

  it('when headers are absent or garbage, then nothing is invented', () => {
    const headers = new Headers({ 'X-RateLimit-Limit': 'lots' });
    expect(rateFeedbackFrom(200, headers, 0)).toEqual({
      status: 200,
      retryAfterMs: undefined,
      limit: undefined,
      remaining: undefined,
      resetAtMs: undefined,
    });
  });
});

describe('SlidingWindowRateBudget', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-26T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    [60_000, 15_000],
    [1_000, 250],
    [10, 5],
  ])(
    'when no margin is given and a call on a %d ms window never answers, then its slot stays taken for a quarter window (at least 5 ms) past its grant plus one window',
    async (windowMs, margin) => {
      // Arrange: the production default margin, one slot, and a first call that never reports back.
      const limits = resolveRateLimits({ [OP]: { limit: 1, windowMs } });
      const budget = new SlidingWindowRateBudget({ limits });
      const start = Date.now();
      await budget.acquire(OP);

      // Act
      const second = budget.acquire(OP).then(() => Date.now() - start);
      await vi.advanceTimersByTimeAsync(2 * windowMs);

      // Assert
      await expect(second).resolves.toBe(windowMs + margin);
    },
  );

  it('when calls arrive at any times, then no window ever holds more than the limit and each call starts at the earliest moment that allows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 50, max: 2_000 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 40 }),
        async (limit, windowMs, margin, arrivals) => {
          const budget = budgetFor(limit, windowMs, margin);
          const grants = await grantTimes(budget, arrivals);

          // Safety: calls never answered occupy window + in-flight bound: at most `limit` start within it.
          const sorted = [...grants].sort((a, b) => a - b);
          for (let i = limit; i < sorted.length; i++) {
            expect((sorted[i] as number) - (sorted[i - limit] as number)).toBeGreaterThanOrEqual(
              windowMs + margin,
            );
          }
          // Full use of the budget: in arrival order (FIFO), each call starts as soon as both it has
          // arrived and the call `limit` places earlier has left the window.
          const order = arrivals.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
          const expected: number[] = [];
          order.forEach(({ at }, k) => {
            const freed = k >= limit ? (expected[k - limit] as number) + windowMs + margin : 0;
            expected.push(Math.max(at, freed));
          });
          expect(order.map(({ i }) => grants[i])).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('when the server answers 429 with Retry-After, then no call of that operation starts before it', async () => {
    const budget = budgetFor(100, 1_000);
    await budget.acquire(OP);
    budget.observe(OP, { status: 429, retryAfterMs: 2_500 });

    const grants = await grantTimes(budget, [0, 0]);

    expect(grants).toEqual([2_500, 2_500]);
  });

  it('when the server reports calls we did not make, then they take slots in our window', async () => {
    const budget = budgetFor(5, 1_000);
    await budget.acquire(OP);
    // The server counts 4 calls in its window: 3 of them were another process's.
    budget.observe(OP, { status: 200, limit: 5, remaining: 1 });

    const grants = await grantTimes(budget, [0, 0, 0]);

    expect(grants).toEqual([0, 1_000, 1_000]);
  });

  it('when the server states a lower limit than configured, then the lower one is used', async () => {
    const budget = budgetFor(10, 1_000);
    await budget.acquire(OP);
    budget.observe(OP, { status: 200, limit: 2, remaining: 1 });

    const grants = await grantTimes(budget, [0, 0, 0]);

    expect(grants).toEqual([0, 1_000, 1_000]);
  });

  it('when a response comes back, then its slot frees one window after the response, not after the in-flight bound', async () => {
    const budget = budgetFor(1, 1_000, 50);
    const grantedAt = await budget.acquire(OP);
    await vi.advanceTimersByTimeAsync(10);
    budget.observe(OP, { status: 200, grantedAt });

    expect(await grantTimes(budget, [0])).toEqual([1_000]);
  });

  it('when a response comes back later than the in-flight bound, then its slot frees one window after the response', async () => {
    const budget = budgetFor(1, 1_000, 50);
    const grantedAt = await budget.acquire(OP);
    await vi.advanceTimersByTimeAsync(200);
    budget.observe(OP, { status: 200, grantedAt });

    expect(await grantTimes(budget, [0])).toEqual([1_000]);
  });

  it('when a response comes back after its in-flight slot already expired, then the slot is taken again until one window after the response', async () => {
    const budget = budgetFor(1, 1_000, 50);
    const grantedAt = await budget.acquire(OP);
    await vi.advanceTimersByTimeAsync(1_100);
    budget.observe(OP, { status: 200, grantedAt });

    expect(await grantTimes(budget, [0])).toEqual([1_000]);
  });

  it('when no response comes (a lost call), then the slot stays taken for the whole in-flight bound', async () => {
    const budget = budgetFor(1, 1_000, 50);
    const grantedAt = await budget.acquire(OP);
    await vi.advanceTimersByTimeAsync(10);
    budget.observe(OP, { status: 0, grantedAt, lost: true });

    expect(await grantTimes(budget, [0])).toEqual([1_040]);
  });

  it('when a call is answered 429, then its slot is freed (the server did not count it) but Retry-After holds', async () => {
    const budget = budgetFor(1, 1_000, 50);
    const grantedAt = await budget.acquire(OP);
    budget.observe(OP, { status: 429, grantedAt, retryAfterMs: 300 });

    expect(await grantTimes(budget, [0])).toEqual([300]);
  });

  it('when a waiting caller aborts, then it is rejected and its slot goes to the next caller', async () => {
    const budget = budgetFor(1, 1_000);
    await budget.acquire(OP);
    const controller = new AbortController();
    const abandoned = expect(budget.acquire(OP, controller.signal)).rejects.toThrow('cancelled');
    const next = budget.acquire(OP);

    controller.abort(new Error('cancelled'));
    await vi.advanceTimersByTimeAsync(1_000);

    await abandoned;
    await expect(next).resolves.toBe(Date.parse('2026-11-26T00:00:01Z'));
  });

  it('when the only waiting caller aborts, then no timer is left running', async () => {
    const budget = budgetFor(1, 3_600_000);
    await budget.acquire(OP);
    const controller = new AbortController();
    const waiting = expect(budget.acquire(OP, controller.signal)).rejects.toThrow('stop');
    expect(vi.getTimerCount()).toBe(1);

    controller.abort(new Error('stop'));
    await waiting;

    expect(vi.getTimerCount()).toBe(0);
  });
});
