// The tables writer's round (functions/tables-writer): the Parquet parts of every run started
// within the look-back, written again from the archive. A night's conversations are committed over
// hours and their tag decisions and stall records after that, so one write at the end of the night
// would miss them; rewriting is safe because writeRunTables is idempotent and deterministic (a
// run whose outcomes did not change gets the same bytes again). The stall-only scans' records, which
// no run holds, go to their dates' `manual` stalls parts (writeScanStallTables).
import { RunRecordSchema } from '../archive-format/documents.ts';
import { runKey } from '../archive-format/keys.ts';
import { InvalidDocumentError, parseDocument } from '../archive-format/read-document.ts';
import { RetryableError } from '../errors.ts';
import { runIdStartedAt } from '../ids.ts';
import type { ArchiveStore, StoredObject } from '../ports/archive-store.ts';
import {
  type WriteTablesDeps,
  type WriteTablesResult,
  writeRunTables,
  writeScanStallTables,
} from './write-tables.ts';

export interface RecentTablesInput {
  /** Runs started this many hours before now, or less, are written. */
  readonly lookbackHours: number;
}

export interface RecentRunTables {
  readonly runId: string;
  readonly organizationId: string;
  readonly result: WriteTablesResult;
}

export interface RecentTablesResult {
  readonly runs: readonly RecentRunTables[];
  /** Run records that could not be read, by key (the next round tries them again). */
  readonly unreadable: readonly string[];
  /** Runs whose parts could not be written (a bad document, a store error): the next round tries again. */
  readonly failed: readonly string[];
  /** The stall-only scans' parts; `failed` when they could not be written (the next round tries again). */
  readonly scans: WriteTablesResult | 'failed';
}

/** `runs/<run-id>.json`, the run record (not its `usage/` folder). */
const RUN_RECORD = /^runs\/([^/]+)\.json$/;

/**
 * The run id of every run record started at `from` or later, oldest first. Run ids begin with their
 * day, so only the look-back's days are listed, not the whole history of runs/.
 */
async function recentRunIds(deps: WriteTablesDeps, from: number): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of listDays(deps, from)) {
    const id = RUN_RECORD.exec(object.key)?.[1];
    const started = id === undefined ? undefined : runIdStartedAt(id);
    if (id !== undefined && started !== undefined && started >= from) ids.push(id);
  }
  return ids.sort();
}

async function* listDays(deps: WriteTablesDeps, from: number) {
  const DAY = 86_400_000;
  const last = Math.floor(deps.clock.now() / DAY);
  for (let day = Math.floor(from / DAY); day <= last; day++) {
    yield* deps.store.list(`runs/${new Date(day * DAY).toISOString().slice(0, 10)}`);
  }
}

/**
 * `store`, with its listings under `stalled/` and its reads of stall records made once and shared:
 * the records are small, and a round reads only those written in its look-back.
 */
function sharingStallRecords(store: ArchiveStore): ArchiveStore {
  const listings = new Map<string, Promise<StoredObject[]>>();
  const reads = new Map<string, ReturnType<ArchiveStore['get']>>();
  const listed = async (prefix: string) => {
    const objects: StoredObject[] = [];
    for await (const object of store.list(prefix)) objects.push(object);
    return objects;
  };
  return {
    location: store.location,
    list(prefix) {
      if (!prefix.startsWith('stalled/')) return store.list(prefix);
      let objects = listings.get(prefix);
      if (!objects) {
        objects = listed(prefix);
        listings.set(prefix, objects);
      }
      const shared = objects;
      return (async function* () {
        yield* await shared;
      })();
    },
    get(key) {
      if (!key.startsWith('stalled/')) return store.get(key);
      let read = reads.get(key);
      if (!read) {
        read = store.get(key);
        reads.set(key, read);
      }
      return read;
    },
    getStream: (key) => store.getStream(key),
    head: (key) => store.head(key),
    put: (key, body, options) => store.put(key, body, options),
    putStream: (key, body, options) => store.putStream(key, body, options),
    delete: (key) => store.delete(key),
  };
}

/** Writes the parts of each run started within the look-back; one run's failure does not stop the others. */
export async function writeRecentTables(
  deps: WriteTablesDeps,
  input: RecentTablesInput,
): Promise<RecentTablesResult> {
  const from = deps.clock.now() - input.lookbackHours * 3_600_000;
  const runs: RecentRunTables[] = [];
  const unreadable: string[] = [];
  const failed: string[] = [];
  // Each run's parts look through the organisation's stall records; with a run an hour that is ~36
  // runs a round: one listing and one read of each record serve them all.
  deps = { ...deps, store: sharingStallRecords(deps.store) };
  for (const runId of await recentRunIds(deps, from)) {
    const key = runKey(runId);
    const stored = await deps.store.get(key);
    if (!stored) continue;
    let organizationId: string;
    try {
      organizationId = parseDocument(key, stored.body, RunRecordSchema).organization_id;
    } catch (error) {
      if (!(error instanceof InvalidDocumentError)) throw error;
      deps.log.warn('run record unreadable: its tables are not written', { key, problem: error.problem });
      unreadable.push(key);
      continue;
    }
    let result: Awaited<ReturnType<typeof writeRunTables>>;
    try {
      result = await writeRunTables(deps, { organizationId, runId });
    } catch (error) {
      // Its earlier parts stay as they were; the next round tries it again.
      deps.log.warn('run tables not written', {
        runId,
        error: error instanceof Error ? error.name : String(error),
        problem: error instanceof InvalidDocumentError ? error.problem : undefined,
      });
      failed.push(runId);
      continue;
    }
    deps.log.info('run tables written', {
      runId,
      organizationId,
      parts: result.parts.length,
      rows: result.parts.reduce((n, p) => n + p.rows, 0),
      removed: result.removed.length,
      ms: result.ms,
    });
    runs.push({ runId, organizationId, result });
  }
  let scans: WriteTablesResult | 'failed';
  try {
    scans = await writeScanStallTables(deps, { writtenFrom: from });
  } catch (error) {
    deps.log.warn('stall-scan tables not written', {
      error: error instanceof Error ? error.name : String(error),
      problem: error instanceof InvalidDocumentError ? error.problem : undefined,
    });
    scans = 'failed';
  }
  return { runs, unreadable, failed, scans };
}

/**
 * The round's failure, for the invocation to throw once the other parts are written (so the retry,
 * the DLQ and its alarm see it); undefined when nothing failed. The next round tries them again.
 */
export function recentTablesFailure(result: RecentTablesResult): RetryableError | undefined {
  const what = [
    ...(result.failed.length === 1 ? [`run ${result.failed[0]}`] : []),
    ...(result.failed.length > 1 ? [`${result.failed.length} runs (${result.failed.join(', ')})`] : []),
    ...(result.scans === 'failed' ? ["the stall-only scans' stall records"] : []),
  ];
  if (what.length === 0) return undefined;
  return new RetryableError(`The tables of ${what.join(' and of ')} could not be written`, {
    context: { runs: result.failed, scans: result.scans === 'failed' },
    hint: 'The next round writes them again; the log line before this one names the problem.',
  });
}
