// Scheduler stage: lists finished conversations newest first, down to the watermark minus the
// lookback, and enqueues an archive job for each one not archived yet. Hands its place in the
// listing to its next invocation when its time runs short; advances the watermark only once the
// whole listing has been enqueued.
import { manifestKey } from '../archive/layout.ts';
import {
  advanceWatermark,
  type RunRecord,
  readLastRun,
  readRunRecord,
  readWatermark,
  summarizeRun,
  writeLastRun,
  writeRunRecord,
} from '../archive/state.ts';
import { mapLimit } from '../concurrency.ts';
import { conversationId, newRunId, type RunId } from '../ids.ts';
import {
  type ArchiveJobMessage,
  archiveJobId,
  type ContinueListingMessage,
  type SchedulerCounts,
} from '../jobs.ts';
import type { ConversationInstance } from '../openapi/index.ts';
import type { AmigoApi } from '../ports/amigo-api.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';
import type { Job, JobQueue } from '../ports/job-queue.ts';

export interface ScheduleOptions {
  readonly organizationId: string;
  /** Only these services (empty: all). */
  readonly serviceIds?: readonly string[];
  /** How far before the watermark to look again: conversations can finish long after they start. */
  readonly lookbackMs: number;
  /** Leave finished conversations that are not analyzed yet for a later run. @default true */
  readonly deferUnanalyzed?: boolean;
  /** Backfill: list down to this instant instead of the watermark minus the lookback. */
  readonly since?: string | null;
  /** Hand over to the next invocation when less than this remains. @default 60000 */
  readonly minRemainingMs?: number;
  /** @default 150 (the API's maximum) */
  readonly pageSize?: number;
}

export interface ScheduleDeps {
  readonly amigo: Pick<AmigoApi, 'conversationPages'>;
  readonly store: ArchiveStore;
  readonly jobs: JobQueue<ArchiveJobMessage>;
  readonly continuation: JobQueue<ContinueListingMessage>;
  readonly clock: Clock;
  /** Milliseconds this invocation has left (Lambda's getRemainingTimeInMillis). */
  readonly remainingTimeMs: () => number;
  readonly random?: () => number;
  readonly signal?: AbortSignal;
  /** Checks for existing manifests at once. @default 16 */
  readonly headConcurrency?: number;
}

export type ScheduleResult =
  | {
      readonly status: 'handed-over';
      readonly runId: RunId;
      readonly counts: SchedulerCounts;
      readonly nextToken: number;
    }
  | {
      readonly status: 'listed';
      readonly runId: RunId;
      readonly counts: SchedulerCounts;
      readonly watermark: string | null;
    };

