// A RateBudget decorator that counts, per Amigo operation, the calls Amigo answered and the 429s
// among them. It publishes both as CloudWatch metrics (Powertools EMF, dimension `operation`)
// once per invocation: the dashboard's "Amigo calls and 429s per operation"; and it keeps them per
// run (./run-scope.ts), which the archive records in `runs/<run-id>/usage/` for the run record and
// the QA report. It also hands the budget the class of the work calling (./priority-scope.ts).
// Calls made inside `archiveJob` are also counted apart, with the conversations those jobs
// archived, so the budget outlook counts what one conversation costs instead of inferring it; and
// so are their grants that had to wait for the budget, which tell it when the budget, not the work,
// set the archive jobs' pace (the drain it can forecast a backlog on).
import { AsyncLocalStorage } from 'node:async_hooks';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RunUsage } from '../archive-format/documents.ts';
import { METRIC, metrics } from '../observability.ts';
import type { OperationId } from '../openapi/index.ts';
import type { Priority, RateBudget, RateFeedback } from '../ports/rate-budget.ts';
import { currentPriority } from './priority-scope.ts';
import { currentRun } from './run-scope.ts';

interface Counts {
  answered: number;
  throttled: number;
}

/** An archive job's grants of one operation, and those among them that waited for the budget. */
interface Waits {
  acquired: number;
  waited: number;
}

interface RunCounts {
  from: number;
  to: number;
  readonly calls: Map<OperationId, Counts>;
  /** Among `calls`, the archive jobs'. */
  readonly archiveCalls: Map<OperationId, Counts>;
  readonly archiveWaits: Map<OperationId, Waits>;
  archived: number;
}

/** Set inside an archive job (see `archiveJob`). */
const archiveScope = new AsyncLocalStorage<true>();

/** The budget's limits, as the usage documents record them. */
export type UsageLimits = Readonly<Record<string, { readonly limit: number; readonly windowMs: number }>>;

/** Calls no scope claimed (the scheduler's, before its run has an id) until `claimUnscoped`. */
const UNSCOPED = '';

/**
 * A grant waited for the budget when it came at least this share of the operation's slot spacing
 * (window / limit: 3 s for insights at 20 a minute) after it was asked for, and at least
 * MIN_WAIT_MS: a free slot comes sooner (the shared budget's DynamoDB round trip is milliseconds).
 */
const WAITED_SPACING_SHARE = 0.25;

/** The clock's resolution and a turn of the event loop: no wait at all can read 1 ms. */
const MIN_WAIT_MS = 2;

export class MeteredRateBudget implements RateBudget {
  readonly #inner: RateBudget;
  readonly #now: () => number;
  readonly #calls = new Map<OperationId, Counts>();
  readonly #runs = new Map<string, RunCounts>();
  readonly #limits: UsageLimits;

  /**
   * @param options.limits The budget's limits, by operation: an archive job's grant counts as having
   * waited against its operation's slot spacing (an operation without one is not counted). @default {}
   */
  constructor(inner: RateBudget, options: { now?: () => number; limits?: UsageLimits } = {}) {
    this.#inner = inner;
    this.#now = options.now ?? Date.now;
    this.#limits = options.limits ?? {};
  }

