// Messages between the pipeline's functions (archive jobs and the scheduler's hand-over; tag and stall
// jobs beside this file), parsed with zod at every receiving end.
import * as z from 'zod';
import { RunIdSchema } from '../ids.ts';
import type { ConversationInstance } from '../openapi/index.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import { type Priority, priorities } from '../ports/rate-budget.ts';
import { deferrals, jobEnvelope } from './envelope.ts';

const isoDate = z.iso.datetime({ offset: true });

/** The conversation as listed; passed through so the worker spends no API call re-reading it. */
/** What an archive job needs of a listed conversation; the scheduler sets aside entries that fail it. */
export const ListedConversationSchema = z.looseObject({
  id: z.string(),
  created_at: isoDate,
  num_messages: z.number().int().nonnegative(),
  service_id: z.string(),
});

export const ArchiveJobSchema = z.object({
  kind: z.literal('archive'),
  ...jobEnvelope,
  conversation: ListedConversationSchema.transform((c) => c as unknown as ConversationInstance),
  deferrals,
  /** Deliveries it continued in after running out of time (a long conversation; work is staged). */
  continuations: z.number().int().nonnegative().default(0),
  /**
   * Its class at the rate budget, set by the scheduler from `archive.priorities`: a `high` job goes
   * by the priority queue and takes the budget's reserve. Absent (jobs sent before classes existed): normal.
   */
  priority: z.enum(priorities).optional(),
});
export type ArchiveJobMessage = z.infer<typeof ArchiveJobSchema>;

const count = z.number().int().nonnegative();

export const SchedulerCountsSchema = z.object({
  listed: count,
  enqueued: count,
  alreadyArchived: count,
  deferredUnanalyzed: count,
  failedToEnqueue: count,
  pages: count,
  invocations: z.number().int().positive(),
  /** Conversations an earlier run left unarchived (pending markers), enqueued again. */
  recovered: count.default(0),
  /** Listed conversations already pending (enqueued by the recovery, or given up): not enqueued twice. */
  alreadyPending: count.default(0),
  /** Listed entries set aside because the API gave an id or date that cannot be used (see the run record). */
  setAside: count.default(0),
});
export type SchedulerCounts = z.infer<typeof SchedulerCountsSchema>;

/** A listed entry the run could not use (a malformed id or date), kept for the run record. */
export const SetAsideSchema = z.object({ id: z.string(), reason: z.string() });
export type SetAside = z.infer<typeof SetAsideSchema>;

/** What the run's start found left over by earlier runs (pending markers). */
export const RecoverySchema = z.object({
  /** Markers enqueued again, by the run that last enqueued them. */
  fromRuns: z.record(z.string(), z.number().int().nonnegative()),
  /** Conversations that failed in MAX_RUNS runs (or MAX_RUNS + 2 without an answer): no longer enqueued, reported every run. */
  givenUp: z.array(z.object({ conversation_id: z.string(), reason: z.string(), runs: z.number() })).max(100),
  givenUpTotal: z.number().int().nonnegative(),
  /** Markers that do not parse (kept, reported). */
  invalid: z.array(z.string()).max(100),
});
export type Recovery = z.infer<typeof RecoverySchema>;

/** The scheduler's hand-over to its next invocation when one invocation cannot walk the whole listing. */
export const ContinueListingSchema = z.object({
  kind: z.literal('continue-listing'),
  v: z.literal(1),
  runId: RunIdSchema,
  organizationId: z.string().min(1),
  startToken: z.number().int(),
  cutoff: isoDate.nullable(),
  previousWatermark: isoDate.nullable(),
  newestSeen: isoDate.nullable(),
  /** The watermark may not pass a conversation that was deferred or could not be enqueued. */
  pinnedAt: isoDate.nullable(),
  startedAt: isoDate,
  counts: SchedulerCountsSchema,
  setAside: z.array(SetAsideSchema).max(100).default([]),
  recovery: RecoverySchema.nullable().default(null),
  /**
   * False for a short-lookback run (the hourly runs): it lists down to the watermark minus its own
   * lookback and leaves the watermark where it was, so the next full-lookback run still reaches back
   * the whole lookback from the last full run's watermark, pins included.
   */
  movesWatermark: z.boolean().default(true),
});
export type ContinueListingMessage = z.infer<typeof ContinueListingSchema>;

/** The budget class an archive job's calls ask in: its own, or normal (jobs sent before classes existed). */
export function archiveJobPriority(job: Pick<ArchiveJobMessage, 'priority'>): Priority {
  return job.priority ?? 'normal';
}

export function archiveJobId(conversationId: string): string {
  return `archive-${conversationId}`;
}

/**
 * The archive jobs' queue as senders see it: each job goes to the queue of its class, the normal
 * archive queue or the priority one (SQS has no priority within a queue, so a class is a queue with
 * workers of its own). The scheduler sends through it, and a worker's put-backs and continuations
 * go back to the queue they came from.
 */
export function archiveJobQueue(
  normal: JobQueue<ArchiveJobMessage>,
  priority: JobQueue<ArchiveJobMessage>,
): JobQueue<ArchiveJobMessage> {
  return {
    async send(jobs) {
      const high = jobs.filter((j) => j.body.priority === 'high');
      const rest = jobs.filter((j) => j.body.priority !== 'high');
      const sent = await Promise.all([
        rest.length > 0 ? normal.send(rest) : { failed: [] },
        high.length > 0 ? priority.send(high) : { failed: [] },
      ]);
      return { failed: sent.flatMap((s) => s.failed) };
    },
  };
}
