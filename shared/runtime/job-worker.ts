// The SQS side of every worker: one record in, its job parsed, the stage run, and the fate the
// policy decides (shared/stages/job-fate.ts) carried out on the queues, logged and counted. A
// worker's handler names its schema, job id and stage; everything else is here, once.
import type { Context, SQSRecord } from 'aws-lambda';
import type * as z from 'zod';
import { logger, METRIC, metrics, telemetry } from '../observability.ts';
import type { DeadLetters } from '../ports/dead-letters.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Priority } from '../ports/rate-budget.ts';
import type { Telemetry } from '../ports/telemetry.ts';
import {
  type FailureReason,
  type FatePolicy,
  fateOf,
  type JobCounters,
  type PutBack,
  parseJobBody,
} from '../stages/job-fate.ts';
import { sqsBatchHandler, trackDeps } from './middleware.ts';
import { withinPriority } from './priority-scope.ts';
import { withinRun } from './run-scope.ts';

export type JobFate = 'done' | 'deferred' | 'continued' | 'dead-lettered';

export interface JobRecordDeps<J> extends FatePolicy {
  readonly schema: z.ZodType<J, unknown>;
  readonly deadLetters: DeadLetters;
  /** Sends the job again, visible after `delaySeconds`. */
  readonly requeue: (job: J, delaySeconds: number) => Promise<void>;
  /** Told when a job is put back, with its delay and why (the local runner shows what it waits for). */
  readonly onPutBack?: (putBack: PutBack) => void;
  /** Told when a parsed job is dead-lettered (the archive worker records it in the run). */
  readonly onDeadLetter?: (job: J, reason: FailureReason) => Promise<void>;
  /** Log keys for every line about this job (ids only: never message text). */
  readonly logKeys?: (job: J) => Record<string, string | undefined>;
  /** The job's class at the rate budget (./priority-scope.ts). @default 'high' */
  readonly priority?: (job: J) => Priority;
}

/** Runs one record: `work` on its job, then the job's fate. Throws only when SQS should redeliver. */
export async function runJobRecord<J extends JobCounters>(
  record: SQSRecord,
  deps: JobRecordDeps<J>,
  work: (job: J) => Promise<void>,
): Promise<JobFate> {
  const parsed = parseJobBody(record.body, deps.schema);
  if (!parsed.ok) {
    await deadLetter(deps, record, parsed.reason);
    return 'dead-lettered';
  }
  const { job } = parsed;
  const keys = deps.logKeys?.(job) ?? {};
  logger.appendKeys(keys);
  try {
    // Every Amigo call the job makes is counted for its run (./metered-budget.ts).
    await withinRun((job as { runId?: string | null }).runId, () =>
      withinPriority(deps.priority?.(job) ?? 'high', () => work(job)),
    );
    return 'done';
  } catch (error) {
    const receives = Number(record.attributes.ApproximateReceiveCount ?? '1');
    const fate = fateOf(error, job, receives, deps);
    switch (fate.kind) {
      case 'continue':
        // The work moved forward and kept what it did: a new delivery continues it now.
        await deps.requeue(fate.job, 0);
        metrics.addMetric(METRIC.continuations, 'Count', 1);
        logger.info('Time ran out; the job continues in a new delivery', {
          reason: fate.reason,
          continuations: job.continuations ?? 0,
        });
        return 'continued';
      case 'put-back':
        await deps.requeue(fate.job, fate.putBack.delaySeconds);
        deps.onPutBack?.(fate.putBack);
        metrics.addMetric(METRIC.throttleDeferrals, 'Count', 1);
        logger.warn('Amigo throttled or in maintenance; job put back', { ...fate.putBack });
        return 'deferred';
      case 'dead-letter':
        await deadLetter(deps, record, fate.reason);
        await deps.onDeadLetter?.(job, fate.reason);
        return 'dead-lettered';
      case 'retry':
        // `reason`, not `message`: Powertools reserves `message` and drops it from the log line.
        logger.warn('Job failed; SQS will deliver it again', {
          code: fate.reason.code,
          reason: fate.reason.message,
          receives,
        });
        throw error;
    }
  } finally {
    logger.removeKeys(Object.keys(keys));
  }
}

