// Drives rate budgets at saturation: the loop the shared budget's tests and its benchmark
// (bench/shared-budget.ts) both run, and the window count both judge it by.
import type { OperationId } from '../../shared/openapi/index.ts';
import type { RateBudget } from '../../shared/ports/rate-budget.ts';
import type { ManualClock } from './manual-clock.ts';

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

/** Time for {@link driveBudgetsVirtually}: the budgets' clock, and whether their store is idle. */
export interface VirtualTime {
  /** The clock every budget was built with. */
  readonly clock: ManualClock;
  /** True when no request of any budget to its store is in flight. */
  readonly storeIdle: () => boolean;
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

/**
 * {@link driveBudgets} in virtual time: `durationMs` is measured on `time.clock`, which moves only
 * when every budget waits on it (no store request in flight, nothing left to run): then it jumps
 * to the earliest wake-up. Store round trips take no virtual time, so what is granted depends on
 * the algorithm alone, never on how busy the machine is. Grant times are on the virtual clock.
 */
export async function driveBudgetsVirtually(
  budgets: readonly DrivenBudget[],
  options: Omit<DriveOptions, 'now'>,
  time: VirtualTime,
): Promise<number[]> {
  const { clock } = time;
  const start = clock.now();
  const end = start + options.durationMs;
  const grants: number[] = [];
  const stop = new AbortController();
  const loop = async (budget: DrivenBudget) => {
    for (;;) {
      try {
        await budget.acquire(options.op, stop.signal);
      } catch (error) {
        if (stop.signal.aborted) return;
        throw error;
      }
      grants.push(clock.now() - start);
    }
  };
  let finished = false;
  // The callers, then the writes they leave behind (which may back off on the clock too).
  const drive = Promise.all(budgets.flatMap((b) => Array.from({ length: options.callers }, () => loop(b))))
    .then(() => Promise.all(budgets.map((b) => b.flush())))
    .finally(() => {
      finished = true;
    });
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  while (!finished) {
    // Quiet: the store is idle across a full turn of the event loop (every continuation ran).
    do await turn();
    while (!finished && !time.storeIdle());
    await turn();
    if (finished || !time.storeIdle()) continue;
    if (clock.now() >= end && !stop.signal.aborted) {
      stop.abort(new Error('the drive is over'));
      continue;
    }
    const next = clock.nextWake();
    if (next !== undefined)
      clock.advance(Math.max(0, (clock.now() < end ? Math.min(next, end) : next) - clock.now()));
    else if (clock.now() < end) clock.advance(end - clock.now());
  }
  await drive;
  return grants.sort((a, b) => a - b);
}
