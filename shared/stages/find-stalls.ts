// Stall scan (run by the scheduler): finds stalled interactions and enqueues one stall job each.
// A stalled interaction: the conversation is unfinished, its latest interaction has concluded (the
// newest user/agent message is the agent's), that message is older than `afterMs`, and Amigo has
// not been asked about it yet (no stall record: shared/archive-format/).
//
// Cheap by design, because every unfinished conversation is looked at on every run:
// - one listing of unfinished conversations (`is_finished=false`), newest first;
// - no message call when the listing already decides: no messages (`num_messages` 0), created
//   less than `afterMs` ago (its newest message cannot be older), or a stall record of the
//   conversation holds the same `num_messages` (nothing was said since Amigo was last asked);
// - otherwise ONE newest-first page of at most 5 user/agent messages, never the whole history.
// Each job is sent as soon as its conversation is checked (batched only behind a send in flight),
// so a stalled interaction does not wait for the other checks of its listing page (150).
import { type Checked, CheckedSchema, StallRecordSchema } from '../archive-format/documents.ts';
import { checkedKey, FILES, interactionOfStallKey, stallConversationPrefix } from '../archive-format/keys.ts';
import { InvalidDocumentError, readDocument } from '../archive-format/read-document.ts';
import { mapLimit } from '../concurrency.ts';
import { conversationId, interactionId, type MessageId, type RunId } from '../ids.ts';
import { type StallJobMessage, stallJobId } from '../jobs/stall.ts';
import type { ConversationInstance, MessageInstance } from '../openapi/index.ts';
import type { AmigoApi, MessageQuery } from '../ports/amigo-api.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';
import type { Job, JobQueue } from '../ports/job-queue.ts';
import type { Log } from '../ports/telemetry.ts';

export interface FindStallsOptions {
  readonly organizationId: string;
  /** An interaction whose agent message is at least this old is stalled (`stall.afterMs`). */
  readonly afterMs: number;
  /** Only these services (empty: all). */
  readonly serviceIds?: readonly string[];
  /** Conversations per listing page. @default 150 (the API's maximum) */
  readonly pageSize?: number;
  /** Carried by the jobs into the records. @default null */
  readonly runId?: RunId | null;
}

export interface FindStallsDeps {
  readonly amigo: Pick<AmigoApi, 'conversationPages' | 'messages'>;
  readonly store: ArchiveStore;
  readonly jobs: JobQueue<StallJobMessage>;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  /** Conversations checked at once (store reads, one message page each). @default 8 */
  readonly concurrency?: number;
  /** Milliseconds the invocation has left; the scan stops between pages below 30 s. */
  readonly remainingTimeMs?: () => number;
  /** Told about conversations that could not be checked (ids and error names only). */
  readonly log: Pick<Log, 'warn'>;
}

export interface FindStallsCounts {
  /** Unfinished conversations listed. */
  unfinished: number;
  /** Stalled interactions found (enqueued + failedToEnqueue). */
  candidates: number;
  /** Amigo was already asked (a stall record exists, or nothing happened since the last one). */
  alreadyRequested: number;
  /** No messages, or the newest user/agent message is the user's (the agent has not answered). */
  notConcluded: number;
  /** Concluded less than `afterMs` ago (or created less than `afterMs` ago). */
  fresh: number;
  enqueued: number;
  failedToEnqueue: number;
  /** Listing pages read. */
  pages: number;
  /** Message pages read (at most one per conversation). */
  messageReads: number;
  /** Conversations whose check failed (deleted meanwhile, a refused read): tried again next scan. */
  failed: number;
  /** The scan stopped early to stay within the invocation's time; the rest waits for the next scan. */
  stoppedForTime: boolean;
}

/** The newest user or agent message: the first item of one newest-first page, nothing more. */
function newestQuery(): MessageQuery {
  return { sort_by: ['-created_at'], limit: 5, message_type: ['user-message', 'agent-message'] };
}

interface Known {
  /** Interactions that have a stall record. */
  readonly interactions: ReadonlySet<string>;
  /** `num_messages` values recorded in them. */
  readonly numMessages: ReadonlySet<number>;
  /** The count at which the user was found to have spoken last (checked.json), if any. */
  readonly notConcludedAt: number | undefined;
}

