// Per-key sliding-window log: a call is allowed when fewer than `limit` calls were accepted in the last
// `windowMs`. Rejected calls are not logged, so they do not extend the wait.

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Calls left in the window after this one. */
  remaining: number;
  /** Time (same clock as `nowMs`) at which the oldest logged call leaves the window; `nowMs` when the log is empty. */
  resetMs: number;
  /** When rejected: milliseconds until a call would be allowed. */
  retryAfterMs: number;
}

export class SlidingWindowLog {
  private readonly logs = new Map<string, number[]>();

  private prune(key: string, nowMs: number, windowMs: number): number[] {
    const log = this.logs.get(key) ?? [];
    let drop = 0;
    while (drop < log.length && (log[drop] as number) <= nowMs - windowMs) drop++;
    const kept = drop ? log.slice(drop) : log;
    this.logs.set(key, kept);
    return kept;
  }

  /** Decides and, when allowed and `consume` is true, logs the call. */
  check(key: string, limit: number, windowMs: number, nowMs: number, consume = true): RateDecision {
    const log = this.prune(key, nowMs, windowMs);
    if (log.length >= limit) {
      const oldest = log[log.length - limit] as number;
      const resetMs = oldest + windowMs;
      return { allowed: false, limit, remaining: 0, resetMs, retryAfterMs: Math.max(0, resetMs - nowMs) };
    }
    if (consume) log.push(nowMs);
    const oldest = log[0];
    return {
      allowed: true,
      limit,
      remaining: Math.max(0, limit - log.length),
      resetMs: oldest === undefined ? nowMs : oldest + windowMs,
      retryAfterMs: 0,
    };
  }

  /** The current state without logging anything. */
  peek(key: string, limit: number, windowMs: number, nowMs: number): RateDecision {
    return this.check(key, limit, windowMs, nowMs, false);
  }

  clear(): void {
    this.logs.clear();
  }
}
