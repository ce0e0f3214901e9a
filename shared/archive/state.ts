// Pipeline state kept in the archive store: the listing watermark and run records. Their keys and
// schemas are the archive format's (shared/archive-format/); this is what the pipeline does with them.
import {
  type ArchiveOutcomeRecord,
  ArchiveOutcomeSchema,
  type ArchiveTally,
  type LastRun,
  LastRunSchema,
  type OutlookState,
  OutlookStateSchema,
  prettyJson,
  type RunAmigo,
  type RunRecord,
  RunRecordSchema,
  type RunUsage,
  RunUsageSchema,
  type Watermark,
  WatermarkSchema,
} from '../archive-format/documents.ts';
import {
  conversationOfOutcomeKey,
  lastRunKey,
  outcomeKey,
  outcomesPrefix,
  outlookStateKey,
  runKey,
  usageKey,
  usagePrefix,
  watermarkKey,
} from '../archive-format/keys.ts';
import {
  InvalidDocumentError,
  readDocument,
  readVersionedDocument,
} from '../archive-format/read-document.ts';
import type { RunId } from '../ids.ts';
import { type ArchiveStore, PreconditionFailedError } from '../ports/archive-store.ts';

export async function readWatermark(
  store: ArchiveStore,
  organizationId: string,
): Promise<{ value: Watermark; etag: string } | undefined> {
  return readVersionedDocument(store, watermarkKey(organizationId), WatermarkSchema);
}

/**
 * Moves the watermark to `candidate` unless it is already later. Compare-and-swap (If-Match, or
 * If-None-Match for the first one), re-read on conflict: two runs can never move it backwards.
 */
export async function advanceWatermark(
  store: ArchiveStore,
  organizationId: string,
  candidate: string,
  meta: { runId: RunId | null; now: number },
): Promise<Watermark> {
  const key = watermarkKey(organizationId);
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await readWatermark(store, organizationId);
    if (current && Date.parse(current.value.watermark) >= Date.parse(candidate)) return current.value;
    const next: Watermark = {
      watermark: candidate,
      updated_at: new Date(meta.now).toISOString(),
      run_id: meta.runId,
    };
    try {
      await store.put(key, prettyJson(next), {
        contentType: 'application/json',
        ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' as const }),
      });
      return next;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
  }
  throw new Error(`The watermark ${key} kept changing under concurrent writers`);
}

export async function writeRunRecord(store: ArchiveStore, record: RunRecord): Promise<void> {
  await store.put(runKey(record.run_id), prettyJson(record), {
    contentType: 'application/json',
  });
}

export async function readRunRecord(store: ArchiveStore, runId: string): Promise<RunRecord | undefined> {
  return readDocument(store, runKey(runId), RunRecordSchema);
}

/** Remembers the run whose listing finished last, so the next run can summarise it. */
export async function writeLastRun(
  store: ArchiveStore,
  organizationId: string,
  runId: string,
): Promise<void> {
  const lastRun: LastRun = { run_id: runId };
  await store.put(lastRunKey(organizationId), JSON.stringify(lastRun), {
    contentType: 'application/json',
  });
}

export async function readLastRun(store: ArchiveStore, organizationId: string): Promise<string | undefined> {
  return (await readDocument(store, lastRunKey(organizationId), LastRunSchema))?.run_id;
}

/** Keeps the last outlook taken, for the next one when its previous run has none. */
export async function writeOutlookState(
  store: ArchiveStore,
  organizationId: string,
  state: OutlookState,
): Promise<void> {
  await store.put(outlookStateKey(organizationId), prettyJson(state), { contentType: 'application/json' });
}

/** The last outlook taken; undefined when none was, or it cannot be read (the averages start over). */
export async function readOutlookState(
  store: ArchiveStore,
  organizationId: string,
): Promise<OutlookState | undefined> {
  try {
    return await readDocument(store, outlookStateKey(organizationId), OutlookStateSchema);
  } catch (error) {
    if (error instanceof InvalidDocumentError) return undefined;
    throw error;
  }
}

