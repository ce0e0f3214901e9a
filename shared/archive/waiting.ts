// What waits for the archive workers: the pending markers (./pending.ts), one per conversation
// enqueued and not archived yet. They are the backlog an operator asks about: a job waiting for the
// budget, put back after a 429, in flight, or dead-lettered and due again all have one, and one
// whose queue was lost still has it. The archive queue's depth would add nothing the markers do not
// say (and a call and a permission), so it is not read.
import type { PendingMarker } from '../archive-format/documents.ts';
import { pendingPrefix } from '../archive-format/keys.ts';
import { mapLimit } from '../concurrency.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import { isGivenUp, NEVER_SENT, readPendingAt } from './pending.ts';

/** Markers read at most per scan; the rest are counted from the listing as waiting. */
export const MAX_MARKERS_READ = 5_000;

export interface Waiting {
  /** Conversations waiting to be archived (given up ones excluded). */
  readonly backlog: number;
  /**
   * Among `backlog`, those a run other than `runId` first enqueued, or whose job was never sent
   * (all of them without `runId`; a marker not read is counted here).
   */
  readonly earlier: number;
  readonly givenUp: number;
  /** When the longest-waiting conversation was first enqueued (its first run's start); null: none. */
  readonly oldestSince: string | null;
  /** The runs whose jobs are still out (each marker's latest run). */
  readonly runs: string[];
  /** Some markers were not read (over MAX_MARKERS_READ, unreadable, or time ran short). */
  readonly partial: boolean;
}

/** `2026-12-01T18-28-13Z-ab12cd` -> `2026-12-01T18:28:13Z` (run ids start with their run's start). */
function startOfRun(runId: string | null): string | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})-(\d{2})Z-/.exec(runId ?? '');
  return m ? `${m[1]}:${m[2]}:${m[3]}Z` : null;
}

function waitingSince(marker: PendingMarker): string | null {
  const since = startOfRun(marker.first_run_id);
  if (since) return since;
  return marker.enqueued_at === NEVER_SENT ? null : marker.enqueued_at;
}

export async function scanWaiting(
  store: ArchiveStore,
  organizationId: string,
  options: {
    readonly concurrency?: number;
    readonly timeLeft?: () => boolean;
    /** The run taking the scan: `earlier` leaves out the markers it first enqueued. */
    readonly runId?: string;
  } = {},
): Promise<Waiting> {
  const keys: string[] = [];
  let unread = 0;
  for await (const object of store.list(pendingPrefix(organizationId))) {
    if (keys.length < MAX_MARKERS_READ) keys.push(object.key);
    else unread++;
  }
  let backlog = unread;
  let earlier = unread;
  let givenUp = 0;
  let oldest: number | null = null;
  let partial = unread > 0;
  const runs = new Set<string>();
  await mapLimit(keys, options.concurrency ?? 16, async (key) => {
    if (options.timeLeft && !options.timeLeft()) {
      backlog++;
      earlier++;
      partial = true;
      return;
    }
    const entry = await readPendingAt(store, key);
    if (!entry) return;
    if ('invalid' in entry) {
      backlog++;
      earlier++;
      partial = true;
      return;
    }
    if (isGivenUp(entry.marker)) {
      givenUp++;
      return;
    }
    backlog++;
    if (entry.marker.last_run_id) runs.add(entry.marker.last_run_id);
    const since = Date.parse(waitingSince(entry.marker) ?? '');
    // A job this run could not send waits for the next run: it is behind already.
    if (
      options.runId === undefined ||
      entry.marker.first_run_id !== options.runId ||
      entry.marker.enqueued_at === NEVER_SENT
    )
      earlier++;
    if (Number.isFinite(since) && (oldest === null || since < oldest)) oldest = since;
  });
  return {
    backlog,
    earlier,
    givenUp,
    oldestSince: oldest === null ? null : new Date(oldest).toISOString(),
    runs: [...runs].sort(),
    partial,
  };
}