async function deadLetter<J>(deps: JobRecordDeps<J>, record: SQSRecord, reason: FailureReason) {
  await deps.deadLetters.send(record.body, {
    ...reason,
    jobId: record.messageAttributes['job-id']?.stringValue ?? record.messageId,
  });
  metrics.addMetric(METRIC.deadLettered, 'Count', 1);
  logger.error('Job dead-lettered', {
    code: reason.code,
    reason: reason.message,
    messageId: record.messageId,
  });
}

/** What every worker's dependencies carry besides its stage's. */
export interface JobWorkerDeps<J> {
  /** The worker's own queue: put-backs and continuations are sent to it again. */
  readonly jobs: JobQueue<J>;
  readonly deadLetters: DeadLetters;
  readonly maxReceiveCount: number;
  /** Delay range for jobs put back after throttling or maintenance (tests). @default Retry-After */
  readonly deferralSeconds?: readonly [number, number];
  /** Told when a job is put back to wait for Amigo (the local runner shows it). */
  readonly onPutBack?: (putBack: PutBack) => void;
  /** Runs after every invocation (the shared rate budget flushes its pending writes). */
  readonly afterInvocation?: () => Promise<void>;
}

/** What a stage gets besides its job and dependencies. */
export interface JobContext {
  readonly telemetry: Telemetry;
  /** Aborts before Lambda's deadline when the worker asked for one. */
  readonly signal?: AbortSignal;
}

export interface JobWorker<J, D> {
  readonly schema: z.ZodType<J, unknown>;
  /** The queue's deduplicating id of a job (put-backs reuse it). */
  readonly jobId: (job: J) => string;
  readonly logKeys: (job: J) => Record<string, string | undefined>;
  /** The job's class at the rate budget. @default 'high' */
  readonly priority?: (job: J) => Priority;
  readonly run: (job: J, deps: D, context: JobContext) => Promise<void>;
  readonly onDeadLetter?: (job: J, reason: FailureReason, deps: D, context: JobContext) => Promise<void>;
  /**
   * Stop this long before Lambda's deadline, so a slow job fails cleanly (and is delivered again)
   * instead of running on in a frozen container. Absent: the job runs to the function's timeout.
   */
  readonly stopBeforeDeadlineMs?: number;
}

/**
 * Aborts when the invocation's remaining time falls to `marginMs`. Read every quarter second rather
 * than once, so a deadline that moves closer (the local runtime interrupted by Ctrl-C) is seen too.
 */
function deadlineSignal(context: Context, marginMs: number): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const check = () => {
    if (context.getRemainingTimeInMillis() > marginMs) return;
    controller.abort(new DOMException('The invocation is about to time out', 'TimeoutError'));
    clearInterval(timer);
  };
  const timer = setInterval(check, 250);
  timer.unref();
  check();
  return { signal: controller.signal, dispose: () => clearInterval(timer) };
}

/** An SQS-fed worker's Lambda handler: partial batch failures, deps built once per cold start. */
export function sqsJobWorker<J extends JobCounters, D extends JobWorkerDeps<J>>(
  worker: JobWorker<J, D>,
  getDeps: () => Promise<D>,
) {
  const tracked = trackDeps(getDeps);
  const handleRecord = async (record: SQSRecord, lambdaContext?: Context): Promise<void> => {
    const deps = await tracked.get();
    const margin = worker.stopBeforeDeadlineMs;
    const deadline =
      lambdaContext && margin !== undefined ? deadlineSignal(lambdaContext, margin) : undefined;
    const context: JobContext = { telemetry, ...(deadline ? { signal: deadline.signal } : {}) };
    try {
      await runJobRecord(
        record,
        {
          schema: worker.schema,
          deadLetters: deps.deadLetters,
          maxReceiveCount: deps.maxReceiveCount,
          logKeys: worker.logKeys,
          ...(worker.priority ? { priority: worker.priority } : {}),
          ...(deps.deferralSeconds ? { deferralSeconds: deps.deferralSeconds } : {}),
          ...(deps.onPutBack ? { onPutBack: deps.onPutBack } : {}),
          requeue: async (job, delaySeconds) => {
            const { failed } = await deps.jobs.send([{ id: worker.jobId(job), body: job, delaySeconds }]);
            if (failed.length > 0) throw new Error(`Could not put the job back: ${failed[0]?.reason}`);
          },
          onDeadLetter: async (job, reason) => {
            await worker.onDeadLetter?.(job, reason, deps, context);
          },
        },
        (job) => worker.run(job, deps, context),
      );
    } finally {
      deadline?.dispose();
    }
  };
  return sqsBatchHandler(handleRecord, tracked);
}
