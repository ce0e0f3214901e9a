// Scheduler stage: lists finished conversations newest first, down to the watermark minus the
// lookback, and enqueues an archive job for each one not archived yet. Hands its place in the
// listing to its next invocation when its time runs short; advances the watermark only once the
// whole listing has been enqueued.
//
// Nothing enqueued is lost: every job is preceded by a pending marker in the archive store
// (shared/archive/pending.ts), and every run starts by enqueueing the markers earlier runs left
// (their queue lost, a worker crashed, a job dead-lettered), so the watermark may pass a
// conversation as soon as its marker is written.
import { ArchiveSnapshot } from '../archive/archive-snapshot.ts';
import { isGivenUp, NEVER_SENT, nextMarker, readPendingAt, writePending } from '../archive/pending.ts';
import {
  advanceWatermark,
  readLastRun,
  readRunRecord,
  readWatermark,
  summarizeRun,
  writeLastRun,
  writeRunRecord,
} from '../archive/state.ts';
import type { PendingMarker, RunOutlook, RunRecord } from '../archive-format/documents.ts';
import { pendingPrefix } from '../archive-format/keys.ts';
import { mapLimit } from '../concurrency.ts';
import type { PriorityRule } from '../config/pipeline-config.ts';
import { ConversationIdSchema, newRunId, type RunId } from '../ids.ts';
import {
  type ArchiveJobMessage,
  archiveJobId,
  type ContinueListingMessage,
  ListedConversationSchema,
  type Recovery,
  type SchedulerCounts,
  type SetAside,
} from '../jobs/archive.ts';
import type { ConversationInstance } from '../openapi/index.ts';
import type { AmigoApi } from '../ports/amigo-api.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';
import type { Job, JobQueue } from '../ports/job-queue.ts';
import { priorityOf } from './archive-priority.ts';
import { takeOutlook } from './budget-outlook.ts';

export interface ScheduleOptions {
  readonly organizationId: string;
  /** Only these services (empty: all). */
  readonly serviceIds?: readonly string[];
  /** How far before the watermark to look again: conversations can finish long after they start. */
  readonly lookbackMs: number;
  /** Leave finished conversations that are not analyzed yet for a later run. @default true */
  readonly deferUnanalyzed?: boolean;
  /**
   * This run lists down to the watermark minus this instead of `lookbackMs` (the hourly runs between
   * nightly ones; `since` does not apply to them), and leaves the watermark as it was: only a
   * full-lookback run moves it, so each one still reaches `lookbackMs` behind the previous one and
   * a conversation open or unanalysed for days is found by the next nightly run.
   */
  readonly listLookbackMs?: number;
  /** Backfill: list down to this instant instead of the watermark minus the lookback. */
  readonly since?: string | null;
  /** Hand over to the next invocation when less than this remains. @default 60000 */
  readonly minRemainingMs?: number;
  /** @default 150 (the API's maximum) */
  readonly pageSize?: number;
  /**
   * A pending marker without a failure is enqueued again only when its job was sent longer ago than
   * this: before, its job is most likely still on the queue (waiting for the budget, put back), and
   * sending it again would only double the work. The local runner's queue dies with its process:
   * 0 there. @default 2 days
   */
  readonly recoverPendingAfterMs?: number;
  /**
   * `archive.priorities`: a matching conversation's job is `high` (the archive job queue of the
   * deployment sends it by the priority queue). @default none: every job normal
   */
  readonly priorities?: readonly PriorityRule[];
  /** The budget outlook averages rates over this span (a fast simulated clock shortens it). @default 1 day */
  readonly outlookAveragingMs?: number;
  /**
   * The outlook's usage period ends this long before it (budget-outlook.ts). The week bench, whose
   * workers' usage is written before each run, sets 0. @default USAGE_SETTLE_MS
   */
  readonly outlookSettleMs?: number;
  /**
   * `amigo.priorityReserve`: the budget's reserve for high-priority callers, which the outlook
   * takes off the capacity until a drain is measured. @default DEFAULT_RESERVE_SHARE
   */
  readonly reserveShare?: number;
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
  /** Markers written or read at once. @default 16 */
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
      /** A full-lookback listing (the nightly run's), the one that may move the watermark. */
      readonly fullLookback: boolean;
      /** The budget outlook written into the run record (null: it could not be taken, see outlookError). */
      readonly outlook?: RunOutlook | null;
      readonly outlookError?: string;
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
    const short = options.listLookbackMs;
    const cutoff =
      short !== undefined
        ? iso((previousWatermark ? Date.parse(previousWatermark) : clock.now()) - short)
        : options.since
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
        recovered: 0,
        alreadyPending: 0,
        setAside: 0,
      },
      setAside: [],
      recovery: null,
      movesWatermark: short === undefined,
    };
    await writeRunRecord(store, runRecord(state, 'listing', null, clock.now()));
    state.recovery = await recoverPending(state, deps, options);
    await writeRunRecord(store, runRecord(state, 'listing', null, clock.now()));
  }

  const counts = state.counts;
  // Read once for the invocation, after the recovery has sent its markers again.
  const snapshot = new ArchiveSnapshot(store, organizationId);
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
    // An entry whose date cannot be read is kept (and set aside below), never taken for the cutoff.
    const inRange = page.items.filter((c) => !(Date.parse(c.created_at) < cutoffMs));
    const reachedCutoff = inRange.length < page.items.length;
    counts.listed += inRange.length;

    const candidates: ConversationInstance[] = [];
    for (const c of inRange) {
      const problem = unusable(c);
      if (problem) {
        setAside(state, { id: String(c.id).slice(0, 80), reason: problem });
        continue;
      }
      state.newestSeen = latest(state.newestSeen, c.created_at);
      if (!c.is_analyzed && (options.deferUnanalyzed ?? true)) {
        counts.deferredUnanalyzed++;
        pin(c);
      } else candidates.push(c);
    }
    const known = await mapLimit(candidates, 4, (c) => snapshot.stateOf(c));
    const fresh = candidates.filter((_, i) => known[i] === 'new');
    counts.alreadyArchived += known.filter((k) => k === 'archived').length;
    counts.alreadyPending += known.filter((k) => k === 'pending').length;
    // The marker first: a conversation whose job is lost after this line is enqueued by the next run.
    await mapLimit(fresh, deps.headConcurrency ?? 16, async (c) => {
      await writePending(store, organizationId, nextMarker(undefined, c, state.runId, clock.now()));
      await snapshot.enqueued(c.id);
    });
    const { failed } = await enqueue(deps, state, fresh, options.priorities);
    counts.enqueued += fresh.length - failed.length;
    // A job that could not be sent keeps its marker, marked as never sent: the next run enqueues it.
    counts.failedToEnqueue += failed.length;
    await mapLimit(failed, deps.headConcurrency ?? 16, (c) =>
      writePending(store, organizationId, {
        ...nextMarker(undefined, c, state.runId, clock.now()),
        enqueued_at: NEVER_SENT,
      }),
    );

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
  // past a conversation that still has to be listed again, and only after a full-lookback listing.
  const candidate = earliest(state.newestSeen, state.pinnedAt);
  const watermark =
    candidate === null || !state.movesWatermark
      ? state.previousWatermark
      : (await advanceWatermark(store, organizationId, candidate, { runId: state.runId, now: clock.now() }))
          .watermark;
  const previous = await readRunRecord(store, state.runId);
  const record = {
    ...runRecord(state, 'listed', watermark, clock.now()),
    archive: previous?.archive ?? null,
  };
  // The run is listed and named the last one before the outlook is taken: the outlook reads the
  // archive for a while, and a deadline meeting it then costs only the outlook.
  const previousRunId = await readLastRun(store, organizationId);
  await writeRunRecord(store, record);
  await writeLastRun(store, organizationId, state.runId);
  const outlook = await outlookOf(state, deps, options, previousRunId);
  await writeRunRecord(store, { ...record, outlook: outlook.value });
  return {
    status: 'listed',
    runId: state.runId,
    counts,
    watermark,
    fullLookback: state.movesWatermark,
    outlook: outlook.value,
    ...(outlook.outlookError ? { outlookError: outlook.outlookError } : {}),
  };
}