async function knownStalls(
  store: ArchiveStore,
  organizationId: string,
  c: ConversationInstance,
): Promise<Known> {
  const interactions = new Set<string>();
  const numMessages = new Set<number>();
  let notConcludedAt: number | undefined;
  for await (const object of store.list(stallConversationPrefix(organizationId, c.created_at, c.id))) {
    if (object.key.endsWith(`/${FILES.checked}`)) {
      try {
        notConcludedAt = (await readDocument(store, object.key, CheckedSchema))?.num_messages;
      } catch (error) {
        if (!(error instanceof InvalidDocumentError)) throw error;
        notConcludedAt = undefined;
      }
      continue;
    }
    const id = interactionOfStallKey(object.key);
    if (id === undefined) continue;
    interactions.add(id);
    try {
      const record = await readDocument(store, object.key, StallRecordSchema);
      if (record) numMessages.add(record.num_messages);
    } catch (error) {
      if (!(error instanceof InvalidDocumentError)) throw error;
      // An unreadable record still blocks its interaction; it just cannot spare the message read.
    }
  }
  return { interactions, numMessages, notConcludedAt };
}

type Verdict =
  | { readonly kind: 'alreadyRequested' | 'notConcluded' | 'fresh' }
  | { readonly kind: 'candidate'; readonly job: Job<StallJobMessage> }
  | { readonly kind: 'failed' };

/** SQS SendMessageBatch's maximum. */
const SEND_BATCH = 10;

interface JobSender {
  /** Sends the job now if no send is in flight, else with the next batch. */
  add(job: Job<StallJobMessage>): void;
  /** Waits until every job added so far was sent (or refused); rejects if a send threw. */
  drain(): Promise<void>;
  /** Sends nothing more; what was not sent yet is left for the next scan. */
  stop(): void;
  stopped(): boolean;
}

/**
 * Sends jobs as they are found, one send at a time: while one is in flight, the jobs found
 * meanwhile wait and go together (up to 10) when it returns. A slow queue thus gets batches, a fast
 * one each job at once, and a job waits only for the send in flight (and for the jobs found before
 * it), never for the rest of its page.
 */
function jobSender(
  queue: JobQueue<StallJobMessage>,
  onSent: (sent: number, failed: number) => void,
): JobSender {
  const pending: Job<StallJobMessage>[] = [];
  // `active` changes in the same turn as the loop's last check, so a job added at any moment is
  // either seen by the running loop or starts a new one.
  let active = false;
  let sending: Promise<void> = Promise.resolve();
  let halted = false;
  let thrown: { error: unknown } | undefined;
  const pump = async (): Promise<void> => {
    try {
      while (pending.length > 0 && !halted) {
        const batch = pending.splice(0, SEND_BATCH);
        try {
          const { failed } = await queue.send(batch);
          onSent(batch.length, failed.length);
        } catch (error) {
          thrown = { error };
          halted = true;
        }
      }
    } finally {
      active = false;
    }
  };
  return {
    add(job) {
      if (halted) return;
      pending.push(job);
      if (!active) {
        active = true;
        sending = pump();
      }
    },
    async drain() {
      while (active) await sending;
      if (thrown) throw thrown.error;
    },
    stop() {
      halted = true;
    },
    stopped: () => halted,
  };
}

export function emptyStallCounts(): FindStallsCounts {
  return {
    unfinished: 0,
    candidates: 0,
    alreadyRequested: 0,
    notConcluded: 0,
    fresh: 0,
    enqueued: 0,
    failedToEnqueue: 0,
    pages: 0,
    messageReads: 0,
    failed: 0,
    stoppedForTime: false,
  };
}

/**
 * One scan. `counts` is filled as the scan goes (and returned): a caller that passes its own still
 * knows, when the scan throws, what it read and sent before.
 */
