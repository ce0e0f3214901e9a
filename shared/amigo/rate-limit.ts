// Client-side rate limiting. Amigo limits each user per operation ("15 requests per minute"). The
// limiter keeps, per operation, the send times of the calls in the current window (a sliding-window
// log): it never lets more than `limit` calls start within any window, which stays under the limit
// whatever window algorithm the server uses (fixed, sliding or token bucket), while letting calls
// through the moment a slot frees, so the whole budget is used.
import { parseRate } from '../config/grammar.ts';
import { ConfigurationError } from '../errors.ts';
import type { OperationId, RateLimit } from '../openapi/index.ts';
import { operationIds, operations } from '../openapi/index.ts';
import { type Clock, systemClock } from '../ports/clock.ts';
import {
  DEFAULT_RESERVE_SHARE,
  type Priority,
  type RateBudget,
  type RateFeedback,
  RESERVE_HOLD_WINDOWS,
  reservedSlots,
} from '../ports/rate-budget.ts';

export type { RateLimit } from '../openapi/index.ts';

/** The published limit of every operation, with per-operation overrides (`{"get-conversations": "20/min"}`). */
export function resolveRateLimits(
  overrides: Readonly<Record<string, string | RateLimit>> = {},
  field = 'rateLimits',
): Record<OperationId, RateLimit> {
  const out = {} as Record<OperationId, RateLimit>;
  for (const id of operationIds) out[id] = operations[id].publishedLimit;
  for (const [key, value] of Object.entries(overrides)) {
    if (!operationIds.includes(key as OperationId)) {
      throw new ConfigurationError(
        `${field}.${key}`,
        'is not an Amigo operationId',
        `Use one of: ${operationIds.join(', ')}`,
      );
    }
    out[key as OperationId] = typeof value === 'string' ? parseRate(value, `${field}.${key}`) : value;
  }
  return out;
}

export interface SlidingWindowOptions {
  readonly limits: Readonly<Record<OperationId, RateLimit>>;
  readonly clock?: Clock;
  /**
   * The longest a call may take from its grant to its arrival at the server. The server counts a
   * call when it arrives and we only know it arrived by the time its response is back, so a call
   * occupies our window from grant + this bound while in flight and from its response time once
   * answered (later than the bound if the call was slower). The bound is what a call that never
   * answers is assumed to have taken. @default 25% of the window
   */
  readonly maxTransitMs?: number;
  /**
   * The share of each operation's limit kept for `high` callers while the operation has served one
   * within the last two windows: a `normal` caller takes a slot only while more than this is free.
   * Kept only while high-class work is about, so that archives alone still use the whole budget.
   * @default 0.2
   */
  readonly reserveShare?: number;
}

/**
 * 25% of the window, at least 5 ms. Generous, because here the margin costs almost nothing: an
 * answered call's entry moves back to its response time, so the margin holds a slot longer only
 * while a call is in flight or when it is lost, and a slow network or a stalled event loop is what
 * it guards against. The DynamoDB budget (shared/adapters/dynamodb-rate-budget.ts) keeps every slot
 * for window + margin, answered or not, so there the margin costs throughput and defaults to 5%.
 */
function defaultMaxTransitMs(rate: RateLimit): number {
  return Math.max(5, Math.round(rate.windowMs * 0.25));
}

interface Waiter {
  readonly priority: Priority;
  resolve: (grantedAt: number) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One operation's sliding-window log. Each entry is the latest moment the server can have counted
 * a call: grant + maxTransit while the call is in flight, then the response time once it is back.
 * A slot frees one window after its entry, so no window at the server (which counts arrivals) sees
 * more than `limit` calls while the full budget is used, as long as calls still in flight arrive
 * within maxTransit. A 429 frees its entry: the server did not count that call.
 */
class OperationWindow {
  /** Upper bounds of the server's arrival times, ascending. */
  private readonly entries: number[] = [];
  private readonly waiters: Waiter[] = [];
  private blockedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private limit: number;
  private readonly configuredLimit: number;
  private readonly windowMs: number;
  private readonly maxTransitMs: number;
  private readonly reserveShare: number;
  private readonly clock: Clock;
  /** Until when the reserve is kept: RESERVE_HOLD_WINDOWS after the last high-class acquire. */
  private reserveUntil = Number.NEGATIVE_INFINITY;

  constructor(rate: RateLimit, clock: Clock, maxTransitMs: number | undefined, reserveShare: number) {
    this.limit = rate.limit;
    this.configuredLimit = rate.limit;
    this.windowMs = rate.windowMs;
    this.maxTransitMs = maxTransitMs ?? defaultMaxTransitMs(rate);
    this.reserveShare = reserveShare;
    this.clock = clock;
  }

  acquire(signal: AbortSignal | undefined, priority: Priority): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (priority === 'high') {
      this.reserveUntil = this.clock.now() + RESERVE_HOLD_WINDOWS * this.windowMs;
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { priority, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
          this.pump();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.pump();
    });
  }