  acquire(operationId: OperationId, signal?: AbortSignal, priority?: Priority): Promise<number> {
    const limit = this.#limits[operationId];
    const askedAt = this.#now();
    const granted = this.#inner.acquire(operationId, signal, priority ?? currentPriority());
    if (!archiveScope.getStore() || !limit || limit.limit <= 0) return granted;
    return granted.then((grantedAt) => {
      // A grant is not a call: the document's span (first to last call) stays as it is.
      const waits = mapEntry(this.#run(false).archiveWaits, operationId, () => ({
        acquired: 0,
        waited: 0,
      }));
      waits.acquired++;
      const waitedMs = this.#now() - askedAt;
      if (waitedMs >= Math.max(MIN_WAIT_MS, (WAITED_SPACING_SHARE * limit.windowMs) / limit.limit))
        waits.waited++;
      return grantedAt;
    });
  }

  observe(operationId: OperationId, feedback: RateFeedback): void {
    if (!feedback.lost) {
      const throttled = feedback.status === 429 ? 1 : 0;
      add(this.#calls, operationId, throttled);
      const run = this.#run();
      add(run.calls, operationId, throttled);
      if (archiveScope.getStore()) add(run.archiveCalls, operationId, throttled);
    }
    this.#inner.observe(operationId, feedback);
  }

  #run(touch = true): RunCounts {
    const runId = currentRun() ?? UNSCOPED;
    const now = this.#now();
    let run = this.#runs.get(runId);
    if (!run) {
      run = {
        from: now,
        to: now,
        calls: new Map(),
        archiveCalls: new Map(),
        archiveWaits: new Map(),
        archived: 0,
      };
      this.#runs.set(runId, run);
    }
    if (touch) run.to = now;
    return run;
  }

  /**
   * Runs one archive job (inside its run's scope): its calls are counted as archive calls too, and
   * the conversation as archived when the job calls `archived` (once, when its commit made the
   * archive, before the job's later steps: one of those failing after it must not leave the calls
   * counted and the conversation not, for the redelivery finds it archived already). A job that
   * fails or finds the conversation archived counts its calls and no conversation: the cost of a
   * retry is part of what archiving costs.
   */
  async archiveJob<T>(work: (archived: () => void) => Promise<T>): Promise<T> {
    let counted = false;
    return archiveScope.run(true, () =>
      work(() => {
        if (counted) return;
        counted = true;
        this.#run().archived++;
      }),
    );
  }

  /** True when calls were made outside any run's scope since the last take. */
  hasUnscoped(): boolean {
    return this.#runs.has(UNSCOPED);
  }

  /** What was counted since the last publish, by operation. */
  counts(): ReadonlyMap<OperationId, { answered: number; throttled: number }> {
    return new Map(this.#calls);
  }

  /** Publishes and resets the counts: two metrics per operation called, each with its `operation`. */
  publish(): void {
    for (const [operation, { answered, throttled }] of this.#calls) {
      for (const [name, value] of [
        [METRIC.amigoCalls, answered],
        [METRIC.amigoThrottled, throttled],
      ] as const) {
        // A single-metric instance publishes on addMetric and then forgets its dimensions: one each.
        const single = metrics.singleMetric();
        single.addDimension('operation', operation);
        single.addMetric(name, MetricUnit.Count, value);
      }
    }
    this.#calls.clear();
  }

  /** Counts the calls made outside any run's scope so far as `runId`'s (the scheduler's own run). */
  claimUnscoped(runId: string | undefined): void {
    const unscoped = this.#runs.get(UNSCOPED);
    if (!runId || !unscoped) return;
    this.#runs.delete(UNSCOPED);
    const run = this.#runs.get(runId);
    if (!run) {
      this.#runs.set(runId, unscoped);
      return;
    }
    run.from = Math.min(run.from, unscoped.from);
    run.to = Math.max(run.to, unscoped.to);
    merge(run.calls, unscoped.calls);
    merge(run.archiveCalls, unscoped.archiveCalls);
    merge(run.archiveWaits, unscoped.archiveWaits);
    run.archived += unscoped.archived;
  }

  /**
   * The usage documents of every run counted since the last take, then forgets them. Calls that no
   * run claimed (a stall-only scan, its stall jobs) go to `unscopedRunId` when given, in a document
   * of their own marked `between_runs`: they take part of the budget the backlog drains on, so the
   * next outlook reads them with that run's documents, but they are not that run's calls (its
   * record and the QA report leave them out). Without it they are dropped (`rules apply`), or with
   * `keepUnscoped` kept for a later `claimUnscoped` (a write while the scheduler runs, in the week bench).
   */
  takeRunUsage(
    source: string,
    limits: UsageLimits,
    options: { unscopedRunId?: string; keepUnscoped?: boolean } = {},
  ): RunUsage[] {
    const out: RunUsage[] = [];
    for (const [runId, run] of this.#runs) {
      if (runId !== UNSCOPED) out.push(usageDocument(runId, run, source, limits, false));
      else if (options.unscopedRunId)
        out.push(usageDocument(options.unscopedRunId, run, source, limits, true));
    }
    const unscoped = this.#runs.get(UNSCOPED);
    this.#runs.clear();
    if (unscoped && options.keepUnscoped && !options.unscopedRunId) this.#runs.set(UNSCOPED, unscoped);
    return out;
  }
}

function usageDocument(
  runId: string,
  run: RunCounts,
  source: string,
  limits: UsageLimits,
  betweenRuns: boolean,
): RunUsage {
  const calls: RunUsage['calls'] = {};
  const archiveCalls: NonNullable<RunUsage['archive_calls']> = {};
  const usedLimits: RunUsage['limits'] = {};
  const archiveWaits: NonNullable<RunUsage['archive_waits']> = {};
  for (const [op, w] of [...run.archiveWaits].sort(([a], [b]) => a.localeCompare(b)))
    archiveWaits[op] = { ...w };
  for (const [op, c] of [...run.calls].sort(([a], [b]) => a.localeCompare(b))) {
    calls[op] = { ...c };
    const archive = run.archiveCalls.get(op);
    if (archive) archiveCalls[op] = { ...archive };
  }
  for (const op of [...run.calls.keys(), ...run.archiveWaits.keys()].sort()) {
    const limit = limits[op];
    if (limit) usedLimits[op] = { limit: limit.limit, window_ms: limit.windowMs };
  }
  return {
    schema: 'amigo-qa/run-usage',
    schema_version: 1,
    run_id: runId,
    source,
    from: new Date(run.from).toISOString(),
    to: new Date(run.to).toISOString(),
    calls,
    limits: usedLimits,
    archive_calls: archiveCalls,
    ...(run.archiveWaits.size > 0 ? { archive_waits: archiveWaits } : {}),
    archived: run.archived,
    ...(betweenRuns ? { between_runs: true } : {}),
  };
}

/** Adds `from`'s counts into `into`'s, operation by operation, field by field. */
function merge<C extends Counts | Waits>(into: Map<OperationId, C>, from: ReadonlyMap<OperationId, C>): void {
  for (const [op, c] of from) {
    const counts = into.get(op);
    if (!counts) {
      into.set(op, { ...c });
      continue;
    }
    for (const key of Object.keys(c) as Array<keyof C>) (counts[key] as number) += c[key] as number;
  }
}

function mapEntry<V>(map: Map<OperationId, V>, op: OperationId, create: () => V): V {
  let value = map.get(op);
  if (value === undefined) {
    value = create();
    map.set(op, value);
  }
  return value;
}

function add(map: Map<OperationId, Counts>, op: OperationId, throttled: number): void {
  const counts = map.get(op) ?? { answered: 0, throttled: 0 };
  counts.answered++;
  counts.throttled += throttled;
  map.set(op, counts);
}
