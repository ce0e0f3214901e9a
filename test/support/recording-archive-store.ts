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
