// Archive stage: one conversation, completely and verifiably. Messages (all pages, all types),
// the insights of every interaction with an agent message, every recording streamed into the
// store, then the manifest, last and create-only: its presence commits the folder.
//
// Resumable: a conversation of thousands of interactions takes longer at Amigo's insights limit
// (20 a minute) than one function invocation may run. What a delivery fetched is staged under
// `_staging/` in the conversation's folder (never in the manifest): every CHECKPOINT_EVERY new
// insights and when the deadline signal fires. The next delivery reads the staging and fetches
// only what is missing; the manifest is still written last and once, and the staging removed.
import { createHash, randomBytes } from 'node:crypto';
import {
  MANIFEST_SCHEMA,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ManifestFile,
  ManifestSchema,
  MessageLineSchema,
  prettyJson,
  type StagingChunk,
  StagingChunkSchema,
  sameFiles,
} from '../archive-format/documents.ts';
import {
  audioPath,
  conversationPrefix,
  FILES,
  manifestKey,
  STAGING_CHUNK,
  STAGING_DIR,
  stagingChunkName,
} from '../archive-format/keys.ts';
import { parseDocument } from '../archive-format/read-document.ts';
import { mapLimit } from '../concurrency.ts';
import { ContinueLaterError, PermanentError } from '../errors.ts';
import { type ConversationId, InteractionIdSchema, MessageIdSchema, type RunId } from '../ids.ts';
import type { ConversationInstance, MessageInstance } from '../openapi/index.ts';
import { ALL_MESSAGE_TYPES, type AmigoApi } from '../ports/amigo-api.ts';
import { type ArchiveStore, PreconditionFailedError } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';

export interface ArchiveJob {
  readonly runId: RunId | null;
  readonly organizationId: string;
  readonly conversationId: ConversationId;
  /** The conversation object as get-conversations returned it; archived as conversation.json. */
  readonly conversation: ConversationInstance;
}

export interface ArchiveDeps {
  readonly amigo: AmigoApi;
  readonly store: ArchiveStore;
  readonly clock: Clock;
  /** Fail the conversation when the archived message count differs from the API's `num_messages`. */
  readonly strict?: boolean;
  /** Interactions whose insights are fetched at once. @default 4 */
  readonly insightsConcurrency?: number;
  /** Archive voice recordings. @default true */
  readonly audio?: boolean;
  /** Recordings streamed at once; memory grows with this, never with a recording's size. @default 4 */
  readonly audioConcurrency?: number;
  /** The deadline: when it fires, what was fetched is staged and ArchiveDeadlineError thrown. */
  readonly signal?: AbortSignal;
  /** Stage after this many newly fetched insights (a crash loses at most this many). @default 50 */
  readonly checkpointEvery?: number;
  /**
   * Told once, as this delivery's manifest commits (not a racing delivery's, nor an archive found
   * committed): the usage count of archived conversations (shared/runtime/metered-budget.ts). Told
   * before anything after the commit can fail, for a redelivery finds the conversation archived.
   */
  readonly onArchived?: (() => void) | undefined;
}

/**
 * The deadline came before the conversation was complete. What this delivery fetched is staged;
 * the next delivery continues from it (the job is put back at once, not counted as a failure,
 * when `progressed`).
 */
export class ArchiveDeadlineError extends ContinueLaterError {
  readonly progressed: boolean;
  constructor(conversationId: string, progress: { fetched: number; remaining: number }) {
    super(
      `Conversation ${conversationId}: the delivery's time ran out with ${progress.remaining} insights or recordings to fetch (${progress.fetched} fetched and staged this time)`,
      { context: { conversationId, ...progress } },
    );
    this.progressed = progress.fetched > 0;
  }
}

/** The API gave an id that cannot become a key or a URL: this conversation is set aside. */
export class UnusableIdError extends PermanentError {}

export type ArchiveOutcome =
  | {
      readonly status: 'already-archived';
      readonly manifestKey: string;
      /** The stored files had changed under the manifest (an interrupted racing delivery) and it was rebuilt. */
      readonly repaired: boolean;
    }
  | {
      readonly status: 'archived';
      readonly manifestKey: string;
      readonly manifest: Manifest;
      /** The manifest existed already (a duplicate delivery committed first). */
      readonly duplicate: boolean;
    };

/** The archived message count differs from the API's `num_messages` and `strict` is on. */
export class ArchiveIntegrityError extends PermanentError {}

