// What becomes of one queued job whatever the worker, decided without any queue in sight (the SQS
// side lives in shared/runtime/job-worker.ts):
// - A body that is not JSON or not a job of this version: dead-letter it with the field and problem.
// - Amigo throttled it (429) or is in maintenance (503): put it back as a new message, visible when
//   Amigo said it would answer again (Retry-After, with a little jitter) or, when it did not say,
//   after an exponential backoff from 30 s; at most SQS's 900 s. Waiting on Amigo never uses up
//   the job's receive count.
// - The work ran out of time but moved forward (ContinueLaterError): continue in a new delivery now.
// - A permanent error, or the last allowed receive: dead-letter it with its reason.
// - Anything else: retry; the queue delivers it again after the visibility timeout.
import type * as z from 'zod';
import { AmigoUnavailableError } from '../amigo/errors.ts';
import { AmigoQaError, ContinueLaterError, redactText } from '../errors.ts';

/** SQS's longest message delay. */
export const MAX_DELAY_SECONDS = 900;

export interface FatePolicy {
  /** The queue's redrive maxReceiveCount: the receive that reaches it is the last. */
  readonly maxReceiveCount: number;
  /** @default 48 (with the backoff reaching 7.5-15 minutes: about half a day of throttling) */
  readonly maxDeferrals?: number;
  /**
   * Deliveries a job may continue in (ContinueLaterError with progress) before it counts as failed.
   * @default 50 (a conversation of 2,000 interactions needs about 11 at Amigo's insights limit)
   */
  readonly maxContinuations?: number;
  /** Tests: the delay of a put-back job, drawn uniformly from this range instead. */
  readonly deferralSeconds?: readonly [number, number];
  readonly random?: () => number;
}

export interface FailureReason {
  readonly code: string;
  readonly message: string;
}

export interface PutBack {
  readonly delaySeconds: number;
  /** 429 or 503. */
  readonly status: number | undefined;
  readonly operationId: string;
  /** What Amigo asked for (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
}

export interface JobCounters {
  readonly deferrals: number;
  readonly continuations?: number | undefined;
}

export type Fate<J> =
  | { readonly kind: 'continue'; readonly job: J; readonly reason: string }
  | { readonly kind: 'put-back'; readonly job: J; readonly putBack: PutBack }
  | { readonly kind: 'dead-letter'; readonly reason: FailureReason }
  | { readonly kind: 'retry'; readonly reason: FailureReason; readonly receives: number };

/** A job body read and checked; a bad one comes with the reason it is dead-lettered for. */
export function parseJobBody<J>(
  body: string,
  schema: z.ZodType<J, unknown>,
): { readonly ok: true; readonly job: J } | { readonly ok: false; readonly reason: FailureReason } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, reason: { code: 'InvalidJob', message: 'The message body is not JSON' } };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, job: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') || '(root)';
  return {
    ok: false,
    reason: {
      code: 'InvalidJob',
      message: `Field ${path}: ${issue?.message ?? 'invalid'}. The job was not written by this version of amigo-qa's scheduler`,
    },
  };
}

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

/** The code and message an operator reads for an error; secrets and ids redacted from foreign ones. */
export function failureReason(error: unknown): FailureReason {
  if (error instanceof AmigoQaError) return { code: error.name, message: error.message };
  if (error instanceof Error) return { code: error.name, message: redactText(error.message) };
  return { code: 'Unknown', message: 'non-error thrown' };
}

/** The fate of a job whose work threw `error` on its `receives`-th delivery. */
export function fateOf<J extends JobCounters>(
  error: unknown,
  job: J,
  receives: number,
  policy: FatePolicy,
): Fate<J> {
  const continuations = job.continuations ?? 0;
  if (
    error instanceof ContinueLaterError &&
    error.progressed &&
    continuations < (policy.maxContinuations ?? 50)
  ) {
    return { kind: 'continue', job: { ...job, continuations: continuations + 1 }, reason: error.message };
  }
  const throttled = error instanceof AmigoUnavailableError && (error.status === 429 || error.status === 503);
  if (throttled && job.deferrals < (policy.maxDeferrals ?? 48)) {
    const random = policy.random ?? Math.random;
    const range = policy.deferralSeconds;
    const delaySeconds = range
      ? Math.min(MAX_DELAY_SECONDS, range[0] + Math.floor(random() * (range[1] - range[0] + 1)))
      : putBackDelaySeconds(error.retryAfterMs, job.deferrals, random);
    return {
      kind: 'put-back',
      job: { ...job, deferrals: job.deferrals + 1 },
      putBack: {
        delaySeconds,
        status: error.status,
        operationId: error.operationId,
        retryAfterSeconds:
          error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000),
      },
    };
  }
  const reason = failureReason(error);
  const permanent = error instanceof AmigoQaError && !error.retryable;
  if (permanent || receives >= policy.maxReceiveCount) return { kind: 'dead-letter', reason };
  return { kind: 'retry', reason, receives };
}