/**
 * The budget outlook of the period since the previous run's (./budget-outlook.ts), taken once
 * last-run.json names this run (`previousRunId`: the run it named before). A figure, not the run's outcome: a failure to take it is returned.
 */
async function outlookOf(
  state: ContinueListingMessage,
  deps: ScheduleDeps,
  options: ScheduleOptions,
  previousRunId: string | undefined,
): Promise<{ value: RunOutlook | null; outlookError?: string }> {
  try {
    const value = await takeOutlook(deps.store, {
      organizationId: state.organizationId,
      runId: state.runId,
      runStartedAt: state.startedAt,
      previousRunId,
      // Every conversation this run wrote a marker for, sent or not: the markers are the backlog.
      arrivals: state.counts.enqueued + state.counts.failedToEnqueue,
      now: deps.clock.now(),
      concurrency: deps.headConcurrency ?? 16,
      timeLeft: () => deps.remainingTimeMs() > (options.minRemainingMs ?? 60_000) / 2,
      ...(options.outlookAveragingMs ? { averagingMs: options.outlookAveragingMs } : {}),
      ...(options.outlookSettleMs === undefined ? {} : { usageSettleMs: options.outlookSettleMs }),
      ...(options.reserveShare === undefined ? {} : { reserveShare: options.reserveShare }),
    });
    return { value };
  } catch (error) {
    return { value: null, outlookError: error instanceof Error ? error.message : String(error) };
  }
}

/** Why a listed entry cannot become an archive job (a key, a URL, a message), or undefined when it can. */
function unusable(c: ConversationInstance): string | undefined {
  if (!ConversationIdSchema.safeParse(c.id).success) {
    return 'the API listed an id that is not a 24-character hex id; it cannot name an archive folder or a URL';
  }
  const parsed = ListedConversationSchema.safeParse(c);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `field ${issue?.path.join('.') || '(root)'} ${JSON.stringify((c as Record<string, unknown>)[String(issue?.path[0])])} is not what an archive job needs (${issue?.message})`;
  }
  return undefined;
}

