// One scheduler invocation: the archive listing (new, or continued from a hand-over) and then the
// stall scan, in that order. The scan never puts the archive run at risk: it runs only when the
// listing finished in this invocation (not while a hand-over continues it), stops in time, and a
// failure is reported in the output, logged and counted, not thrown (the archive jobs are already
// out and the watermark moved; the next scan tries again).
import { CATCH_UP_NEVER_HOURS, METRIC } from '../contract/metric-names.ts';
import type { ContinueListingMessage } from '../jobs/archive.ts';
import type { SchedulerTask } from '../jobs/scheduler.ts';
import type { StallJobMessage } from '../jobs/stall.ts';
import type { AmigoApi } from '../ports/amigo-api.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Telemetry } from '../ports/telemetry.ts';
import { emptyStallCounts, type FindStallsCounts, findStalls } from './find-stalls.ts';
import { type FailureReason, failureReason } from './job-fate.ts';
import {
  type ScheduleDeps,
  type ScheduleOptions,
  type ScheduleResult,
  scheduleArchive,
} from './schedule-archive.ts';

export interface SchedulerDeps
  extends Pick<ScheduleDeps, 'amigo' | 'store' | 'jobs' | 'continuation' | 'clock'> {
  readonly options: ScheduleOptions;
  /** Stall detection, run after the archive listing on scheduled starts; absent: off. */
  readonly stalls?: {
    readonly amigo: Pick<AmigoApi, 'conversationPages' | 'messages'>;
    readonly jobs: JobQueue<StallJobMessage>;
    readonly afterMs: number;
  };
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
}

/** Why the scheduler runs: a hand-over from its previous invocation, or a (scheduled) invocation. */
export type SchedulerStart =
  | { readonly kind: 'hand-over'; readonly resumes: readonly ContinueListingMessage[] }
  | {
      readonly kind: 'invoke';
      readonly tasks: readonly SchedulerTask[];
      readonly since?: string | undefined;
      /** List back this far instead of the configured lookback (the hourly runs). */
      readonly lookbackMs?: number | undefined;
    };

export interface SchedulerOutput {
  readonly archive: ScheduleResult[];
  /** The stall scan's counts; when it failed, what it had read and sent before. */
  readonly stalls?: FindStallsCounts;
  /** The stall scan failed (after the listing); the next scan tries again. */
  readonly stallScanFailed?: FailureReason;
}

export async function runScheduler(
  start: SchedulerStart,
  deps: SchedulerDeps & { readonly telemetry: Telemetry; readonly remainingTimeMs: () => number },
): Promise<SchedulerOutput> {
  const { log, metrics } = deps.telemetry;
  const list = (resume?: ContinueListingMessage, since?: string, listLookbackMs?: number) =>
    scheduleArchive(
      { ...deps.options, ...(since ? { since } : {}), ...(listLookbackMs ? { listLookbackMs } : {}) },
      deps,
      resume,
    );
  const archive: ScheduleResult[] = [];
  if (start.kind === 'hand-over') {
    for (const resume of start.resumes) archive.push(await list(resume));
  } else if (start.tasks.includes('archive')) {
    archive.push(await list(undefined, start.since, start.lookbackMs));
  }
  // A hand-over's last invocation finishes the listing and then looks for stalls.
  const scan = start.kind === 'hand-over' || start.tasks.includes('stalls');
  const listingDone = archive.every((r) => r.status === 'listed');
  let stalls: FindStallsCounts | undefined;
  let stallScanFailed: FailureReason | undefined;
  if (scan && deps.stalls && listingDone) {
    // Filled as the scan goes: a scan that fails still reports what it read and sent before.
    const progress = emptyStallCounts();
    try {
      stalls = await findStalls(
        {
          organizationId: deps.options.organizationId,
          afterMs: deps.stalls.afterMs,
          ...(deps.options.serviceIds ? { serviceIds: deps.options.serviceIds } : {}),
          runId: archive[0]?.runId ?? null,
        },
        { ...deps.stalls, store: deps.store, clock: deps.clock, log, remainingTimeMs: deps.remainingTimeMs },
        progress,
      );
      log.info('Stall detection done', { ...stalls });
    } catch (error) {
      stalls = progress;
      stallScanFailed = failureReason(error);
      metrics.addMetric(METRIC.stallScanFailures, 'Count', 1);
      // `reason`, not `message`: Powertools reserves `message` and drops it.
      log.error('Stall detection failed; the next scan tries again', {
        error: stallScanFailed.code,
        reason: stallScanFailed.message,
        ...progress,
      });
    }
    metrics.addMetric(METRIC.stallsEnqueued, 'Count', progress.enqueued);
  }
  for (const result of archive) {
    if (result.status === 'listed') reportOutlook(result, deps.telemetry);
    metrics.addMetric(METRIC.enqueued, 'Count', result.counts.enqueued);
    // The freshness alarm's heartbeat: only the full-lookback listing, so hourly runs cannot hide a
    // nightly run that fails every night (the only run that finds conversations open for days).
    if (result.status === 'listed' && result.fullLookback)
      metrics.addMetric(METRIC.listingsCompleted, 'Count', 1);
    log.info('Scheduler invocation done', { runId: result.runId, status: result.status, ...result.counts });
  }
  return { archive, ...(stalls ? { stalls } : {}), ...(stallScanFailed ? { stallScanFailed } : {}) };
}

/** One log line and the outlook's metrics: what an operator should learn from us, not a dashboard. */
export function reportOutlook(
  result: Extract<ScheduleResult, { status: 'listed' }>,
  telemetry: Telemetry,
): void {
  const { log, metrics } = telemetry;
  const outlook = result.outlook;
  if (!outlook) {
    if (result.outlookError)
      log.warn('Budget outlook not taken', { runId: result.runId, reason: result.outlookError });
    return;
  }
  const shares = Object.fromEntries(
    Object.entries(outlook.operations).map(([op, o]) => [op, o.budget_share]),
  );
  log.info('Budget outlook', {
    runId: result.runId,
    periodHours: outlook.period_hours,
    budgetShare: shares,
    bottleneck: outlook.bottleneck,
    backlog: outlook.backlog,
    oldestWaitingSince: outlook.oldest_waiting_since,
    catchUp: outlook.catch_up,
    catchUpHours: outlook.catch_up_hours,
    // Under 24: the estimate has not seen a whole day of arrivals (office hours may be to come).
    arrivalsHours: outlook.arrivals_hours,
  });
  metrics.addMetric(METRIC.backlog, 'Count', outlook.backlog);
  if (outlook.catch_up !== 'unknown')
    metrics.addMetric(METRIC.catchUpHours, 'None', outlook.catch_up_hours ?? CATCH_UP_NEVER_HOURS);
  for (const [operation, share] of Object.entries(shares)) {
    const single = metrics.singleMetric?.();
    if (!single) break;
    single.addDimension('operation', operation);
    single.addMetric(METRIC.budgetUsedShare, 'None', share);
  }
}