export async function findStalls(
  options: FindStallsOptions,
  deps: FindStallsDeps,
  counts: FindStallsCounts = emptyStallCounts(),
): Promise<FindStallsCounts> {
  const { organizationId, afterMs } = options;
  const { amigo, store, clock, signal } = deps;
  const query = {
    is_finished: false,
    sort_by: ['-created_at'],
    limit: options.pageSize ?? 150,
    ...(options.serviceIds?.length ? { service_id: [...options.serviceIds] } : {}),
  };

  const judge = async (c: ConversationInstance): Promise<Verdict> => {
    const now = clock.now();
    if (c.num_messages === 0) return { kind: 'notConcluded' };
    if (now - Date.parse(c.created_at) < afterMs) return { kind: 'fresh' };
    const known = await knownStalls(store, organizationId, c);
    if (known.numMessages.has(c.num_messages)) return { kind: 'alreadyRequested' };
    if (known.notConcludedAt === c.num_messages) return { kind: 'notConcluded' };

    counts.messageReads++;
    let newest: MessageInstance | undefined;
    for await (const message of amigo.messages(c.id, newestQuery(), { signal })) {
      newest = message;
      break; // the first item of the first page is all we need
    }
    if (newest?.message_type !== 'agent-message') {
      // "The user spoke last when it had N messages": until the count changes, nothing new was
      // said, so the next scan needs no message read for it.
      const checked: Checked = {
        num_messages: c.num_messages,
        verdict: 'not-concluded',
        checked_at: new Date(now).toISOString(),
      };
      await store.put(checkedKey(organizationId, c.created_at, c.id), JSON.stringify(checked), {
        contentType: 'application/json',
      });
      return { kind: 'notConcluded' };
    }
    if (clock.now() - Date.parse(newest.created_at) < afterMs) return { kind: 'fresh' };
    if (known.interactions.has(newest.interaction_id)) return { kind: 'alreadyRequested' };
    const body: StallJobMessage = {
      kind: 'stall',
      v: 1,
      runId: options.runId ?? null,
      organizationId,
      conversationId: conversationId(c.id),
      interactionId: interactionId(newest.interaction_id),
      conversationCreatedAt: c.created_at,
      serviceId: c.service_id,
      lastAgentMessage: {
        id: newest.id as MessageId,
        created_at: newest.created_at,
        message: newest.message,
        format: newest.format,
      },
      numMessages: c.num_messages,
      tagKeys: Object.keys(c.tags ?? {}),
      deferrals: 0,
    };
    return { kind: 'candidate', job: { id: stallJobId(body.conversationId, body.interactionId), body } };
  };

  const sender = jobSender(deps.jobs, (sent, failed) => {
    counts.enqueued += sent - failed;
    counts.failedToEnqueue += failed;
  });
  for await (const page of amigo.conversationPages(query, { signal })) {
    counts.pages++;
    counts.unfinished += page.items.length;
    // The listing filters on is_finished; a conversation finishing meanwhile is Amigo's 400 later.
    // One conversation that cannot be checked must not cost the others their check.
    await mapLimit(page.items, deps.concurrency ?? 8, async (c) => {
      // A queue that cannot be written to fails the scan: checking on would only spend calls.
      if (sender.stopped()) return;
      const verdict = await judge(c).catch((error: unknown): Verdict => {
        if (signal?.aborted) throw error;
        deps.log.warn('Stall check failed; the next scan tries again', {
          conversationId: c.id,
          error: error instanceof Error ? error.name : 'unknown',
        });
        return { kind: 'failed' };
      });
      if (verdict.kind !== 'candidate') {
        counts[verdict.kind]++;
        return;
      }
      // Sent now, not after the page: a recommendation must not wait for the page's other checks.
      counts.candidates++;
      // Another check's abort may have failed the page a moment ago: nothing is sent after it.
      if (signal?.aborted) return;
      sender.add(verdict.job);
    }).catch(async (error: unknown) => {
      // Aborted: no job is sent after the scan has given up, and none is left half sent.
      sender.stop();
      await sender.drain().catch(() => undefined);
      throw error;
    });
    await sender.drain();
    if (deps.remainingTimeMs && deps.remainingTimeMs() < 30_000) {
      counts.stoppedForTime = true;
      break;
    }
  }
  return counts;
}
