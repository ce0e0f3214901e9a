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
 * The port every Amigo call takes a token from. The in-process implementation (`SlidingWindowRateBudget`) serves
 * one process; a shared implementation (a DynamoDB table keyed by user and operation) serves many.
 */
export interface RateBudget {
  /** Resolves when one call of `operationId` may start now, with the grant's time (epoch ms). */
  acquire(operationId: OperationId, signal?: AbortSignal): Promise<number>;
  /** Reports the outcome of a granted call so the budget can follow the server. */
  observe(operationId: OperationId, feedback: RateFeedback): void;
}
