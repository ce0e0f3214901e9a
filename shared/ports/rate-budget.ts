import type { OperationId } from '../openapi/index.ts';

/** What a response told us about the server's view of the budget. */
export interface RateFeedback {
  readonly status: number;
  /** From `Retry-After`, in milliseconds from now. */
  readonly retryAfterMs?: number | undefined;
  readonly limit?: number | undefined;
  readonly remaining?: number | undefined;
  /** From `X-RateLimit-Reset` (epoch seconds), in epoch milliseconds. */
  readonly resetAtMs?: number | undefined;
  /** The grant this response answers (the value `acquire` resolved with). */
  readonly grantedAt?: number | undefined;
  /** True when no response came (network error, timeout): the call may or may not have counted. */
  readonly lost?: boolean | undefined;
}

/**
 * Who waits when the budget is short. `normal` (archive jobs) takes a slot only while more than the
 * budget's reserve is free, and only while no `high` caller waits; `high` (stalled interactions,
 * prioritised archives, and anything that names no class) takes any free slot. The limit binds both.
 * The two budgets order the classes differently: the in-process one serves every waiting `high`
 * caller before any `normal` one (under sustained high demand above the limit, normal callers wait
 * until it eases), while the DynamoDB one hands out slots in time order with `high` first in each
 * batch, so normal callers keep getting the limit less the reserve.
 */
export type Priority = 'high' | 'normal';

export const priorities = ['high', 'normal'] as const satisfies readonly Priority[];

/** The share of a limit kept for the high class, by default. */
export const DEFAULT_RESERVE_SHARE = 0.2;

/**
 * Slots of `limit` kept for the high class: `share` of it rounded, at least one when the share is
 * not zero, and never all of it (a normal caller must be able to go at all).
 */
export function reservedSlots(limit: number, share: number): number {
  if (share <= 0 || limit <= 1) return 0;
  return Math.min(limit - 1, Math.max(1, Math.round(limit * share)));
}

/** How long after a high-class call an operation keeps its reserve, in windows. */
export const RESERVE_HOLD_WINDOWS = 2;

/**
 * The port every Amigo call takes a token from. The in-process implementation (`SlidingWindowRateBudget`) serves
 * one process; a shared implementation (a DynamoDB table keyed by user and operation) serves many.
 */
export interface RateBudget {
  /**
   * Resolves when one call of `operationId` may start now, with the grant's time (epoch ms).
   * @param priority @default 'high'
   */
  acquire(operationId: OperationId, signal?: AbortSignal, priority?: Priority): Promise<number>;
  /** Reports the outcome of a granted call so the budget can follow the server. */
  observe(operationId: OperationId, feedback: RateFeedback): void;
}
