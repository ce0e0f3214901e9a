// What the archive already holds for the conversations a scheduler listing finds: archived (a
// committed manifest), waiting (a pending marker) or new. Read by listing, not one HEAD per
// conversation: the waiting markers once, then each day folder's keys once, when a conversation of
// that day is first asked about. A nightly run of 3,000 conversations a day over a 7-day lookback
// makes about 150 LIST requests where it made 21,000 HEADs (twice that for the ones not archived).
//
// The markers are listed before any manifest: a job commits its manifest before it clears its
// marker, so a conversation in neither snapshot was neither archived nor enqueued when the markers
// were listed. One archived meanwhile is still waiting in the first snapshot, and one enqueued by
// this listing is added to it as its marker is written.
import {
  conversationOfPendingKey,
  conversationsPrefix,
  parseManifestKey,
  pendingPrefix,
  utcDay,
} from '../archive-format/keys.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';

export type ListedState = 'archived' | 'pending' | 'new';

export class ArchiveSnapshot {
  readonly #store: ArchiveStore;
  readonly #organizationId: string;
  #pending: Promise<Set<string>> | undefined;
  readonly #days = new Map<string, Promise<Set<string>>>();

  constructor(store: ArchiveStore, organizationId: string) {
    this.#store = store;
    this.#organizationId = organizationId;
  }

  /** Where each conversation stands; `createdAt` names its day folder. */
  async stateOf(conversation: { readonly id: string; readonly created_at: string }): Promise<ListedState> {
    const pending = await this.#waiting();
    const day = utcDay(conversation.created_at);
    this.#forgetAfter(day);
    let archived = this.#days.get(day);
    if (!archived) {
      archived = this.#archivedOn(day);
      this.#days.set(day, archived);
      // A failed read is not kept: the next conversation of the day reads it again.
      archived.catch(() => this.#days.delete(day));
    }
    if ((await archived).has(conversation.id)) return 'archived';
    return pending.has(conversation.id) ? 'pending' : 'new';
  }

  /**
   * The listing goes newest first: once it asks about `day`, a day folder more than a day newer is
   * not asked about again (a shifted page repeats a few of the page before), so its ids are let go
   * and a long lookback's memory stays at about two days' manifests.
   */
  #forgetAfter(day: string): void {
    const next = new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);
    for (const cached of this.#days.keys()) if (cached > next) this.#days.delete(cached);
  }

  /** This listing wrote a marker for `conversationId`: a second sighting (a shifted page) is waiting. */
  async enqueued(conversationId: string): Promise<void> {
    (await this.#waiting()).add(conversationId);
  }

  #waiting(): Promise<Set<string>> {
    if (!this.#pending) {
      this.#pending = this.#ids(pendingPrefix(this.#organizationId), conversationOfPendingKey);
      this.#pending.catch(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  #archivedOn(day: string): Promise<Set<string>> {
    const prefix = `${conversationsPrefix(this.#organizationId)}date=${day}/`;
    return this.#ids(prefix, (key) => parseManifestKey(key)?.conversationId);
  }

  async #ids(prefix: string, idOf: (key: string) => string | undefined): Promise<Set<string>> {
    const ids = new Set<string>();
    for await (const object of this.#store.list(prefix)) {
      const id = idOf(object.key);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  }
}
