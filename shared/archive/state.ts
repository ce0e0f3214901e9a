// Pipeline state kept in the archive store: the listing watermark and run records.
import * as z from 'zod';
import type { RunId } from '../ids.ts';
import type { Recovery, SchedulerCounts, SetAside } from '../jobs/archive.ts';
import { type ArchiveStore, PreconditionFailedError } from '../ports/archive-store.ts';
import { runKey, watermarkKey } from './layout.ts';

const WatermarkSchema = z.object({
  watermark: z.string(),
  updated_at: z.string(),
  run_id: z.string().nullable(),
});
export type Watermark = z.infer<typeof WatermarkSchema>;

export async function readWatermark(
  store: ArchiveStore,
  organizationId: string,
): Promise<{ value: Watermark; etag: string } | undefined> {
  const found = await store.get(watermarkKey(organizationId));
  if (!found) return undefined;
  return { value: WatermarkSchema.parse(JSON.parse(found.body.toString('utf8'))), etag: found.etag };
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
      await store.put(key, `${JSON.stringify(next, null, 2)}\n`, {
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

export interface ArchiveTally {
  archived: number;
  alreadyArchived: number;
  duplicates: number;
  failed: number;
  numMessagesMismatch: number;
  audioBytes: number;
}

export interface RunRecord {
  run_id: string;
  organization_id: string;
  status: 'listing' | 'listed' | 'summarized';
  started_at: string;
  listed_at: string | null;
  summarized_at: string | null;
  cutoff: string | null;
  watermark: { previous: string | null; next: string | null };
  scheduler: SchedulerCounts;
  archive: ArchiveTally | null;
  /** Conversations whose archived message count differs from the API's num_messages. */
  num_messages_mismatches: string[];
  failures: Array<{ conversation_id: string; reason: string }>;
  /** Listed entries the API gave malformed (not archived; reasons). */
  set_aside?: SetAside[];
  /** What the run's start found left by earlier runs; null before the scheduler looked. */
  recovery?: Recovery | null;
}

export async function writeRunRecord(store: ArchiveStore, record: RunRecord): Promise<void> {
  await store.put(runKey(record.run_id), `${JSON.stringify(record, null, 2)}\n`, {
    contentType: 'application/json',
  });
}

export async function readRunRecord(store: ArchiveStore, runId: string): Promise<RunRecord | undefined> {
  const found = await store.get(runKey(runId));
  return found ? (JSON.parse(found.body.toString('utf8')) as RunRecord) : undefined;
}

/** One worker outcome, written beside the run record so that no two workers write the same object. */
export interface ArchiveOutcomeRecord {
  conversation_id: string;
  status: 'archived' | 'already-archived' | 'failed';
  duplicate?: boolean;
  flags?: string[];
  audio_bytes?: number;
  reason?: string;
  at: string;
}

function lastRunKey(organizationId: string): string {
  return `state/org=${organizationId}/last-run.json`;
}

/** Remembers the run whose listing finished last, so the next run can summarise it. */
export async function writeLastRun(
  store: ArchiveStore,
  organizationId: string,
  runId: string,
): Promise<void> {
  await store.put(lastRunKey(organizationId), JSON.stringify({ run_id: runId }), {
    contentType: 'application/json',
  });
}

export async function readLastRun(store: ArchiveStore, organizationId: string): Promise<string | undefined> {
  const found = await store.get(lastRunKey(organizationId));
  return found ? (JSON.parse(found.body.toString('utf8')) as { run_id: string }).run_id : undefined;
}

export function outcomeKey(runId: string, conversationId: string): string {
  return `runs/${runId}/archive/${conversationId}.json`;
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
  for await (const object of store.list(`runs/${runId}/archive/`)) {
    const found = await store.get(object.key);
    if (!found) continue;
    const outcome = JSON.parse(found.body.toString('utf8')) as ArchiveOutcomeRecord;
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
  const updated: RunRecord = {
    ...record,
    status: record.status === 'listing' ? 'listing' : 'summarized',
    summarized_at: new Date(now).toISOString(),
    archive: tally,
    num_messages_mismatches: mismatches.sort(),
    failures,
  };
  await writeRunRecord(store, updated);
  return updated;
}