  observe(feedback: RateFeedback): void {
    const now = this.clock.now();
    const { grantedAt } = feedback;
    if (grantedAt !== undefined) {
      const bound = grantedAt + this.maxTransitMs;
      const pending = this.entries.indexOf(bound);
      if (pending >= 0) this.entries.splice(pending, 1);
      // Not counted by the server (429) frees the slot; a lost call keeps the in-flight bound; a
      // response proves only that the call arrived by now. A response later than the bound (a
      // stalled event loop, a slow network) shows the bound did not hold for this call, so the slot
      // is kept until one window after the response, even when the bound had already expired it.
      if (feedback.status !== 429) {
        if (feedback.lost) {
          if (pending >= 0) this.insert(bound);
        } else if (pending >= 0 || now > bound) {
          this.insert(now);
        }
      }
    }
    if (feedback.limit !== undefined && feedback.limit > 0) {
      // The server's own limit wins when it is lower than ours; a higher one never raises ours.
      this.limit = Math.min(this.configuredLimit, feedback.limit);
    }
    if (feedback.status === 429) {
      const until =
        feedback.retryAfterMs !== undefined
          ? now + feedback.retryAfterMs
          : (feedback.resetAtMs ?? now + this.windowMs / Math.max(1, this.limit));
      this.blockedUntil = Math.max(this.blockedUntil, until);
    } else if (feedback.limit !== undefined && feedback.remaining !== undefined) {
      // Calls the server counts that we did not make (another process of the same user) take
      // slots in our window too.
      this.prune(now);
      const foreign = feedback.limit - feedback.remaining - this.entries.length;
      for (let i = 0; i < foreign && this.entries.length < this.limit; i++) this.insert(now);
      if (feedback.remaining <= 0 && foreign > 0 && feedback.resetAtMs !== undefined) {
        this.blockedUntil = Math.max(this.blockedUntil, feedback.resetAtMs);
      }
    }
    this.pump();
  }

  private insert(value: number): void {
    let i = this.entries.length;
    while (i > 0 && (this.entries[i - 1] as number) > value) i--;
    this.entries.splice(i, 0, value);
  }

  private prune(now: number): void {
    while (this.entries.length > 0 && (this.entries[0] as number) + this.windowMs <= now)
      this.entries.shift();
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = this.clock.now();
    this.prune(now);
    const reserving = now < this.reserveUntil;
    const normalCap = this.limit - (reserving ? reservedSlots(this.limit, this.reserveShare) : 0);
    // High waiters first, in arrival order; a normal waiter only when none waits and the reserve is free.
    while (this.waiters.length > 0 && now >= this.blockedUntil) {
      const high = this.waiters.findIndex((w) => w.priority === 'high');
      const cap = high >= 0 ? this.limit : normalCap;
      if (this.entries.length >= cap) break;
      const [waiter] = this.waiters.splice(Math.max(0, high), 1) as [Waiter];
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.insert(now + this.maxTransitMs);
      waiter.resolve(now);
    }
    if (this.waiters.length === 0) return;
    const cap = this.waiters.some((w) => w.priority === 'high') ? this.limit : normalCap;
    // The moment the window holds fewer than `cap` entries (or the reserve lapses, for normal waiters).
    let nextSlot =
      this.entries.length < cap ? now : (this.entries[this.entries.length - cap] as number) + this.windowMs;
    if (cap < this.limit) nextSlot = Math.min(nextSlot, this.reserveUntil);
    const wakeAt = Math.max(nextSlot, this.blockedUntil);
    this.timer = setTimeout(() => this.pump(), Math.max(1, wakeAt - now));
    // Waiting callers keep the process alive through their own promises, not through this timer.
    this.timer.unref();
  }
}

/** An in-process {@link RateBudget}: one sliding-window log per operation. */
export class SlidingWindowRateBudget implements RateBudget {
  private readonly windows = new Map<OperationId, OperationWindow>();
  private readonly options: SlidingWindowOptions;

  constructor(options: SlidingWindowOptions) {
    this.options = options;
  }

  acquire(operationId: OperationId, signal?: AbortSignal, priority: Priority = 'high'): Promise<number> {
    return this.window(operationId).acquire(signal, priority);
  }

  observe(operationId: OperationId, feedback: RateFeedback): void {
    this.window(operationId).observe(feedback);
  }

  private window(operationId: OperationId): OperationWindow {
    let w = this.windows.get(operationId);
    if (!w) {
      w = new OperationWindow(
        this.options.limits[operationId],
        this.options.clock ?? systemClock,
        this.options.maxTransitMs,
        this.options.reserveShare ?? DEFAULT_RESERVE_SHARE,
      );
      this.windows.set(operationId, w);
    }
    return w;
  }
}

/** Reads the rate-limit headers of a response. */
export function rateFeedbackFrom(status: number, headers: Headers, now: number): RateFeedback {
  const num = (name: string): number | undefined => {
    const raw = headers.get(name);
    if (raw === null || raw.trim() === '') return undefined;
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  };
  let retryAfterMs: number | undefined;
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) retryAfterMs = Math.max(0, seconds * 1000);
    else {
      const at = Date.parse(retryAfter);
      if (Number.isFinite(at)) retryAfterMs = Math.max(0, at - now);
    }
  }
  const reset = num('x-ratelimit-reset');
  return {
    status,
    retryAfterMs,
    limit: num('x-ratelimit-limit'),
    remaining: num('x-ratelimit-remaining'),
    resetAtMs: reset === undefined ? undefined : reset * 1000,
  };
}
