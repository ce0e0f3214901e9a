// Which budget class the code running now works in, carried through every await by
// AsyncLocalStorage like the run (./run-scope.ts): the job worker opens it around each job from the
// job itself, and the metering decorator (./metered-budget.ts) hands it to the budget with every
// acquire, so neither the stages nor the Amigo client carry a class they have no use for.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Priority } from '../ports/rate-budget.ts';

const scope = new AsyncLocalStorage<Priority>();

/** Runs `work` in the budget class `priority`. */
export function withinPriority<T>(priority: Priority, work: () => Promise<T>): Promise<T> {
  return scope.run(priority, work);
}

/** The class of the current code: `high` outside any job, so work nobody classed is never held back. */
export function currentPriority(): Priority {
  return scope.getStore() ?? 'high';
}
