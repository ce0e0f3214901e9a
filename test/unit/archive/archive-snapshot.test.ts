// Where each listed conversation stands (archived, waiting, new), read by listing a real folder
// store: the markers once, each day folder once, and never one HEAD per conversation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { ArchiveSnapshot } from '../../../shared/archive/archive-snapshot.ts';
import { manifestKey, pendingKey, pendingPrefix } from '../../../shared/archive-format/keys.ts';
import type { ArchiveStore } from '../../../shared/ports/archive-store.ts';

const ORG = 'acme';
const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

async function folderStore(): Promise<FsArchiveStore> {
  const root = await mkdtemp(join(tmpdir(), 'archive-snapshot-'));
  roots.push(root);
  return new FsArchiveStore(root);
}

const conversation = (n: number, day: string) => ({
  id: n.toString(16).padStart(24, '0'),
  created_at: `${day}T10:00:00.000Z`,
});

/** `store`, counting its list and head calls by prefix or key, and running `onList` after a listing. */
function counting(store: ArchiveStore, onList?: (prefix: string) => Promise<void>) {
  const lists: string[] = [];
  let heads = 0;
  const counted: ArchiveStore = Object.assign(Object.create(store), {
    head: (key: string) => {
      heads++;
      return store.head(key);
    },
    list: async function* (prefix: string) {
      lists.push(prefix);
      yield* store.list(prefix);
      await onList?.(prefix);
    },
  });
  return { store: counted, lists, heads: () => heads };
}

describe('ArchiveSnapshot', () => {
  it('when conversations of two days are asked about, then each is archived, waiting or new, from one listing of the markers and one of each day, with no HEAD', async () => {
    // Arrange: day 1 has an archived and a waiting conversation, day 2 a new one; a staged file
    // and a conversation file without a manifest are not archives.
    const store = await folderStore();
    const archived = conversation(1, '2026-12-01');
    const waiting = conversation(2, '2026-12-01');
    const fresh = conversation(3, '2026-12-02');
    await store.put(manifestKey(ORG, archived.created_at, archived.id), '{}');
    await store.put(
      manifestKey(ORG, waiting.created_at, waiting.id).replace('manifest.json', 'messages.jsonl'),
      '',
    );
    await store.put(pendingKey(ORG, waiting.id), '{}');
    const probe = counting(store);
    const snapshot = new ArchiveSnapshot(probe.store, ORG);

    // Act
    const states = await Promise.all([archived, waiting, fresh, archived].map((c) => snapshot.stateOf(c)));

    // Assert
    expect(states).toEqual(['archived', 'pending', 'new', 'archived']);
    expect(probe.heads()).toBe(0);
    expect(probe.lists).toEqual([
      pendingPrefix(ORG),
      'conversations/org=acme/date=2026-12-01/',
      'conversations/org=acme/date=2026-12-02/',
    ]);
  });

  it('when a job commits its manifest and clears its marker right after the markers were listed, then its conversation reads archived, not new', async () => {
    // Arrange: the job's two writes land between the snapshot's marker listing and its day listing.
    const store = await folderStore();
    const c = conversation(4, '2026-12-01');
    await store.put(pendingKey(ORG, c.id), '{}');
    const probe = counting(store, async (prefix) => {
      if (prefix !== pendingPrefix(ORG)) return;
      await store.put(manifestKey(ORG, c.created_at, c.id), '{}');
      await store.delete(pendingKey(ORG, c.id));
    });
    const snapshot = new ArchiveSnapshot(probe.store, ORG);

    // Act
    const state = await snapshot.stateOf(c);

    // Assert
    expect(state).toBe('archived');
  });

  it('when this listing enqueued a conversation and a shifted page lists it again, then it reads waiting', async () => {
    // Arrange
    const store = await folderStore();
    const c = conversation(5, '2026-12-01');
    const snapshot = new ArchiveSnapshot(store, ORG);
    expect(await snapshot.stateOf(c)).toBe('new');

    // Act
    await store.put(pendingKey(ORG, c.id), '{}');
    await snapshot.enqueued(c.id);

    // Assert
    expect(await snapshot.stateOf(c)).toBe('pending');
  });

  it('when the listing has moved two days on (newest first), then the newer day’s ids are let go, and a late question about it lists it again', async () => {
    // Arrange
    const store = await folderStore();
    const probe = counting(store);
    const snapshot = new ArchiveSnapshot(probe.store, ORG);

    // Act
    for (const day of ['2026-12-05', '2026-12-04', '2026-12-05', '2026-12-02', '2026-12-05'])
      await snapshot.stateOf(conversation(6, day));

    // Assert: 12-05 is kept while 12-04 is asked, let go at 12-02
    expect(probe.lists.filter((p) => p.includes('date=2026-12-05'))).toHaveLength(2);
  });
});
