// Which run the code running now works for, carried through every await by AsyncLocalStorage, so
// that an Amigo call made deep inside a stage is counted for its run (./metered-budget.ts) without
// threading a run id through every port. The job worker opens the scope around each job.
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<string>();

/** Runs `work` for `runId` (null or undefined: for no run, e.g. `rules apply`). */
export function withinRun<T>(runId: string | null | undefined, work: () => Promise<T>): Promise<T> {
  return runId ? scope.run(runId, work) : scope.exit(work);
}

/** The run the current code works for, if any. */
export function currentRun(): string | undefined {
  return scope.getStore();
}
