// Conversations a run has enqueued but not archived yet, kept in the archive store itself:
//
//   state/org=<org>/pending/<conversation_id>.json
//
// The scheduler writes a marker before it enqueues an archive job; the archive worker deletes it
// once the manifest is committed, and records the reason in it when the job is dead-lettered.
// Every run starts by enqueueing every marker it finds again. So the watermark may move past a
// conversation as soon as its marker is written: a lost queue (Ctrl-C on a laptop, a purged queue),
// a crashed worker or a dead-lettered job can delay a conversation, never lose it. A conversation
// that failed in MAX_RUNS runs is given up on: its marker stays, visibly, in every run record.
import {
  PENDING_SCHEMA,
  type PendingFailure,
  type PendingMarker,
  PendingMarkerSchema,
  prettyJson,
} from '../archive-format/documents.ts';
import { pendingKey } from '../archive-format/keys.ts';
import { InvalidDocumentError, readDocument } from '../archive-format/read-document.ts';
import type { ConversationInstance } from '../openapi/index.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';

/** Runs that may enqueue a conversation before it is given up on (reported, never silently dropped). */
export const MAX_RUNS = 3;

/** `enqueued_at` of a marker whose job could not be sent: the next run sends it, whatever its age. */
export const NEVER_SENT = '1970-01-01T00:00:00.000Z';

/** No run sends it again: it failed in MAX_RUNS runs, or got no answer in MAX_RUNS + 2. */
export function isGivenUp(marker: PendingMarker): boolean {
  return (marker.failure !== null && marker.runs >= MAX_RUNS) || marker.runs >= MAX_RUNS + 2;
}

/** A new marker, or the next run's update of an existing one. */
export function nextMarker(
  previous: PendingMarker | undefined,
  conversation: ConversationInstance,
  runId: string | null,
  now: number,
): PendingMarker {
  return {
    schema: PENDING_SCHEMA,
    schema_version: 1,
    conversation_id: conversation.id,
    conversation: conversation as PendingMarker['conversation'],
    first_run_id: previous ? previous.first_run_id : runId,
    last_run_id: runId,
    runs: (previous?.runs ?? 0) + 1,
    enqueued_at: new Date(now).toISOString(),
    failure: previous?.failure ?? null,
  };
}

export async function writePending(
  store: ArchiveStore,
  organizationId: string,
  marker: PendingMarker,
): Promise<void> {
  await store.put(pendingKey(organizationId, marker.conversation_id), prettyJson(marker), {
    contentType: 'application/json',
  });
}

export async function readPending(
  store: ArchiveStore,
  organizationId: string,
  conversationId: string,
): Promise<PendingMarker | undefined> {
  return readDocument(store, pendingKey(organizationId, conversationId), PendingMarkerSchema);
}

/** The marker at `key` (undefined when gone). One that does not parse is reported, not skipped silently. */
export async function readPendingAt(
  store: ArchiveStore,
  key: string,
): Promise<{ marker: PendingMarker } | { invalid: string } | undefined> {
  try {
    const marker = await readDocument(store, key, PendingMarkerSchema);
    return marker ? { marker } : undefined;
  } catch (error) {
    if (error instanceof InvalidDocumentError) return { invalid: error.problem };
    throw error;
  }
}

/** The conversation is archived: nothing is pending for it any more. */
export async function clearPending(
  store: ArchiveStore,
  organizationId: string,
  conversationId: string,
): Promise<void> {
  await store.delete(pendingKey(organizationId, conversationId));
}

/** The job was dead-lettered: the marker keeps the reason (and the next run tries again). */
export async function recordPendingFailure(
  store: ArchiveStore,
  organizationId: string,
  conversation: ConversationInstance,
  failure: PendingFailure,
  now: number,
): Promise<void> {
  const previous = await readPending(store, organizationId, conversation.id);
  const marker = previous ?? nextMarker(undefined, conversation, failure.run_id, now);
  await writePending(store, organizationId, { ...marker, failure });
}
