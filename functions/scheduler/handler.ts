// Scheduler: started nightly by EventBridge, or by its own hand-over message on the continuation
// queue when the listing outgrew one invocation.
import type { Context, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { ConfigurationError, redactText } from '../../shared/errors.ts';
import {
  type ArchiveJobMessage,
  type ContinueListingMessage,
  ContinueListingSchema,
} from '../../shared/jobs.ts';
import { logger, METRIC, metrics } from '../../shared/observability.ts';
import type { AmigoApi } from '../../shared/ports/amigo-api.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { JobQueue } from '../../shared/ports/job-queue.ts';
import { lambdaSchedulerDeps } from '../../shared/runtime/lambda.ts';
import { lambdaHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import { type FindStallsCounts, findStalls } from '../../shared/stages/find-stalls.ts';
import {
  type ScheduleOptions,
  type ScheduleResult,
  scheduleArchive,
} from '../../shared/stages/schedule-archive.ts';
import type { StallJobMessage } from '../../shared/stall/jobs.ts';

export interface SchedulerDeps {
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
  readonly amigo: Pick<AmigoApi, 'conversationPages'>;
  readonly store: ArchiveStore;
  readonly jobs: JobQueue<ArchiveJobMessage>;
  readonly continuation: JobQueue<ContinueListingMessage>;
  readonly clock: Clock;
  readonly options: ScheduleOptions;
  /** Stall detection, run after the archive listing on scheduled starts; absent: off. */
  readonly stalls?: {
    readonly amigo: Pick<AmigoApi, 'conversationPages' | 'messages'>;
    readonly jobs: JobQueue<StallJobMessage>;
    readonly afterMs: number;
  };
}

export interface SchedulerOutput {
  readonly archive: ScheduleResult[];
  readonly stalls?: FindStallsCounts;
}

/**
 * A scheduled start (EventBridge Scheduler, or `aws lambda invoke` by hand) lists for the archive
 * and then looks for stalled interactions; `tasks` narrows that (the frequent stall-only
 * schedule sends ["stalls"]), `since` backfills. Other fields (an EventBridge envelope) are ignored.
 */
export const SchedulerInvokeSchema = z.looseObject({
  tasks: z
    .array(z.enum(['archive', 'stalls']))
    .min(1)
    .optional(),
  since: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
});
export type SchedulerInvoke = z.infer<typeof SchedulerInvokeSchema>;
export type SchedulerEvent = SQSEvent | SchedulerInvoke;

function parseInvoke(event: unknown): SchedulerInvoke {
  const parsed = SchedulerInvokeSchema.safeParse(event ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigurationError(
    `event.${issue?.path.join('.') || '(root)'}`,
    issue?.message ?? 'is invalid',
    'Invoke with {"tasks": ["archive", "stalls"]}, {"tasks": ["stalls"]} or {"since": "2026-01-15"}',
  );
}

function isSqs(event: SchedulerEvent): event is SQSEvent {
  return Array.isArray((event as SQSEvent).Records);
}

export function createSchedulerHandler(getDeps: () => Promise<SchedulerDeps>) {
  const tracked = trackDeps(getDeps);
  return lambdaHandler(async (event: SchedulerEvent, context: Context): Promise<SchedulerOutput> => {
    const deps = await tracked.get();
    const invoke = isSqs(event) ? undefined : parseInvoke(event);
    const run = (resume?: ContinueListingMessage, since?: string) =>
      scheduleArchive(
        { ...deps.options, ...(since ? { since } : {}) },
        { ...deps, remainingTimeMs: () => context.getRemainingTimeInMillis() },
        resume,
      );
    const results: ScheduleResult[] = [];
    if (isSqs(event)) {
      // Hand-overs arrive one per message; a malformed one is a bug, not data: fail loudly so it
      // lands in the continuation queue's dead-letter queue.
      for (const record of event.Records) {
        const resume = ContinueListingSchema.parse(JSON.parse(record.body));
        logger.appendKeys({ runId: resume.runId });
        results.push(await run(resume));
      }
    }
    let stalls: FindStallsCounts | undefined;
    // A hand-over's last invocation finishes the listing and then looks for stalls.
    const tasks = invoke ? (invoke.tasks ?? ['archive', 'stalls']) : ['stalls'];
    if (invoke && tasks.includes('archive')) results.push(await run(undefined, invoke.since));
    // Stall detection never puts the archive run at risk: it runs only when the listing finished
    // in this invocation (not while a hand-over continues it), stops in time, and its failure
    // is logged, not thrown (the archive jobs are already out and the watermark moved).
    const listingDone = results.every((r) => r.status === 'listed');
    if (tasks.includes('stalls') && deps.stalls && listingDone) {
      try {
        stalls = await findStalls(
          {
            organizationId: deps.options.organizationId,
            afterMs: deps.stalls.afterMs,
            ...(deps.options.serviceIds ? { serviceIds: deps.options.serviceIds } : {}),
            runId: results[0]?.runId ?? null,
          },
          {
            amigo: deps.stalls.amigo,
            store: deps.store,
            jobs: deps.stalls.jobs,
            clock: deps.clock,
            remainingTimeMs: () => context.getRemainingTimeInMillis(),
          },
        );
        metrics.addMetric(METRIC.stallsEnqueued, 'Count', stalls.enqueued);
        logger.info('Stall detection done', { ...stalls });
      } catch (error) {
        metrics.addMetric(METRIC.stallScanFailures, 'Count', 1);
        logger.error('Stall detection failed; the next scan tries again', {
          error: error instanceof Error ? error.name : 'unknown',
          // `reason`, not `message`: Powertools reserves `message` and drops it.
          reason: error instanceof Error ? redactText(error.message) : undefined,
        });
      }
    }
    for (const result of results) {
      metrics.addMetric(METRIC.enqueued, 'Count', result.counts.enqueued);
      if (result.status === 'listed') metrics.addMetric(METRIC.listingsCompleted, 'Count', 1);
      logger.info('Scheduler invocation done', {
        runId: result.runId,
        status: result.status,
        ...result.counts,
      });
    }
    return { archive: results, ...(stalls ? { stalls } : {}) };
  }, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createSchedulerHandler(lambdaSchedulerDeps);
