// Drives rate budgets at saturation: the loop the shared budget's tests and its benchmark
// (bench/shared-budget.ts) both run, and the window count both judge it by.
import type { OperationId } from '../../shared/openapi/index.ts';
import type { RateBudget } from '../../shared/ports/rate-budget.ts';

/** A budget instance standing in for one process (one Lambda function). */
export interface DrivenBudget extends Pick<RateBudget, 'acquire'> {
  /** Resolves when the instance's background writes are done. */
  flush(): Promise<void>;
}

export interface DriveOptions {
  /** Callers per instance, each acquiring back to back. */
  readonly callers: number;
  /** How long the callers keep acquiring (a real-time timeout). */
  readonly durationMs: number;
  readonly op: OperationId;
  /** The clock grant times are read from. @default performance.now */
  readonly now?: () => number;
}

/**
 * Keeps `callers` callers per instance acquiring back to back for `durationMs`, then waits for
 * every instance's writes; returns the times (ms since the start, ascending) calls were granted.
 */
export async function driveBudgets(
  budgets: readonly DrivenBudget[],
  options: DriveOptions,
): Promise<number[]> {
  const now = options.now ?? (() => performance.now());
  const start = now();
  const grants: number[] = [];
  const stop = AbortSignal.timeout(options.durationMs);
  const loop = async (budget: DrivenBudget) => {
    for (;;) {
      try {
        await budget.acquire(options.op, stop);
      } catch (error) {
        if (stop.aborted) return;
        throw error;
      }
      grants.push(now() - start);
    }
  };
  await Promise.all(budgets.flatMap((b) => Array.from({ length: options.callers }, () => loop(b))));
  await Promise.all(budgets.map((b) => b.flush()));
  return grants.sort((a, b) => a - b);
}

/** The most grants in any half-open window of `windowMs` (`sortedGrants` ascending). */
export function maxInWindow(sortedGrants: readonly number[], windowMs: number): number {
  let max = 0;
  let j = 0;
  for (let i = 0; i < sortedGrants.length; i++) {
    while ((sortedGrants[i] as number) - (sortedGrants[j] as number) >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}
