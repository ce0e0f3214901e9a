// An archive store decorator that records, in order, when each write (put, putStream, delete) to
// the store it wraps starts and when it settles: tests read the order a stage wrote in, not only
// what ended up stored. Reads pass through unrecorded.
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';

export type WriteOperation = 'put' | 'putStream' | 'delete';

export interface WriteEvent {
  /** `start` when the stage called the store, `end` when that call settled (either way). */
  readonly phase: 'start' | 'end';
  readonly operation: WriteOperation;
  readonly key: string;
  /** The call this event belongs to: a start and its end share it. */
  readonly call: number;
}

export interface RecordingArchiveStore {
  readonly store: ArchiveStore;
  /** Every write event so far, in the order they happened. */
  readonly events: readonly WriteEvent[];
}

export function recordingArchiveStore(inner: ArchiveStore): RecordingArchiveStore {
  const events: WriteEvent[] = [];
  let calls = 0;
  const record = async <T>(operation: WriteOperation, key: string, write: () => Promise<T>): Promise<T> => {
    const call = ++calls;
    events.push({ phase: 'start', operation, key, call });
    try {
      return await write();
    } finally {
      events.push({ phase: 'end', operation, key, call });
    }
  };
  const store: ArchiveStore = {
    location: inner.location,
    get: (key) => inner.get(key),
    getStream: (key) => inner.getStream(key),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    put: (key, body, options) => record('put', key, () => inner.put(key, body, options)),
    putStream: (key, body, options) => record('putStream', key, () => inner.putStream(key, body, options)),
    delete: (key) => record('delete', key, () => inner.delete(key)),
  };
  return { store, events };
}

/** What a stage wrote to one conversation's folder around its commit (the manifest's put). */
export interface WritesAroundCommit {
  /** Puts of the manifest. */
  readonly manifestPuts: number;
  /** Keys (relative to the folder) whose writes settled before the first manifest put started. */
  readonly settledBefore: string[];
  /** Writes (as "operation key") started before the first manifest put and still running then. */
  readonly runningAtCommit: string[];
  /** Writes started after the first manifest put, other than removing the staging area. */
  readonly writtenAfter: string[];
}

/**
 * Reads `events` for the folder `prefix` and its manifest key `manifest`; `staging` is the
 * folder-relative staging area (the stage's STAGING_DIR) whose removal may follow the commit.
 */
export function writesAroundCommit(
  events: readonly WriteEvent[],
  prefix: string,
  manifest: string,
  staging: string,
): WritesAroundCommit {
  const folder = events.filter((e) => e.key.startsWith(prefix));
  const puts = folder.filter((e) => e.phase === 'start' && e.operation === 'put' && e.key === manifest);
  const commit = puts[0] ? folder.indexOf(puts[0]) : folder.length;
  const before = folder.slice(0, commit);
  const settled = new Set(before.filter((e) => e.phase === 'end').map((e) => e.call));
  const label = (e: WriteEvent) => `${e.operation} ${e.key.slice(prefix.length)}`;
  return {
    manifestPuts: puts.length,
    settledBefore: before.filter((e) => e.phase === 'end').map((e) => e.key.slice(prefix.length)),
    runningAtCommit: before.filter((e) => e.phase === 'start' && !settled.has(e.call)).map(label),
    writtenAfter: folder
      .slice(commit + 1)
      .filter((e) => e.phase === 'start')
      .filter((e) => !(e.operation === 'delete' && e.key.startsWith(prefix + staging)))
      .map(label),
  };
}