export function sortMessages(messages: readonly MessageInstance[]): MessageInstance[] {
  return [...messages].sort((a, b) => {
    const t = Date.parse(a.created_at) - Date.parse(b.created_at);
    return t !== 0 ? t : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function archiveConversation(job: ArchiveJob, deps: ArchiveDeps): Promise<ArchiveOutcome> {
  const { amigo, store, clock, signal } = deps;
  const { organizationId, conversationId, conversation } = job;
  const key = manifestKey(organizationId, conversation.created_at, conversationId);
  const prefix = conversationPrefix(organizationId, conversation.created_at, conversationId);
  // A job for an archived conversation is a redelivery (the scheduler skips archived ones): check
  // that the committed folder still matches its manifest, since a racing delivery that stopped
  // part-way may have rewritten files under it.
  if (await store.head(key)) {
    const { repaired } = await reconcile(store, key, prefix);
    // A delivery that stopped between its commit and its clean-up left its staging behind.
    await removeStaging(store, prefix + STAGING_DIR);
    return { status: 'already-archived', manifestKey: key, repaired };
  }

  const files: ManifestFile[] = [];
  const writeFile = async (path: string, body: string, contentType: string) => {
    await store.put(prefix + path, body, { contentType });
    files.push({ path, bytes: Buffer.byteLength(body), sha256: sha256(body), content_type: contentType });
  };

  const staged = await readStaging(store, prefix + STAGING_DIR);
  let messages = staged.messages;
  if (!messages) {
    // Messages: every page, every type (the API's default leaves out inner thoughts), ascending.
    const byId = new Map<string, MessageInstance>();
    for await (const message of amigo.messages(
      conversationId,
      { message_type: [...ALL_MESSAGE_TYPES], limit: 500 },
      { signal },
    )) {
      byId.set(message.id, message);
    }
    messages = sortMessages([...byId.values()]);
  }
  const settled = messages;
  // Ids become keys (audio/<message id>.wav) and URLs: refuse what cannot be either.
  for (const m of settled) {
    if (
      !MessageIdSchema.safeParse(m.id).success ||
      !InteractionIdSchema.safeParse(m.interaction_id).success
    ) {
      throw new UnusableIdError(
        `Conversation ${conversationId}: the API listed a message whose id or interaction id is not a 24-character hex id; it cannot name a file or a URL, so this conversation is set aside`,
        { context: { conversationId }, hint: 'Report the conversation id to Amigo support' },
      );
    }
  }

  // Insights and recordings spend different rate budgets: fetch them at the same time.
  // Insights: one per interaction that has an agent message, in conversation order.
  const interactions = [
    ...new Set(settled.filter((m) => m.message_type === 'agent-message').map((m) => m.interaction_id)),
  ];
  // Recordings: streamed from the signed URL into the store, a few at a time; each stream holds
  // one chunk (or one multipart part) in memory, whatever the recording's size.
  const voice = deps.audio === false ? [] : settled.filter((m) => m.format !== 'text');
  const fetched: Insight[] = [];
  const uploaded: Array<ManifestFile & { message_id: string }> = [];
  const staging = new Staging(
    store,
    prefix + STAGING_DIR,
    staged.chunks > 0 || staged.messages !== undefined,
    staged.messages === undefined ? settled : undefined,
  );
  const every = deps.checkpointEvery ?? 50;
  try {
    await Promise.all([
      mapLimit(
        interactions.filter((id) => !staged.insights.has(id)),
        deps.insightsConcurrency ?? 4,
        async (interactionId) => {
          fetched.push({
            interaction_id: interactionId,
            insights: await amigo.getInteractionInsights(conversationId, interactionId, { signal }),
          });
          if (fetched.length - staging.insightsStaged >= every) await staging.checkpoint(fetched, uploaded);
        },
      ),
      mapLimit(
        voice.filter((m) => !staged.audio.has(m.id)),
        deps.audioConcurrency ?? 4,
        async (message) => {
          const download = await amigo.downloadMessageSource(conversationId, message.id, { signal });
          const path = audioPath(message.id, download.contentType);
          const stored = await store.putStream(prefix + path, download.stream, {
            contentType: download.contentType,
          });
          uploaded.push({
            message_id: message.id,
            path,
            bytes: stored.size,
            sha256: stored.sha256,
            content_type: download.contentType,
          });
        },
      ),
    ]);
  } catch (error) {
    if (!signal?.aborted) throw error;
    await staging.checkpoint(fetched, uploaded);
    // Checkpoints started by tasks still running when the first one stopped.
    await staging.settled();
    const remaining =
      interactions.length -
      staged.insights.size -
      fetched.length +
      (voice.length - staged.audio.size - uploaded.length);
    throw new ArchiveDeadlineError(conversationId, { fetched: fetched.length + uploaded.length, remaining });
  }
  const byInteraction = new Map<string, Insight>([
    ...staged.insights,
    ...fetched.map((f) => [f.interaction_id, f] as const),
  ]);
  const insights = interactions.map((id) => byInteraction.get(id) as Insight);
  const recordings = [...staged.audio.values(), ...uploaded].map(({ message_id: _id, ...file }) => file);
  files.push(...recordings);

  // Another delivery may have committed while this one was fetching: leave its folder alone.
  if (await store.head(key)) {
    const { manifest } = await reconcile(store, key, prefix);
    return { status: 'archived', manifestKey: key, manifest, duplicate: true };
  }
  await writeFile(FILES.conversation, `${JSON.stringify(conversation, null, 2)}\n`, 'application/json');
  await writeFile(FILES.messages, jsonl(settled), 'application/x-ndjson');
  await writeFile(FILES.insights, jsonl(insights), 'application/x-ndjson');

  const messagesByType: Record<string, number> = {};
  for (const m of settled) messagesByType[m.message_type] = (messagesByType[m.message_type] ?? 0) + 1;
  const mismatch = settled.length !== conversation.num_messages;
  if (mismatch && deps.strict) {
    throw new ArchiveIntegrityError(
      `Conversation ${conversationId}: archived ${settled.length} messages but the API reports num_messages ${conversation.num_messages}`,
      {
        context: { conversationId, archived: settled.length, numMessages: conversation.num_messages },
        hint: 'Turn off archive.strict to archive it with the mismatch flagged, or check the user can read every message',
      },
    );
  }
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    schema_version: MANIFEST_SCHEMA_VERSION,
    organization_id: organizationId,
    conversation_id: conversationId,
    service_id: conversation.service_id,
    created_at: conversation.created_at,
    archived_at: new Date(clock.now()).toISOString(),
    run_id: job.runId,
    counts: {
      messages: settled.length,
      messages_by_type: messagesByType,
      interactions: new Set(settled.map((m) => m.interaction_id)).size,
      insights: insights.length,
      audio: voice.length,
    },
    api: { num_messages: conversation.num_messages },
    flags: mismatch ? ['num_messages_mismatch'] : [],
    files: files.sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
  const outcome = await commitManifest(store, key, prefix, manifest);
  if (outcome.status === 'archived' && !outcome.duplicate) deps.onArchived?.();
  await staging.remove();
  return outcome;
}

interface Insight {
  readonly interaction_id: string;
  readonly insights: unknown;
}

interface StagedWork {
  readonly messages: MessageInstance[] | undefined;
  readonly insights: Map<string, Insight>;
  readonly audio: Map<string, ManifestFile & { message_id: string }>;
  /** Chunks already staged. */
  readonly chunks: number;
}

/** What earlier deliveries staged for this conversation (nothing, usually). */
async function readStaging(store: ArchiveStore, dir: string): Promise<StagedWork> {
  const work: StagedWork = { messages: undefined, insights: new Map(), audio: new Map(), chunks: 0 };
  let messages: MessageInstance[] | undefined;
  let chunks = 0;
  for await (const object of store.list(dir)) {
    const found = await store.get(object.key);
    if (!found) continue;
    const text = found.body.toString('utf8');
    if (object.key === `${dir}${FILES.messages}`) {
      messages = text
        .split('\n')
        .filter(Boolean)
        .map((line) => parseDocument(object.key, line, MessageLineSchema) as unknown as MessageInstance);
    } else if (STAGING_CHUNK.test(object.key)) {
      chunks++;
      const chunk = parseDocument(object.key, text, StagingChunkSchema);
      for (const row of chunk.insights) work.insights.set(row.interaction_id, row);
      for (const file of chunk.audio) work.audio.set(file.message_id, file);
    }
  }
  return { ...work, messages, chunks };
}

/** Writes what a delivery fetched to the folder's staging area, in chunks. */
class Staging {
  readonly #store: ArchiveStore;
  readonly #dir: string;
  readonly #tag = randomBytes(4).toString('hex');
  #chunk = 0;
  #used: boolean;
  readonly #writes = new Set<Promise<void>>();
  #messages: readonly MessageInstance[] | undefined;
  #audioStaged = 0;
  insightsStaged = 0;

  constructor(
    store: ArchiveStore,
    dir: string,
    alreadyUsed: boolean,
    unstagedMessages: readonly MessageInstance[] | undefined,
  ) {
    this.#store = store;
    this.#dir = dir;
    this.#used = alreadyUsed;
    this.#messages = unstagedMessages;
  }

  /** Stages what was fetched since the last checkpoint (one chunk), and the messages the first time. */
  checkpoint(
    insights: readonly Insight[],
    audio: ReadonlyArray<ManifestFile & { message_id: string }>,
  ): Promise<void> {
    const write = this.#write(insights, audio);
    this.#writes.add(write);
    return write.finally(() => this.#writes.delete(write));
  }

  /** Waits for every checkpoint under way. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }

  async #write(
    insights: readonly Insight[],
    audio: ReadonlyArray<ManifestFile & { message_id: string }>,
  ): Promise<void> {
    const newInsights = insights.slice(this.insightsStaged);
    const newAudio = audio.slice(this.#audioStaged);
    if (newInsights.length === 0 && newAudio.length === 0) return;
    this.insightsStaged = insights.length;
    this.#audioStaged = audio.length;
    const n = ++this.#chunk;
    this.#used = true;
    if (this.#messages) {
      const messages = this.#messages;
      this.#messages = undefined;
      await this.#store.put(`${this.#dir}${FILES.messages}`, jsonl(messages), {
        contentType: 'application/x-ndjson',
      });
    }
    const chunk: StagingChunk = { insights: newInsights, audio: newAudio };
    await this.#store.put(`${this.#dir}${stagingChunkName(this.#tag, n)}`, JSON.stringify(chunk), {
      contentType: 'application/json',
    });
  }

  /** After the commit: the staging has served (a leftover is harmless: no manifest lists it). */
  async remove(): Promise<void> {
    if (this.#used) await removeStaging(this.#store, this.#dir);
  }
}

/** Deletes a staging area; a failure leaves a harmless leftover (no manifest lists it). */
async function removeStaging(store: ArchiveStore, dir: string): Promise<void> {
  for await (const object of store.list(dir)) await store.delete(object.key).catch(() => undefined);
}

function jsonl(rows: readonly unknown[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/**
 * Writes the manifest create-only. A 412 means another delivery of the same job committed first
 * (or our own earlier attempt did): that is success once the committed folder is reconciled.
 */
async function commitManifest(
  store: ArchiveStore,
  key: string,
  prefix: string,
  manifest: Manifest,
): Promise<ArchiveOutcome> {
  try {
    await store.put(key, prettyJson(manifest), { ifNoneMatch: '*', contentType: 'application/json' });
    return { status: 'archived', manifestKey: key, manifest, duplicate: false };
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
  }
  const reconciled = await reconcile(store, key, prefix, manifest.files);
  return { status: 'archived', manifestKey: key, manifest: reconciled.manifest, duplicate: true };
}

/**
 * Makes a committed manifest true to the stored files. When they match (our own files, or files
 * hashed from the store) nothing changes. When a racing delivery replaced files under it, each
 * replaced file is complete (every write is atomic), so the manifest is rebuilt from what is stored
 * and swapped in with a compare-and-swap: a manifest never points at a missing or different file.
 */
async function reconcile(
  store: ArchiveStore,
  key: string,
  prefix: string,
  ours?: readonly ManifestFile[],
): Promise<{ manifest: Manifest; repaired: boolean }> {
  const existing = await store.get(key);
  if (!existing) throw new Error(`The manifest ${key} exists but cannot be read`);
  const committed = parseDocument(key, existing.body, ManifestSchema);
  if (ours && sameFiles(committed.files, ours)) return { manifest: committed, repaired: false };
  const stored = await Promise.all(committed.files.map((f) => hashStored(store, prefix + f.path, f)));
  if (sameFiles(committed.files, stored)) return { manifest: committed, repaired: false };
  const repaired: Manifest = { ...committed, files: stored };
  await store.put(key, prettyJson(repaired), {
    ifMatch: existing.etag,
    contentType: 'application/json',
  });
  return { manifest: repaired, repaired: true };
}

async function hashStored(store: ArchiveStore, key: string, file: ManifestFile): Promise<ManifestFile> {
  const stream = await store.getStream(key);
  if (!stream) throw new Error(`The archived file ${key} is missing`);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { ...file, bytes, sha256: hash.digest('hex') };
}
