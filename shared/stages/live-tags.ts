// The tags conversations hold in Amigo now, read with get-conversations' `id` filter: many ids per
// call (get-conversations allows 15 calls a minute, so one call per conversation would make a
// backfill of 1,000 conversations take over an hour), every page followed (a page may be shorter
// than its limit).
import type { AmigoApi } from '../ports/amigo-api.ts';
import type { Tags } from './tag-plan.ts';

/** Ids per get-conversations call: well under the page limit (150) and a 4 KB query string. */
export const LIVE_TAGS_BATCH = 100;

export interface LiveTags {
  /** conversation id -> its live tags; an id Amigo did not return (deleted, no permission) is absent. */
  readonly tags: Map<string, Tags>;
  /** get-conversations calls made (each one counted against that operation's rate budget). */
  readonly calls: number;
}

export async function readLiveTags(
  amigo: Pick<AmigoApi, 'conversationPages'>,
  ids: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<LiveTags> {
  const live = new Map<string, Tags>();
  let calls = 0;
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += LIVE_TAGS_BATCH) {
    const batch = unique.slice(i, i + LIVE_TAGS_BATCH);
    for await (const page of amigo.conversationPages({ id: batch, limit: batch.length }, options)) {
      calls++;
      for (const c of page.items) live.set(c.id, { ...c.tags });
    }
  }
  return { tags: live, calls };
}
