// Stall worker: SQS batch of stall jobs -> at most one recommend-responses call per stalled
// interaction, recorded under stalled/ (shared/stages/request-recommendation.ts). Partial batch
// failures report only the records that should come back.
import type { SQSRecord } from 'aws-lambda';
import type { TagSpec } from '../../shared/config/pipeline-config.ts';
import { logger, METRIC, metrics } from '../../shared/observability.ts';
import type { AmigoApi } from '../../shared/ports/amigo-api.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { DeadLetters } from '../../shared/ports/dead-letters.ts';
import type { JobQueue } from '../../shared/ports/job-queue.ts';
import { lambdaStallWorkerDeps } from '../../shared/runtime/lambda.ts';
import { sqsBatchHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import { type PutBack, runJobRecord } from '../../shared/stages/job-record.ts';
import {
  type RecommendationOutcome,
  requestRecommendation,
} from '../../shared/stages/request-recommendation.ts';
import { type StallJobMessage, StallJobSchema, stallJobId } from '../../shared/stall/jobs.ts';

export interface StallWorkerDeps {
  /** Told when a job is put back to wait for Amigo (the local runner shows it). */
  readonly onPutBack?: (putBack: PutBack) => void;
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
  readonly amigo: Pick<AmigoApi, 'recommendResponses' | 'modifyTags'>;
  readonly store: ArchiveStore;
  readonly clock: Clock;
  /** This worker's own queue, for putting throttled jobs back. */
  readonly jobs: JobQueue<StallJobMessage>;
  readonly deadLetters: DeadLetters;
  readonly maxReceiveCount: number;
  /** `stall.contexts`: service id -> context text. */
  readonly contexts: Readonly<Record<string, string>>;
  /** `stall.tag`; null: no tag. */
  readonly tag: TagSpec | null;
  /** Delay range for jobs put back after throttling or maintenance. @default [300, 900] */
  readonly deferralSeconds?: readonly [number, number];
  /** Told every handled interaction's outcome (the local runner's summary). */
  readonly onOutcome?: (outcome: RecommendationOutcome) => void;
}

export function createStallWorkerHandler(getDeps: () => Promise<StallWorkerDeps>) {
  const tracked = trackDeps(getDeps);
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    const deps = await tracked.get();
    await runJobRecord(
      record,
      {
        schema: StallJobSchema,
        deadLetters: deps.deadLetters,
        maxReceiveCount: deps.maxReceiveCount,
        ...(deps.deferralSeconds ? { deferralSeconds: deps.deferralSeconds } : {}),
        ...(deps.onPutBack ? { onPutBack: deps.onPutBack } : {}),
        requeue: async (job, delaySeconds) => {
          const { failed } = await deps.jobs.send([
            { id: stallJobId(job.conversationId, job.interactionId), body: job, delaySeconds },
          ]);
          if (failed.length > 0) throw new Error(`Could not put the job back: ${failed[0]?.reason}`);
        },
        onDeadLetter: async (job, reason) => {
          logger.error('Stall job dead-lettered', {
            conversationId: job.conversationId,
            interactionId: job.interactionId,
            code: reason.code,
          });
        },
      },
      async (job) => {
        logger.appendKeys({
          conversationId: job.conversationId,
          interactionId: job.interactionId,
          runId: job.runId ?? undefined,
        });
        try {
          const outcome = await requestRecommendation(job, {
            amigo: deps.amigo,
            store: deps.store,
            clock: deps.clock,
            contexts: deps.contexts,
            tag: deps.tag,
          });
          deps.onOutcome?.(outcome);
          // Requested: calls Amigo answered (recommended or 400); rejected: the 400s among them.
          if (outcome.status !== 'already-requested') {
            metrics.addMetric(METRIC.recommendationsRequested, 'Count', 1);
          }
          if (outcome.status === 'rejected') metrics.addMetric(METRIC.recommendationsRejected, 'Count', 1);
          logger.info('Stalled interaction handled', {
            status: outcome.status,
            responses: outcome.record?.recommended_responses.length,
            tag: outcome.record?.tag?.status,
          });
        } finally {
          logger.removeKeys(['conversationId', 'interactionId', 'runId']);
        }
      },
    );
  };

  return sqsBatchHandler(recordHandler, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createStallWorkerHandler(lambdaStallWorkerDeps);
