// Tag worker: SQS batch of tag jobs -> the rules evaluated over each archived conversation and the
// resulting tags written back to Amigo (within the 20-tag limit), with tags.json beside the archive.
import type { SQSRecord } from 'aws-lambda';
import { logger, METRIC, metrics } from '../../shared/observability.ts';
import type { AmigoApi } from '../../shared/ports/amigo-api.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { DeadLetters } from '../../shared/ports/dead-letters.ts';
import type { JobQueue } from '../../shared/ports/job-queue.ts';
import type { RuleSet } from '../../shared/rules/index.ts';
import { lambdaTagWorkerDeps } from '../../shared/runtime/lambda.ts';
import { sqsBatchHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import { applyTags, type TagOutcome } from '../../shared/stages/apply-tags.ts';
import { type PutBack, runJobRecord } from '../../shared/stages/job-record.ts';
import { type TagJobMessage, TagJobSchema, tagJobId } from '../../shared/tags/jobs.ts';

export interface TagWorkerDeps {
  /** Told when a job is put back to wait for Amigo (the local runner shows it). */
  readonly onPutBack?: (putBack: PutBack) => void;
  readonly amigo: Pick<AmigoApi, 'modifyTags' | 'conversationPages'>;
  readonly store: ArchiveStore;
  readonly clock: Clock;
  readonly rules: RuleSet;
  readonly jobs: JobQueue<TagJobMessage>;
  readonly deadLetters: DeadLetters;
  readonly maxReceiveCount: number;
  readonly deferralSeconds?: readonly [number, number];
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
  /** Told every evaluation's outcome (the local runner's summary). */
  readonly onOutcome?: (outcome: TagOutcome) => void;
}

export function createTagWorkerHandler(getDeps: () => Promise<TagWorkerDeps>) {
  const tracked = trackDeps(getDeps);
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    const deps = await tracked.get();
    await runJobRecord(
      record,
      {
        schema: TagJobSchema,
        deadLetters: deps.deadLetters,
        maxReceiveCount: deps.maxReceiveCount,
        ...(deps.deferralSeconds ? { deferralSeconds: deps.deferralSeconds } : {}),
        ...(deps.onPutBack ? { onPutBack: deps.onPutBack } : {}),
        requeue: async (job, delaySeconds) => {
          const { failed } = await deps.jobs.send([
            { id: tagJobId(job.conversationId), body: job, delaySeconds },
          ]);
          if (failed.length > 0) throw new Error(`Could not put the job back: ${failed[0]?.reason}`);
        },
      },
      async (job) => {
        logger.appendKeys({ conversationId: job.conversationId, runId: job.runId ?? undefined });
        const outcome = await applyTags(job, {
          amigo: deps.amigo,
          store: deps.store,
          rules: deps.rules,
          clock: deps.clock,
        });
        deps.onOutcome?.(outcome);
        const matched = outcome.record.results.filter((r) => r.matched).map((r) => r.rule);
        metrics.addMetric(METRIC.tagsPosted, 'Count', outcome.status === 'posted' ? 1 : 0);
        if (outcome.record.dropped.length > 0)
          metrics.addMetric(METRIC.tagsDropped, 'Count', outcome.record.dropped.length);
        if (outcome.status === 'rejected') logger.warn('Amigo refused the tags; recorded in tags.json');
        logger.info('Rules evaluated', {
          status: outcome.status,
          matched,
          dropped: outcome.record.dropped.length,
        });
        logger.removeKeys(['conversationId', 'runId']);
      },
    );
  };

  return sqsBatchHandler(recordHandler, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createTagWorkerHandler(lambdaTagWorkerDeps);
