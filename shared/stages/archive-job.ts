// One archive job from the queue, start to finish: the conversation archived, the run told, the
// tag job sent, the pending marker cleared (in that order: a stop before the clear brings the job
// back with the next run, which sends the tag job again). A job that fails for good leaves its
// reason in the marker and the run instead.
import { clearPending, recordPendingFailure } from '../archive/pending.ts';
import { writeOutcome } from '../archive/state.ts';
import { METRIC } from '../contract/metric-names.ts';
import type { ArchiveJobMessage } from '../jobs/archive.ts';
import { type TagJobMessage, tagJobId } from '../jobs/tag.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Telemetry } from '../ports/telemetry.ts';
import { type ArchiveDeps, type ArchiveOutcome, archiveConversation } from './archive-conversation.ts';
import type { FailureReason } from './job-fate.ts';

export interface ArchiveJobDeps extends Omit<ArchiveDeps, 'signal'> {
  /** Where to send each archived conversation for tagging; absent: no rules configured. */
  readonly tagJobs?: JobQueue<TagJobMessage> | undefined;
  readonly telemetry: Telemetry;
}

/** The recordings' bytes in an archived conversation (0 when it was archived before). */
function audioBytesOf(outcome: ArchiveOutcome): number {
  if (outcome.status !== 'archived') return 0;
  return outcome.manifest.files.filter((f) => f.path.startsWith('audio/')).reduce((n, f) => n + f.bytes, 0);
}

export async function runArchiveJob(
  job: ArchiveJobMessage,
  deps: ArchiveJobDeps,
  signal?: AbortSignal,
): Promise<ArchiveOutcome> {
  const { log, metrics } = deps.telemetry;
  const outcome = await archiveConversation(job, { ...deps, ...(signal ? { signal } : {}) });
  const manifest = outcome.status === 'archived' ? outcome.manifest : undefined;
  const audioBytes = audioBytesOf(outcome);
  if (manifest) {
    metrics.addMetric(METRIC.archived, 'Count', 1);
    metrics.addMetric(METRIC.audioBytes, 'Bytes', audioBytes);
    if (manifest.flags.includes('num_messages_mismatch')) {
      metrics.addMetric(METRIC.numMessagesMismatch, 'Count', 1);
      log.warn('Archived message count differs from num_messages', {
        archived: manifest.counts.messages,
        numMessages: manifest.api.num_messages,
      });
    }
  } else metrics.addMetric(METRIC.alreadyArchived, 'Count', 1);
  if (job.runId) {
    await writeOutcome(deps.store, job.runId, {
      conversation_id: job.conversationId,
      status: outcome.status,
      created_at: job.conversation.created_at,
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
  await clearPending(deps.store, job.organizationId, job.conversationId);
  log.info('Conversation archived', { status: outcome.status, messages: manifest?.counts.messages });
  return outcome;
}

/** A job that will not be tried again: the marker keeps the conversation (and why) for the next run. */
export async function recordArchiveFailure(
  job: ArchiveJobMessage,
  reason: FailureReason,
  deps: Pick<ArchiveJobDeps, 'store' | 'clock' | 'telemetry'>,
): Promise<void> {
  deps.telemetry.metrics.addMetric(METRIC.archiveFailed, 'Count', 1);
  const at = new Date(deps.clock.now()).toISOString();
  await recordPendingFailure(
    deps.store,
    job.organizationId,
    job.conversation,
    { code: reason.code, reason: reason.message, at, run_id: job.runId },
    deps.clock.now(),
  );
  if (job.runId) {
    await writeOutcome(deps.store, job.runId, {
      conversation_id: job.conversationId,
      status: 'failed',
      reason: `${reason.code}: ${reason.message}`,
      at,
    });
  }
}