export async function writeOutcome(
  store: ArchiveStore,
  runId: string,
  outcome: ArchiveOutcomeRecord,
): Promise<void> {
  await store.put(outcomeKey(runId, outcome.conversation_id), JSON.stringify(outcome), {
    contentType: 'application/json',
  });
}

/** Records the calls one invocation made for each run (`tag`: unique to the invocation). */
export async function writeRunUsage(
  store: ArchiveStore,
  usages: readonly RunUsage[],
  tag: string,
): Promise<void> {
  for (const usage of usages) {
    const source = usage.between_runs ? `${usage.source}-between-runs` : usage.source;
    await store.put(usageKey(usage.run_id, source, tag), JSON.stringify(usage), {
      contentType: 'application/json',
    });
  }
}

/**
 * A run's Amigo calls: its usage documents summed (null when it has none). An unreadable document
 * is skipped and named in `unreadable`: a count is missing, which a reader must be told.
 */
export async function readRunAmigo(
  store: ArchiveStore,
  runId: string,
): Promise<{ amigo: RunAmigo | null; unreadable: string[] }> {
  let amigo: RunAmigo | null = null;
  const unreadable: string[] = [];
  for await (const object of store.list(usagePrefix(runId))) {
    let usage: RunUsage | undefined;
    try {
      usage = await readDocument(store, object.key, RunUsageSchema);
    } catch (error) {
      if (!(error instanceof InvalidDocumentError)) throw error;
      unreadable.push(object.key);
      continue;
    }
    // Made for no run, only kept here for the outlook.
    if (!usage || usage.between_runs) continue;
    amigo ??= { from: usage.from, to: usage.to, calls: {}, limits: {} };
    if (usage.from < amigo.from) amigo.from = usage.from;
    if (usage.to > amigo.to) amigo.to = usage.to;
    for (const [op, c] of Object.entries(usage.calls)) {
      const into = amigo.calls[op] ?? { answered: 0, throttled: 0 };
      amigo.calls[op] = { answered: into.answered + c.answered, throttled: into.throttled + c.throttled };
    }
    Object.assign(amigo.limits, usage.limits);
  }
  return { amigo, unreadable };
}

/** Folds the workers' outcomes into the run record. */
export async function summarizeRun(
  store: ArchiveStore,
  runId: string,
  now: number,
): Promise<RunRecord | undefined> {
  const record = await readRunRecord(store, runId);
  if (!record) return undefined;
  const tally: ArchiveTally = {
    archived: 0,
    alreadyArchived: 0,
    duplicates: 0,
    failed: 0,
    numMessagesMismatch: 0,
    audioBytes: 0,
  };
  const mismatches: string[] = [];
  const failures: RunRecord['failures'] = [];
  for await (const object of store.list(outcomesPrefix(runId))) {
    let outcome: ArchiveOutcomeRecord | undefined;
    try {
      outcome = await readDocument(store, object.key, ArchiveOutcomeSchema);
    } catch (error) {
      if (!(error instanceof InvalidDocumentError)) throw error;
      // One unreadable outcome must not stop every later run's summary: it is reported as a failure.
      tally.failed++;
      failures.push({
        conversation_id: conversationOfOutcomeKey(object.key) ?? object.key,
        reason: `its outcome record ${error.problem}`,
      });
      continue;
    }
    if (!outcome) continue;
    if (outcome.status === 'archived') tally.archived++;
    else if (outcome.status === 'already-archived') tally.alreadyArchived++;
    else {
      tally.failed++;
      failures.push({ conversation_id: outcome.conversation_id, reason: outcome.reason ?? 'unknown' });
    }
    if (outcome.duplicate) tally.duplicates++;
    if (outcome.flags?.includes('num_messages_mismatch')) {
      tally.numMessagesMismatch++;
      mismatches.push(outcome.conversation_id);
    }
    tally.audioBytes += outcome.audio_bytes ?? 0;
  }
  // The calls are a figure about the run, not its outcome: failing to read them must not stop the
  // summary (the next run's start waits on it); they stay in runs/<run-id>/usage/ for the report.
  const amigo = await readRunAmigo(store, runId).then(
    (read) => read.amigo,
    () => null,
  );
  const updated: RunRecord = {
    ...record,
    amigo,
    status: record.status === 'listing' ? 'listing' : 'summarized',
    summarized_at: new Date(now).toISOString(),
    archive: tally,
    num_messages_mismatches: mismatches.sort(),
    failures,
  };
  await writeRunRecord(store, updated);
  return updated;
}

