// Progress for a nightly run: one redrawn line on a terminal, plain lines otherwise (CI, files).
// Hand-written: a status line with counts is all this needs (cli-progress would add bar layouts).
//
// The counts are the archive workers' outcomes as they are written to the archive
// (runs/<run>/archive/<conversation>.json): archived or already archived is done, failed is failed
// (gone to the dead-letter queue). Each conversation counts once, whatever the deliveries. The total
// is what the scheduler has enqueued so far, and never less than what is done or failed: the workers
// start while the listing is still going on.
import { type ArchiveOutcomeRecord, ArchiveOutcomeSchema } from '../shared/archive-format/documents.ts';
import { conversationOfOutcomeKey } from '../shared/archive-format/keys.ts';
import { parseDocument } from '../shared/archive-format/read-document.ts';
import type { ArchiveStore } from '../shared/ports/archive-store.ts';
import type { PutBack } from '../shared/stages/job-fate.ts';
import type { ScheduleResult } from '../shared/stages/schedule-archive.ts';

export type OutcomeStatus = ArchiveOutcomeRecord['status'];

export interface Progress {
  /** A scheduler invocation finished listing (the run's counts so far). */
  listed(result: ScheduleResult): void;
  /** An archive worker wrote the outcome of one conversation. */
  outcome(conversationId: string, status: OutcomeStatus): void;
  /** A worker put a job back to wait for Amigo: the line says for what and until when. */
  waiting(putBack: PutBack): void;
  done(): void;
}

export interface ProgressCounts {
  readonly done: number;
  readonly failed: number;
  /** Conversations to archive known so far: at least done + failed. */
  readonly total: number;
  /** False while the scheduler may still enqueue more. */
  readonly listingComplete: boolean;
}

/** Jobs waiting for Amigo: the latest time one comes back, and why. */
export interface Waiting {
  readonly jobs: number;
  readonly untilMs: number;
  readonly reason: string;
}

export function progressLine(c: ProgressCounts, waiting?: Waiting, now: number = Date.now()): string {
  const line = `archive: ${c.done}/${c.total}${c.listingComplete ? '' : '+'} done, ${c.failed} failed${c.listingComplete ? '' : ' (still listing)'}`;
  if (!waiting || waiting.untilMs <= now) return line;
  const until = new Date(waiting.untilMs).toTimeString().slice(0, 8);
  return `${line}; ${waiting.jobs} waiting for Amigo (${waiting.reason}) until ${until}`;
}

export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
): Progress {
  const tty = Boolean(stream.isTTY);
  const outcomes = new Map<string, OutcomeStatus>();
  let waiting: Waiting | undefined;
  let enqueued = 0;
  let listingComplete = false;
  let last = 0;
  const counts = (): ProgressCounts => {
    let failed = 0;
    for (const status of outcomes.values()) if (status === 'failed') failed++;
    const done = outcomes.size - failed;
    return { done, failed, total: Math.max(enqueued, outcomes.size), listingComplete };
  };
  const draw = (force = false) => {
    if (tty) {
      stream.write(`\r\x1b[2K${progressLine(counts(), waiting)}`);
      return;
    }
    const now = Date.now();
    if (force || now - last > 2_000) {
      stream.write(`${progressLine(counts(), waiting)}\n`);
      last = now;
    }
  };
  return {
    listed(result) {
      const c = result.counts;
      enqueued = Math.max(enqueued, c.enqueued + (c.recovered ?? 0));
      if (result.status === 'listed') listingComplete = true;
      const recovered = c.recovered ? `, ${c.recovered} left by an earlier run` : '';
      const text = `listed ${c.listed} finished conversations: ${c.enqueued} to archive${recovered}, ${c.alreadyArchived} already archived, ${c.deferredUnanalyzed} waiting for analysis${result.status === 'handed-over' ? ' (continuing)' : ''}`;
      stream.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
      draw(true);
    },
    outcome(conversationId, status) {
      outcomes.set(conversationId, status);
      draw();
    },
    waiting(putBack) {
      const now = Date.now();
      const untilMs = now + putBack.delaySeconds * 1000;
      const still = waiting && waiting.untilMs > now ? waiting.jobs : 0;
      const why = `${putBack.status ?? 'failure'} on ${putBack.operationId}${putBack.retryAfterSeconds ? `, Retry-After ${putBack.retryAfterSeconds} s` : ''}`;
      waiting = { jobs: still + 1, untilMs: Math.max(untilMs, waiting?.untilMs ?? 0), reason: why };
      draw(true);
    },
    done() {
      if (tty) stream.write('\n');
      else draw(true);
    },
  };
}

/**
 * The store, reporting every archive outcome the workers write (shared/archive/state.ts
 * `writeOutcome`) once it is stored. Everything else passes through unchanged.
 */
export function observeOutcomes(
  store: ArchiveStore,
  onOutcome: (conversationId: string, status: OutcomeStatus) => void,
): ArchiveStore {
  return {
    location: store.location,
    get: (key) => store.get(key),
    getStream: (key) => store.getStream(key),
    head: (key) => store.head(key),
    putStream: (key, body, options) => store.putStream(key, body, options),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    async put(key, body, options) {
      const stored = await store.put(key, body, options);
      const id = conversationOfOutcomeKey(key);
      if (id !== undefined) {
        try {
          const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
          onOutcome(id, parseDocument(key, text, ArchiveOutcomeSchema).status);
        } catch {
          // Not an outcome this version knows: progress is only a view, the run record decides.
        }
      }
      return stored;
    },
  };
}
