// Archive worker: SQS batch of archive jobs -> one archived conversation each. Partial batch
// failures report only the records that should come back.
import type { Context, SQSRecord } from 'aws-lambda';
import { clearPending, recordPendingFailure } from '../../shared/archive/pending.ts';
import { writeOutcome } from '../../shared/archive/state.ts';
import { type ArchiveJobMessage, ArchiveJobSchema, archiveJobId } from '../../shared/jobs.ts';
import { logger, METRIC, metrics } from '../../shared/observability.ts';
import type { AmigoApi } from '../../shared/ports/amigo-api.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { DeadLetters } from '../../shared/ports/dead-letters.ts';
import type { JobQueue } from '../../shared/ports/job-queue.ts';
import { lambdaArchiveWorkerDeps } from '../../shared/runtime/lambda.ts';
import { sqsBatchHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import { archiveConversation } from '../../shared/stages/archive-conversation.ts';
import { type PutBack, runJobRecord } from '../../shared/stages/job-record.ts';
import { type TagJobMessage, tagJobId } from '../../shared/tags/jobs.ts';

export interface ArchiveWorkerDeps {
  /** Told when a job is put back to wait for Amigo (the local runner shows it). */
  readonly onPutBack?: (putBack: PutBack) => void;
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
  /** Where to send each archived conversation for tagging; absent: no rules configured. */
  readonly tagJobs?: JobQueue<TagJobMessage>;
  readonly amigo: AmigoApi;
  readonly store: ArchiveStore;
  readonly clock: Clock;
  /** This worker's own queue, for putting throttled jobs back. */
  readonly jobs: JobQueue<ArchiveJobMessage>;
  readonly deadLetters: DeadLetters;
  readonly maxReceiveCount: number;
  readonly strict: boolean;
  readonly insightsConcurrency: number;
  readonly audio: boolean;
  /** Delay range for jobs put back after throttling or maintenance. @default [300, 900] */
  readonly deferralSeconds?: readonly [number, number];
}

export function createArchiveWorkerHandler(getDeps: () => Promise<ArchiveWorkerDeps>) {
  const tracked = trackDeps(getDeps);
  const recordHandler = async (record: SQSRecord, context?: Context): Promise<void> => {
    const deps = await tracked.get();
    // Stop before Lambda does, so a slow conversation fails cleanly (and is delivered again)
    // instead of running on in a frozen container.
    const remaining = context?.getRemainingTimeInMillis();
    const signal =
      remaining === undefined ? undefined : AbortSignal.timeout(Math.max(1_000, remaining - 10_000));
    await runJobRecord(
      record,
      {
        schema: ArchiveJobSchema,
        deadLetters: deps.deadLetters,
        maxReceiveCount: deps.maxReceiveCount,
        ...(deps.deferralSeconds ? { deferralSeconds: deps.deferralSeconds } : {}),
        ...(deps.onPutBack ? { onPutBack: deps.onPutBack } : {}),
        requeue: async (job, delaySeconds) => {
          const { failed } = await deps.jobs.send([
            { id: archiveJobId(job.conversationId), body: job, delaySeconds },
          ]);
          if (failed.length > 0) throw new Error(`Could not put the job back: ${failed[0]?.reason}`);
        },
        onDeadLetter: async (job, reason) => {
          metrics.addMetric(METRIC.archiveFailed, 'Count', 1);
          // The marker keeps the conversation (and why it failed) for the next run.
          await recordPendingFailure(
            deps.store,
            job.organizationId,
            job.conversation,
            {
              code: reason.code,
              reason: reason.message,
              at: new Date(deps.clock.now()).toISOString(),
              run_id: job.runId,
            },
            deps.clock.now(),
          );
          if (job.runId) {
            await writeOutcome(deps.store, job.runId, {
              conversation_id: job.conversationId,
              status: 'failed',
              reason: `${reason.code}: ${reason.message}`,
              at: new Date(deps.clock.now()).toISOString(),
            });
          }
        },
      },
      async (job) => {
        logger.appendKeys({ conversationId: job.conversationId, runId: job.runId ?? undefined });
        const outcome = await archiveConversation(job, {
          amigo: deps.amigo,
          store: deps.store,
          clock: deps.clock,
          strict: deps.strict,
          insightsConcurrency: deps.insightsConcurrency,
          audio: deps.audio,
          ...(signal ? { signal } : {}),
        });
        const manifest = outcome.status === 'archived' ? outcome.manifest : undefined;
        const audioBytes =
          manifest?.files.filter((f) => f.path.startsWith('audio/')).reduce((n, f) => n + f.bytes, 0) ?? 0;
        if (outcome.status === 'archived') {
          metrics.addMetric(METRIC.archived, 'Count', 1);
          metrics.addMetric(METRIC.audioBytes, 'Bytes', audioBytes);
          if (manifest?.flags.includes('num_messages_mismatch')) {
            metrics.addMetric(METRIC.numMessagesMismatch, 'Count', 1);
            logger.warn('Archived message count differs from num_messages', {
              archived: manifest.counts.messages,
              numMessages: manifest.api.num_messages,
            });
          }
        } else metrics.addMetric(METRIC.alreadyArchived, 'Count', 1);
        if (job.runId) {
          await writeOutcome(deps.store, job.runId, {
            conversation_id: job.conversationId,
            status: outcome.status,
            duplicate: outcome.status === 'archived' ? outcome.duplicate : undefined,
            flags: manifest?.flags,
            audio_bytes: audioBytes,
            at: new Date(deps.clock.now()).toISOString(),
          });
        }
        if (deps.tagJobs) {
          // Also after 'already-archived': an earlier delivery may have stopped before this send.
          const { failed } = await deps.tagJobs.send([
            {
              id: tagJobId(job.conversationId),
              body: {
                kind: 'tag',
                v: 1,
                runId: job.runId,
                organizationId: job.organizationId,
                conversationId: job.conversationId,
                createdAt: job.conversation.created_at,
                deferrals: 0,
              },
            },
          ]);
          if (failed.length > 0) throw new Error(`Could not enqueue the tag job: ${failed[0]?.reason}`);
        }
        // Archived and on its way to tagging: nothing is pending for it any more. A marker left by a
        // stop before this line brings the job back with the next run, which sends the tag job again.
        await clearPending(deps.store, job.organizationId, job.conversationId);
        logger.info('Conversation archived', { status: outcome.status, messages: manifest?.counts.messages });
        logger.removeKeys(['conversationId', 'runId']);
      },
    );
  };

  return sqsBatchHandler(recordHandler, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createArchiveWorkerHandler(lambdaArchiveWorkerDeps);