function earliest(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

function latest(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Starts a run (`resume` absent) or continues one handed over by a previous invocation. */
export async function scheduleArchive(
  options: ScheduleOptions,
  deps: ScheduleDeps,
  resume?: ContinueListingMessage,
): Promise<ScheduleResult> {
  const { store, clock } = deps;
  const { organizationId } = options;
  const lookback = options.lookbackMs;
  let state: ContinueListingMessage;
  if (resume) {
    state = { ...resume, counts: { ...resume.counts, invocations: resume.counts.invocations + 1 } };
  } else {
    const runId = newRunId(clock.now(), deps.random);
    const previous = await readWatermark(store, organizationId);
    const previousWatermark = previous?.value.watermark ?? null;
    // The last run's workers are long done: fold their outcomes into its record.
    const lastRun = await readLastRun(store, organizationId);
    if (lastRun) await summarizeRun(store, lastRun, clock.now());
    const cutoff = options.since
      ? iso(Date.parse(options.since))
      : previousWatermark
        ? iso(Date.parse(previousWatermark) - lookback)
        : null;
    state = {
      kind: 'continue-listing',
      v: 1,
      runId,
      organizationId,
      startToken: 0,
      cutoff,
      previousWatermark,
      newestSeen: null,
      pinnedAt: null,
      startedAt: iso(clock.now()),
      counts: {
        listed: 0,
        enqueued: 0,
        alreadyArchived: 0,
        deferredUnanalyzed: 0,
        failedToEnqueue: 0,
        pages: 0,
        invocations: 1,
      },
    };
    await writeRunRecord(store, runRecord(state, 'listing', null, clock.now()));
  }

  const counts = state.counts;
  const cutoffMs = state.cutoff === null ? Number.NEGATIVE_INFINITY : Date.parse(state.cutoff);
  const query = {
    is_finished: true,
    sort_by: ['-created_at'],
    limit: options.pageSize ?? 150,
    ...(options.serviceIds?.length ? { service_id: [...options.serviceIds] } : {}),
  };
  const pin = (c: ConversationInstance) => {
    // The next run must list this conversation again: its cutoff (watermark - lookback) may not pass it.
    state.pinnedAt = earliest(state.pinnedAt, iso(Date.parse(c.created_at) + lookback));
  };

  for await (const page of deps.amigo.conversationPages(query, {
    startToken: state.startToken,
    signal: deps.signal,
  })) {
    counts.pages++;
    const inRange = page.items.filter((c) => Date.parse(c.created_at) >= cutoffMs);
    const reachedCutoff = inRange.length < page.items.length;
    counts.listed += inRange.length;

    const candidates: ConversationInstance[] = [];
    for (const c of inRange) {
      state.newestSeen = latest(state.newestSeen, c.created_at);
      if (!c.is_analyzed && (options.deferUnanalyzed ?? true)) {
        counts.deferredUnanalyzed++;
        pin(c);
      } else candidates.push(c);
    }
    const archived = await mapLimit(candidates, deps.headConcurrency ?? 16, async (c) =>
      Boolean(await store.head(manifestKey(organizationId, c.created_at, c.id))),
    );
    const jobs: Job<ArchiveJobMessage>[] = [];
    candidates.forEach((c, i) => {
      if (archived[i]) counts.alreadyArchived++;
      else {
        jobs.push({
          id: archiveJobId(c.id),
          body: {
            kind: 'archive',
            v: 1,
            runId: state.runId,
            organizationId,
            conversationId: conversationId(c.id),
            conversation: c,
            deferrals: 0,
          },
        });
      }
    });
    if (jobs.length > 0) {
      const { failed } = await deps.jobs.send(jobs);
      const failedIds = new Set(failed.map((f) => f.id));
      counts.enqueued += jobs.length - failed.length;
      counts.failedToEnqueue += failed.length;
      for (const job of jobs) if (failedIds.has(job.id)) pin(job.body.conversation);
    }

    if (reachedCutoff || page.nextToken === null) break;
    if (deps.remainingTimeMs() < (options.minRemainingMs ?? 60_000)) {
      const handover: ContinueListingMessage = { ...state, startToken: page.nextToken, counts };
      const { failed } = await deps.continuation.send([
        { id: `continue-${state.runId}-${page.nextToken}`, body: handover },
      ]);
      if (failed.length > 0) throw new Error(`Could not hand the listing over: ${failed[0]?.reason}`);
      await writeRunRecord(store, runRecord(handover, 'listing', null, clock.now()));
      return { status: 'handed-over', runId: state.runId, counts, nextToken: page.nextToken };
    }
  }

  // Everything down to the cutoff is enqueued (or pinned): the watermark may advance, but never
  // past a conversation that still has to be listed again.
  const candidate = earliest(state.newestSeen, state.pinnedAt);
  const watermark =
    candidate === null
      ? state.previousWatermark
      : (await advanceWatermark(store, organizationId, candidate, { runId: state.runId, now: clock.now() }))
          .watermark;
  const previous = await readRunRecord(store, state.runId);
  const record = runRecord(state, 'listed', watermark, clock.now());
  await writeRunRecord(store, { ...record, archive: previous?.archive ?? null });
  await writeLastRun(store, organizationId, state.runId);
  return { status: 'listed', runId: state.runId, counts, watermark };
}

function runRecord(
  state: ContinueListingMessage,
  status: RunRecord['status'],
  nextWatermark: string | null,
  now: number,
): RunRecord {
  return {
    run_id: state.runId,
    organization_id: state.organizationId,
    status,
    started_at: state.startedAt,
    listed_at: status === 'listed' ? iso(now) : null,
    summarized_at: null,
    cutoff: state.cutoff,
    watermark: { previous: state.previousWatermark, next: nextWatermark },
    scheduler: state.counts,
    archive: null,
    num_messages_mismatches: [],
    failures: [],
  };
}
