// Scheduler: started nightly by EventBridge, or by its own hand-over message on the continuation
// queue when the listing outgrew one invocation.
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent, SQSEvent } from 'aws-lambda';
import {
  type ArchiveJobMessage,
  type ContinueListingMessage,
  ContinueListingSchema,
} from '../../shared/jobs.ts';
import { logger, METRIC, metrics, tracer } from '../../shared/observability.ts';
import type { AmigoApi } from '../../shared/ports/amigo-api.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { JobQueue } from '../../shared/ports/job-queue.ts';
import { lambdaSchedulerDeps } from '../../shared/runtime/lambda.ts';
import {
  type ScheduleOptions,
  type ScheduleResult,
  scheduleArchive,
} from '../../shared/stages/schedule-archive.ts';

export interface SchedulerDeps {
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
  readonly amigo: Pick<AmigoApi, 'conversationPages'>;
  readonly store: ArchiveStore;
  readonly jobs: JobQueue<ArchiveJobMessage>;
  readonly continuation: JobQueue<ContinueListingMessage>;
  readonly clock: Clock;
  readonly options: ScheduleOptions;
}

/** A manual start may carry `since` to backfill (e.g. from the CLI or a console test event). */
export type SchedulerEvent = SQSEvent | (Partial<ScheduledEvent> & { since?: string });

function isSqs(event: SchedulerEvent): event is SQSEvent {
  return Array.isArray((event as SQSEvent).Records);
}

export function createSchedulerHandler(getDeps: () => Promise<SchedulerDeps>) {
  return middy(async (event: SchedulerEvent, context: Context): Promise<ScheduleResult[]> => {
    const deps = await getDeps();
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
    } else {
      results.push(await run(undefined, (event as { since?: string }).since));
    }
    for (const result of results) {
      metrics.addMetric(METRIC.enqueued, 'Count', result.counts.enqueued);
      logger.info('Scheduler invocation done', {
        runId: result.runId,
        status: result.status,
        ...result.counts,
      });
    }
    return results;
  })
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use({
      after: async () => {
        await (await getDeps()).afterInvocation?.();
      },
      onError: async () => {
        await (await getDeps()).afterInvocation?.();
      },
    });
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createSchedulerHandler(lambdaSchedulerDeps);