function setAside(state: ContinueListingMessage, entry: SetAside): void {
  state.counts.setAside++;
  if (state.setAside.length < 100) state.setAside.push(entry);
}

function jobFor(
  state: ContinueListingMessage,
  c: ConversationInstance,
  rules: readonly PriorityRule[],
  now: number,
): Job<ArchiveJobMessage> {
  return {
    id: archiveJobId(c.id),
    body: {
      kind: 'archive',
      v: 1,
      runId: state.runId,
      organizationId: state.organizationId,
      conversationId: ConversationIdSchema.parse(c.id),
      conversation: c,
      deferrals: 0,
      continuations: 0,
      priority: priorityOf(c, rules, now),
    },
  };
}

/** Sends one job per conversation; answers those that could not be sent. */
async function enqueue(
  deps: ScheduleDeps,
  state: ContinueListingMessage,
  conversations: readonly ConversationInstance[],
  rules: readonly PriorityRule[] = [],
): Promise<{ failed: ConversationInstance[] }> {
  if (conversations.length === 0) return { failed: [] };
  const now = deps.clock.now();
  const { failed } = await deps.jobs.send(conversations.map((c) => jobFor(state, c, rules, now)));
  const ids = new Set(failed.map((f) => f.id));
  return { failed: conversations.filter((c) => ids.has(archiveJobId(c.id))) };
}

/** Markers one run looks at, at most: the rest wait for the next run, so the listing always runs. */
const MAX_RECOVERED_PER_RUN = 5_000;

/**
 * Enqueues again what earlier runs left pending: markers with a failure (dead-lettered), markers
 * whose job was never sent, and markers older than `recoverPendingAfterMs` (a lost queue). A marker
 * whose conversation is archived is enqueued too: the worker's already-archived path sends its tag
 * job and clears it (the worker may have stopped between the commit and those). A conversation
 * enqueued in MAX_RUNS runs that failed (or in MAX_RUNS + 2 whatever happened) is given up: reported
 * in every run record, no longer sent. Bounded: at most MAX_RECOVERED_PER_RUN markers, and it stops
 * while the listing still has time.
 */
async function recoverPending(
  state: ContinueListingMessage,
  deps: ScheduleDeps,
  options: ScheduleOptions,
): Promise<Recovery> {
  const { store, clock } = deps;
  const recovery: Recovery = { fromRuns: {}, givenUp: [], givenUpTotal: 0, invalid: [] };
  const keys: string[] = [];
  for await (const object of store.list(pendingPrefix(state.organizationId))) {
    keys.push(object.key);
    if (keys.length >= MAX_RECOVERED_PER_RUN) break;
  }
  const now = clock.now();
  const recoverAfter = options.recoverPendingAfterMs ?? 2 * 86_400_000;
  const timeForListing = 3 * (options.minRemainingMs ?? 60_000);
  const again: Array<{ conversation: ConversationInstance; marker: PendingMarker }> = [];
  await mapLimit(keys, deps.headConcurrency ?? 16, async (key) => {
    if (deps.remainingTimeMs() < timeForListing) return;
    const entry = await readPendingAt(store, key);
    if (!entry) return;
    if ('invalid' in entry) {
      if (recovery.invalid.length < 100) recovery.invalid.push(`${key} ${entry.invalid}`);
      return;
    }
    const { marker } = entry;
    const c = marker.conversation as unknown as ConversationInstance;
    const problem = unusable(c);
    if (problem) {
      if (recovery.invalid.length < 100) recovery.invalid.push(`${key} ${problem}`);
      return;
    }
    if (isGivenUp(marker)) {
      recovery.givenUpTotal++;
      if (recovery.givenUp.length < 100) {
        recovery.givenUp.push({
          conversation_id: c.id,
          reason: marker.failure
            ? `${marker.failure.code}: ${marker.failure.reason}`
            : `enqueued in ${marker.runs} runs without being archived or failing visibly (a crash or time-out each time)`,
          runs: marker.runs,
        });
      }
      return;
    }
    if (!marker.failure && now - Date.parse(marker.enqueued_at) < recoverAfter) return;
    again.push({ conversation: c, marker });
  });
  const { failed } = await enqueue(
    deps,
    state,
    again.map((a) => a.conversation),
    options.priorities,
  );
  const notSent = new Set(failed.map((c) => c.id));
  const sent = again.filter((a) => !notSent.has(a.conversation.id));
  // Counted as a run of theirs only once actually sent.
  await mapLimit(sent, deps.headConcurrency ?? 16, (a) =>
    writePending(store, state.organizationId, nextMarker(a.marker, a.conversation, state.runId, now)),
  );
  for (const a of sent) {
    const from = a.marker.last_run_id ?? '(unknown run)';
    recovery.fromRuns[from] = (recovery.fromRuns[from] ?? 0) + 1;
  }
  state.counts.recovered += sent.length;
  state.counts.failedToEnqueue += failed.length;
  return recovery;
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
    set_aside: state.setAside,
    recovery: state.recovery,
  };
}