/** How far a usage document's stored time may run ahead of the clock of the function that wrote it. */
const USAGE_CLOCK_SKEW_MS = 5 * 60_000;

/** One operation's calls in the usage documents read: all of them and the archive jobs' among them. */
export interface UsedCalls {
  answered: number;
  archive: number;
  /** The archive jobs' grants, and those among them that waited for the budget. */
  archiveAcquired: number;
  archiveWaited: number;
  limit: number;
  windowMs: number;
}

/**
 * The Amigo calls recorded for `runIds` by invocations that ended after `since` (a usage document
 * covers one invocation, minutes at most, so it is counted whole by its end), summed per operation
 * with the limits they ran under, and the conversations archive jobs archived. Unreadable documents
 * are skipped and counted; `legacy` counts those written before archive calls were counted apart
 * (their calls are in `calls` and in no archive figure). Stops when `timeLeft` says so (`partial`).
 */
export async function readUsageSince(
  store: ArchiveStore,
  runIds: Iterable<string>,
  since: string,
  options: {
    readonly timeLeft?: () => boolean;
    /** Documents whose calls end after this (epoch ms) are left for the next reader. @default none */
    readonly until?: number;
  } = {},
): Promise<{
  calls: Record<string, UsedCalls>;
  archived: number;
  legacy: number;
  unreadable: number;
  partial: boolean;
}> {
  const calls: Record<string, UsedCalls> = {};
  let unreadable = 0;
  let legacy = 0;
  let archived = 0;
  const sinceMs = Date.parse(since);
  const timeLeft = options.timeLeft ?? (() => true);
  for (const runId of new Set(runIds)) {
    for await (const object of store.list(usagePrefix(runId))) {
      if (!timeLeft()) return { calls, archived, legacy, unreadable, partial: true };
      // Written at its invocation's end, so one stored before `since` (less the clocks' skew) ended
      // before it: not read. A busy run has a document per worker invocation.
      if (object.lastModified !== undefined && object.lastModified < sinceMs - USAGE_CLOCK_SKEW_MS) continue;
      let usage: RunUsage | undefined;
      try {
        usage = await readDocument(store, object.key, RunUsageSchema);
      } catch (error) {
        if (!(error instanceof InvalidDocumentError)) throw error;
        unreadable++;
        continue;
      }
      if (!usage || !(Date.parse(usage.to) > sinceMs)) continue;
      if (options.until !== undefined && Date.parse(usage.to) > options.until) continue;
      if (usage.archive_calls === undefined || usage.archived === undefined) legacy++;
      archived += usage.archived ?? 0;
      // Every operation called or granted (a grant whose call was lost is in archive_waits alone).
      const ops = new Set([...Object.keys(usage.calls), ...Object.keys(usage.archive_waits ?? {})]);
      for (const op of ops) {
        const c = usage.calls[op] ?? { answered: 0, throttled: 0 };
        const limit = usage.limits[op];
        const into = calls[op] ?? {
          answered: 0,
          archive: 0,
          archiveAcquired: 0,
          archiveWaited: 0,
          limit: 0,
          windowMs: 0,
        };
        into.answered += c.answered;
        into.archive += usage.archive_calls?.[op]?.answered ?? 0;
        into.archiveAcquired += usage.archive_waits?.[op]?.acquired ?? 0;
        into.archiveWaited += usage.archive_waits?.[op]?.waited ?? 0;
        if (limit) {
          into.limit = limit.limit;
          into.windowMs = limit.window_ms;
        }
        calls[op] = into;
      }
    }
  }
  return { calls, archived, legacy, unreadable, partial: false };
}
