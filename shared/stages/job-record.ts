// What happens to one queued job whatever the worker: parse it (a bad body goes to the dead-letter
// queue with the field and the problem), run it, and on failure decide between three fates.
// - Amigo throttled it (429) or is in maintenance (503): put it back as a new message, visible when
//   Amigo said it would answer again (Retry-After, with a little jitter) or, when it did not say,
//   after an exponential backoff from 30 s; at most SQS's 900 s. Waiting on Amigo never uses up
//   the job's receive count.
// - The work ran out of time but moved forward (ContinueLaterError): continue in a new delivery now.
// - A permanent error, or the last allowed receive: dead-letter it with its reason.
// - Anything else: fail the record; SQS delivers it again after the visibility timeout.
import type { SQSRecord } from 'aws-lambda';
import type * as z from 'zod';
import { AmigoUnavailableError } from '../amigo/errors.ts';
import { AmigoQaError, ContinueLaterError, redactText } from '../errors.ts';
import { logger, METRIC, metrics } from '../observability.ts';
import type { DeadLetters } from '../ports/dead-letters.ts';

export interface JobRecordDeps<J> {
  readonly schema: z.ZodType<J, unknown>;
  readonly deadLetters: DeadLetters;
  /** Sends the job again, visible after `delaySeconds`. */
  readonly requeue: (job: J & { deferrals: number }, delaySeconds: number) => Promise<void>;
  /** The queue's redrive maxReceiveCount: the receive that reaches it is the last. */
  readonly maxReceiveCount: number;
  /** @default 48 (with the backoff reaching 7.5-15 minutes: about half a day of throttling) */
  readonly maxDeferrals?: number;
  /** Tests: the delay of a put-back job, drawn uniformly from this range instead. */
  readonly deferralSeconds?: readonly [number, number];
  /** Told when a job is put back, with its delay and why (the local runner shows what it waits for). */
  readonly onPutBack?: (putBack: PutBack) => void;
  readonly random?: () => number;
  /** Told when a parsed job is dead-lettered (the archive worker records it in the run). */
  readonly onDeadLetter?: (job: J, reason: { code: string; message: string }) => Promise<void>;
  /**
   * Deliveries a job may continue in (ContinueLaterError with progress) before it counts as failed.
   * @default 50 (a conversation of 2,000 interactions needs about 11 at Amigo's insights limit)
   */
  readonly maxContinuations?: number;
}

export type JobFate = 'done' | 'deferred' | 'continued' | 'dead-lettered';

export interface PutBack {
  readonly delaySeconds: number;
  /** 429 or 503. */
  readonly status: number | undefined;
  readonly operationId: string;
  /** What Amigo asked for (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
}

/** SQS's longest message delay. */
export const MAX_DELAY_SECONDS = 900;

/**
 * When a put-back job should come back: never sooner than Amigo asked (Retry-After), plus up to a
 * fifth more so that jobs put back together do not all return at once; without an answer, an
 * exponential backoff from 30 s (30, 60, 120, ... 900), drawn from its upper half. At most 900 s.
 */
export function putBackDelaySeconds(
  retryAfterMs: number | undefined,
  deferrals: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    const asked = Math.ceil(retryAfterMs / 1000);
    return Math.min(MAX_DELAY_SECONDS, asked + Math.floor(random() * (Math.ceil(asked / 5) + 1)));
  }
  const ceiling = Math.min(MAX_DELAY_SECONDS, 30 * 2 ** Math.min(deferrals, 5));
  return Math.min(MAX_DELAY_SECONDS, Math.ceil(ceiling / 2 + (random() * ceiling) / 2));
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof AmigoQaError) return { code: error.name, message: error.message };
  if (error instanceof Error) return { code: error.name, message: redactText(error.message) };
  return { code: 'Unknown', message: 'non-error thrown' };
}

export async function runJobRecord<J extends { deferrals: number; continuations?: number }>(
  record: SQSRecord,
  deps: JobRecordDeps<J>,
  work: (job: J) => Promise<void>,
): Promise<JobFate> {
  let raw: unknown;
  try {
    raw = JSON.parse(record.body);
  } catch {
    await deadLetter(deps, record, { code: 'InvalidJob', message: 'The message body is not JSON' });
    return 'dead-lettered';
  }
  const parsed = deps.schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    await deadLetter(deps, record, {
      code: 'InvalidJob',
      message: `Field ${path}: ${issue?.message ?? 'invalid'}. The job was not written by this version of amigo-qa's scheduler`,
    });
    return 'dead-lettered';
  }
  const job = parsed.data;
  try {
    await work(job);
    return 'done';
  } catch (error) {
    const continuations = job.continuations ?? 0;
    if (
      error instanceof ContinueLaterError &&
      error.progressed &&
      continuations < (deps.maxContinuations ?? 50)
    ) {
      // The work moved forward and kept what it did: a new delivery continues it now.
      await deps.requeue({ ...job, continuations: continuations + 1 }, 0);
      metrics.addMetric(METRIC.continuations, 'Count', 1);
      logger.info('Time ran out; the job continues in a new delivery', {
        reason: error.message,
        continuations,
      });
      return 'continued';
    }
    const throttled =
      error instanceof AmigoUnavailableError && (error.status === 429 || error.status === 503);
    if (throttled && job.deferrals < (deps.maxDeferrals ?? 48)) {
      const random = deps.random ?? Math.random;
      const range = deps.deferralSeconds;
      const delay = range
        ? Math.min(MAX_DELAY_SECONDS, range[0] + Math.floor(random() * (range[1] - range[0] + 1)))
        : putBackDelaySeconds(error.retryAfterMs, job.deferrals, random);
      await deps.requeue({ ...job, deferrals: job.deferrals + 1 }, delay);
      const retryAfterSeconds =
        error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000);
      deps.onPutBack?.({
        delaySeconds: delay,
        status: error.status,
        operationId: error.operationId,
        retryAfterSeconds,
      });
      metrics.addMetric(METRIC.throttleDeferrals, 'Count', 1);
      logger.warn('Amigo throttled or in maintenance; job put back', {
        status: error.status,
        operationId: error.operationId,
        retryAfterSeconds,
        delaySeconds: delay,
      });
      return 'deferred';
    }
    const receives = Number(record.attributes.ApproximateReceiveCount ?? '1');
    const permanent = error instanceof AmigoQaError && !error.retryable;
    if (permanent || receives >= deps.maxReceiveCount) {
      const reason = describe(error);
      await deadLetter(deps, record, reason);
      await deps.onDeadLetter?.(job, reason);
      return 'dead-lettered';
    }
    const { code, message } = describe(error);
    // `reason`, not `message`: Powertools reserves `message` and drops it from the log line.
    logger.warn('Job failed; SQS will deliver it again', { code, reason: message, receives });
    throw error;
  }
}

async function deadLetter<J>(
  deps: JobRecordDeps<J>,
  record: SQSRecord,
  reason: { code: string; message: string },
) {
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
