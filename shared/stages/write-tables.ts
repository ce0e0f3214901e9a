// The SQL tables of the archive (docs/tables.md): Parquet parts under
// `tables/<table>/org=<org>/date=<day>/<run-id>.parquet`, derived from the committed conversation
// folders and the stall records, which stay the source of truth.
//
// - A run's parts: its conversations are the ones its archive workers committed, found through the
//   run's outcome records (`runs/<run-id>/archive/*.json`, which carry the folder's created_at), so
//   no listing of the archive; a folder whose manifest names another run belongs to that run's
//   part and is left out. Its stall records are the ones whose `run_id` is the run: there is no
//   per-run index of them, so the organisation's records are listed and only those written since the
//   run started are read (listStalls).
// - Archived outside a run (`run_id` null): the part is named `manual` (MANUAL_RUN_ID).
// - Each part streams into the store one row group at a time (ArchiveStore.putStream: a multipart
//   upload on S3, a temp file renamed in a folder), so it appears whole or not at all: a bad
//   document aborts the uploads of its date and leaves the previous parts as they were.
// - Rows are in a fixed order (conversations by id, then each file's order; stall records by key),
//   and the encoding has no clock in it: writing the same run again, or rebuilding, gives the same
//   bytes. A part that would be empty is not written (and an earlier one under its key removed).
import { PassThrough } from 'node:stream';
import type * as z from 'zod';
import { readArchivedConversation } from '../archive/read.ts';
import {
  ArchiveOutcomeSchema,
  ConversationFileSchema,
  type StallRecord,
  StallRecordSchema,
  TagsRecordSchema,
} from '../archive-format/documents.ts';
import {
  conversationsPrefix,
  FILES,
  interactionOfStallKey,
  outcomesPrefix,
  parseManifestKey,
  utcDay,
} from '../archive-format/keys.ts';
import { InvalidDocumentError, parseDocument, readDocument } from '../archive-format/read-document.ts';
import { mapLimit } from '../concurrency.ts';
import { runIdStartedAt } from '../ids.ts';
import type { ArchiveStore, StreamedObject } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';
import type { Log } from '../ports/telemetry.ts';
import { PartEncoder } from '../tables/parquet.ts';
import {
  type ConversationDocuments,
  conversationRow,
  InsightsRowSchema,
  interactionRows,
  MessageRowSchema,
  messageRows,
  type Row,
  stallRow,
  tagRows,
} from '../tables/rows.ts';
import {
  MANUAL_RUN_ID,
  parseTablePartKey,
  TABLES,
  TABLES_PREFIX,
  type TableName,
  tableDef,
  tablePartKey,
} from '../tables/schema.ts';

export interface WriteTablesDeps {
  readonly store: ArchiveStore;
  readonly clock: Clock;
  readonly log: Log;
  /** Rows per Parquet row group at most. @default 10_000 */
  readonly rowGroupRows?: number;
  /** Estimated encoded bytes per Parquet row group at most (shared/tables/parquet.ts). @default 8 MiB */
  readonly rowGroupBytes?: number;
  /** Conversations read at once. @default 8 */
  readonly readConcurrency?: number;
}

export interface TablePartWritten {
  readonly table: TableName;
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
}

export interface WriteTablesResult {
  /** Every part written, sorted by key. */
  readonly parts: readonly TablePartWritten[];
  /** Earlier parts removed because nothing belongs in them any more, sorted. */
  readonly removed: readonly string[];
  readonly conversations: number;
  readonly stalls: number;
  readonly ms: number;
}

/** One committed folder to read: where it is and which part it goes to. */
interface FolderRef {
  readonly organizationId: string;
  readonly date: string;
  readonly conversationId: string;
  readonly prefix: string;
  /** The part's run (`manual` outside a run); undefined when the manifest decides (rebuild). */
  readonly runId?: string;
}

const CONVERSATION_TABLES = ['conversations', 'messages', 'interactions', 'tags'] as const;

/** A part being uploaded: rows go in, row groups stream out into `store.putStream`. */
class PartUpload {
  readonly key: string;
  readonly table: TableName;
  readonly #encoder: PartEncoder;
  readonly #stream = new PassThrough();
  readonly #done: Promise<StreamedObject>;
  #bytes = 0;

  constructor(
    store: ArchiveStore,
    key: string,
    table: TableName,
    groups: { rowGroupRows?: number | undefined; rowGroupBytes?: number | undefined },
  ) {
    this.key = key;
    this.table = table;
    this.#encoder = new PartEncoder(tableDef(table), groups);
    this.#done = store.putStream(key, this.#stream, { contentType: 'application/vnd.apache.parquet' });
    // Seen by finish or abort; without a handler a failed upload would be an unhandled rejection.
    this.#done.catch(() => undefined);
  }

  async add(rows: readonly Row[]): Promise<void> {
    for (const row of rows) {
      const bytes = this.#encoder.add(row);
      if (bytes) await this.#write(bytes);
    }
  }

  async finish(): Promise<TablePartWritten> {
    await this.#write(this.#encoder.finish());
    this.#stream.end();
    await this.#done;
    return { table: this.table, key: this.key, rows: this.#encoder.rows, bytes: this.#bytes };
  }

  /** Fails the upload: the store discards what it received, so no part appears under the key. */
  async abort(error: unknown): Promise<void> {
    this.#stream.destroy(error instanceof Error ? error : new Error(String(error)));
    await this.#done.catch(() => undefined);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    this.#bytes += bytes.byteLength;
    if (this.#stream.write(bytes)) return;
    // The store reads at its own pace; a store that failed reads no more, so its failure ends the wait.
    await Promise.race([new Promise((resolve) => this.#stream.once('drain', resolve)), this.#done]);
  }
}

/** The parts of one date partition, opened when their first row arrives. */
class DateParts {
  readonly #uploads = new Map<string, PartUpload>();
  readonly #deps: WriteTablesDeps;
  readonly #organizationId: string;
  readonly #date: string;

  constructor(deps: WriteTablesDeps, organizationId: string, date: string) {
    this.#deps = deps;
    this.#organizationId = organizationId;
    this.#date = date;
  }

  async add(table: TableName, runId: string, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    const key = tablePartKey(table, this.#organizationId, this.#date, runId);
    let upload = this.#uploads.get(key);
    if (!upload) {
      upload = new PartUpload(this.#deps.store, key, table, this.#deps);
      this.#uploads.set(key, upload);
    }
    await upload.add(rows);
  }

  /** Commits every part; on a failure, aborts those not committed yet and throws. */
  async finish(): Promise<TablePartWritten[]> {
    const written: TablePartWritten[] = [];
    const uploads = [...this.#uploads.values()];
    try {
      for (const upload of uploads) written.push(await upload.finish());
    } catch (error) {
      await this.abort(error);
      throw error;
    }
    return written;
  }

  async abort(error: unknown): Promise<void> {
    await Promise.all([...this.#uploads.values()].map((u) => u.abort(error)));
  }
}

/** Reads one committed folder: the data files verified against the manifest, every line validated. */
async function readFolder(store: ArchiveStore, prefix: string): Promise<ConversationDocuments> {
  const record = await readArchivedConversation(store, prefix);
  const check = <S extends z.ZodType>(
    file: string,
    index: number,
    schema: S,
    value: unknown,
  ): z.output<S> => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const where = index < 0 ? '' : `line ${index + 1}, `;
    throw new InvalidDocumentError(
      `${prefix}${file}`,
      `${where}field ${issue?.path.join('.') || '(the document itself)'}: ${issue?.message ?? 'invalid'}`,
    );
  };
  const tags = await readDocument(store, `${prefix}${FILES.tags}`, TagsRecordSchema);
  return {
    manifest: record.manifest,
    conversation: check(FILES.conversation, -1, ConversationFileSchema, record.conversation),
    messages: record.messages.map((m, i) => check(FILES.messages, i, MessageRowSchema, m)),
    insights: record.insights.map((line, i) => check(FILES.insights, i, InsightsRowSchema, line)),
    tags,
    prefix,
  };
}

function rowsOf(table: (typeof CONVERSATION_TABLES)[number], docs: ConversationDocuments): Row[] {
  switch (table) {
    case 'conversations':
      return [conversationRow(docs)];
    case 'messages':
      return messageRows(docs);
    case 'interactions':
      return interactionRows(docs);
    case 'tags':
      return docs.tags ? tagRows(docs.tags, `${docs.prefix}${FILES.tags}`) : [];
  }
}

interface StallRef {
  readonly organizationId: string;
  readonly date: string;
  readonly key: string;
  readonly record: StallRecord;
}

/** Writes the parts of the given folders and stall records, date by date. */
async function writeParts(
  deps: WriteTablesDeps,
  folders: readonly FolderRef[],
  stalls: readonly StallRef[],
  onlyRun: string | undefined,
): Promise<{ parts: TablePartWritten[]; conversations: number }> {
  const byDate = new Map<
    string,
    { organizationId: string; date: string; folders: FolderRef[]; stalls: StallRef[] }
  >();
  const slot = (organizationId: string, date: string) => {
    const id = `${organizationId}\u0000${date}`;
    let entry = byDate.get(id);
    if (!entry) {
      entry = { organizationId, date, folders: [], stalls: [] };
      byDate.set(id, entry);
    }
    return entry;
  };
  for (const f of folders) slot(f.organizationId, f.date).folders.push(f);
  for (const s of stalls) slot(s.organizationId, s.date).stalls.push(s);

  const parts: TablePartWritten[] = [];
  let conversations = 0;
  const concurrency = deps.readConcurrency ?? 8;
  for (const id of [...byDate.keys()].sort()) {
    const entry = byDate.get(id);
    if (!entry) continue;
    const date = new DateParts(deps, entry.organizationId, entry.date);
    try {
      const sorted = [...entry.folders].sort((a, b) =>
        a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0,
      );
      // Read a few folders at once, write them in order: the rows stay sorted by conversation id.
      for (let i = 0; i < sorted.length; i += concurrency) {
        const batch = await mapLimit(sorted.slice(i, i + concurrency), concurrency, (f) =>
          readFolder(deps.store, f.prefix),
        );
        for (const docs of batch) {
          const runId = docs.manifest.run_id ?? MANUAL_RUN_ID;
          if (onlyRun !== undefined && runId !== onlyRun) {
            deps.log.warn('Archived folder belongs to another run: left to its part', {
              conversationId: docs.manifest.conversation_id,
              runId,
            });
            continue;
          }
          conversations++;
          for (const table of CONVERSATION_TABLES) await date.add(table, runId, rowsOf(table, docs));
        }
      }
      for (const stall of [...entry.stalls].sort((a, b) => (a.key < b.key ? -1 : 1))) {
        await date.add('stalls', stall.record.run_id ?? MANUAL_RUN_ID, [stallRow(stall.record, stall.key)]);
      }
      parts.push(...(await date.finish()));
    } catch (error) {
      await date.abort(error);
      throw error;
    }
  }
  return { parts, conversations };
}

/**
 * How much earlier than its run's id says a record of the run may look written: the run id is the
 * scheduler's clock, the listing time the store's (S3's, or this machine's for a folder).
 */
const CLOCK_SKEW_MS = 60 * 60_000;

const STALL_RECORD_KEY =
  /^stalled\/org=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/conversation=[^/]+\/interaction=[^/]+\.json$/;

/**
 * The stall records a build can hold, in key order, reading only those that can be in it. Records
 * sit under their conversation's `created_at` day (`stalled/org=<org>/date=<day>/...`), so:
 * - `since` (a rebuild from a day on): with an organisation, only the window's days are listed, one
 *   prefix per day up to today (a conversation found stalled was created before now); without one,
 *   `stalled/` is listed and the records of earlier days are skipped by their key, unread.
 * - `runId` (a run's parts): the key has no run in it, and the stall scan looks at unfinished
 *   conversations of any age, so no prefix narrows it: the organisation's records are listed, and a
 *   record whose listing time is before the run started (less the clock skew) cannot be the run's and
 *   is skipped unread. Only the rest are read, and kept when their `run_id` is the run. Listing the
 *   run's records alone would take a per-run index of them (the stall worker writing
 *   `runs/<run-id>/stalled/<conversation>.<interaction>.json` at its claim, as the archive worker writes
 *   its outcome records); a store that gives no listing time gets every record read.
 */
async function listStalls(
  store: ArchiveStore,
  clock: Clock,
  scope: { organizationId?: string | undefined; since?: string | undefined; runId?: string | undefined },
): Promise<StallRef[]> {
  const { organizationId, since, runId } = scope;
  const writtenFrom = runId === undefined ? undefined : runIdStartedAt(runId);
  const out: StallRef[] = [];
  for (const prefix of stallPrefixes(clock, organizationId, since)) {
    for await (const object of store.list(prefix)) {
      const match = STALL_RECORD_KEY.exec(object.key);
      if (!match || interactionOfStallKey(object.key) === undefined) continue;
      const [, org = '', date = ''] = match;
      if (since !== undefined && date < since) continue;
      if (
        writtenFrom !== undefined &&
        object.lastModified !== undefined &&
        object.lastModified < writtenFrom - CLOCK_SKEW_MS
      )
        continue;
      const found = await store.get(object.key);
      if (!found) continue; // removed since the listing (a released claim)
      const record = parseDocument(object.key, found.body, StallRecordSchema);
      if (runId !== undefined && record.run_id !== runId) continue;
      out.push({ organizationId: org, date, key: object.key, record });
    }
  }
  return out;
}

/** The prefixes under which the stall records of the scope are, in key order. */
function stallPrefixes(
  clock: Clock,
  organizationId: string | undefined,
  since: string | undefined,
): string[] {
  if (organizationId === undefined) return ['stalled/'];
  const org = `stalled/org=${organizationId}/`;
  if (since === undefined) return [org];
  const DAY = 86_400_000;
  const prefixes: string[] = [];
  for (let day = Date.parse(`${since}T00:00:00Z`); day <= clock.now(); day += DAY)
    prefixes.push(`${org}date=${new Date(day).toISOString().slice(0, 10)}/`);
  return prefixes;
}

/** Removes the parts under `prefixes` that this build did not write and `inScope` accepts. */
async function removeStale(
  store: ArchiveStore,
  prefixes: readonly string[],
  written: ReadonlySet<string>,
  inScope: (part: { organizationId: string; date: string; runId: string }) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  for (const prefix of prefixes) {
    for await (const object of store.list(prefix)) {
      const part = parseTablePartKey(object.key);
      if (!part || written.has(object.key) || !inScope(part)) continue;
      await store.delete(object.key);
      removed.push(object.key);
    }
  }
  return removed.sort();
}

function result(
  clock: Clock,
  started: number,
  parts: TablePartWritten[],
  removed: string[],
  conversations: number,
  stalls: number,
): WriteTablesResult {
  return {
    parts: [...parts].sort((a, b) => (a.key < b.key ? -1 : 1)),
    removed,
    conversations,
    stalls,
    ms: clock.now() - started,
  };
}

/**
 * Writes (replaces) every table part of one run: for each date partition the run touched, the parts
 * `tablePartKey(t, org, date, runId)` from the archive's committed folders (and stall records) of
 * that run. Idempotent; deterministic row order; write-then-commit so no half file is ever visible.
 */
export async function writeRunTables(
  deps: WriteTablesDeps,
  input: { organizationId: string; runId: string },
): Promise<WriteTablesResult> {
  const started = deps.clock.now();
  const { store } = deps;
  const { organizationId, runId } = input;
  const outcomes: Array<{ conversationId: string; createdAt: string | undefined }> = [];
  for await (const object of store.list(outcomesPrefix(runId))) {
    const found = await store.get(object.key);
    if (!found) continue;
    const outcome = parseDocument(object.key, found.body, ArchiveOutcomeSchema);
    // `already-archived`: an earlier run committed the folder, and its part holds it.
    if (outcome.status !== 'archived') continue;
    outcomes.push({ conversationId: outcome.conversation_id, createdAt: outcome.created_at });
  }
  // Outcome records written before they carried created_at: one listing finds those folders.
  let listed: Map<string, { date: string; prefix: string }> | undefined;
  const folders: FolderRef[] = [];
  for (const o of outcomes) {
    if (o.createdAt !== undefined) {
      const date = utcDay(o.createdAt);
      folders.push({
        organizationId,
        date,
        conversationId: o.conversationId,
        prefix: `${conversationsPrefix(organizationId)}date=${date}/conversation=${o.conversationId}/`,
        runId,
      });
      continue;
    }
    if (!listed) {
      listed = new Map();
      for await (const object of store.list(conversationsPrefix(organizationId))) {
        const folder = parseManifestKey(object.key);
        if (folder) listed.set(folder.conversationId, folder);
      }
    }
    const folder = listed.get(o.conversationId);
    if (folder)
      folders.push({
        organizationId,
        date: folder.date,
        conversationId: o.conversationId,
        prefix: folder.prefix,
        runId,
      });
    else
      deps.log.warn('Archived conversation has no committed folder: left out of the tables', {
        conversationId: o.conversationId,
      });
  }
  const stalls = await listStalls(store, deps.clock, { organizationId, runId });
  const { parts, conversations } = await writeParts(deps, folders, stalls, runId);
  // Parts of this run's dates that nothing belongs in now (a repeated step after a change).
  const dates = new Set([...folders.map((f) => f.date), ...stalls.map((s) => s.date)]);
  const prefixes = [...dates]
    .sort()
    .flatMap((date) => TABLES.map((t) => `${TABLES_PREFIX}${t.name}/org=${organizationId}/date=${date}/`));
  const removed = await removeStale(
    store,
    prefixes,
    new Set(parts.map((p) => p.key)),
    (p) => p.runId === runId,
  );
  const done = result(deps.clock, started, parts, removed, conversations, stalls.length);
  deps.log.info('Tables written', {
    runId,
    parts: done.parts.length,
    conversations,
    stalls: stalls.length,
    ms: done.ms,
  });
  return done;
}

/**
 * Rebuilds every part from the archive (optionally one organisation's, from a day on): every
 * committed folder and stall record into the part of its run, and removes the parts in that scope
 * that nothing belongs in any more.
 */
export async function rebuildTables(
  deps: WriteTablesDeps,
  input: { organizationId?: string; since?: string },
): Promise<WriteTablesResult> {
  const started = deps.clock.now();
  const { store } = deps;
  const { organizationId, since } = input;
  const folders: FolderRef[] = [];
  for await (const object of store.list(conversationsPrefix(organizationId))) {
    const folder = parseManifestKey(object.key);
    if (!folder || (since !== undefined && folder.date < since)) continue;
    folders.push(folder);
  }
  const stalls = await listStalls(store, deps.clock, { organizationId, since });
  const { parts, conversations } = await writeParts(deps, folders, stalls, undefined);
  const removed = await removeStale(
    store,
    [TABLES_PREFIX],
    new Set(parts.map((p) => p.key)),
    (p) =>
      (organizationId === undefined || p.organizationId === organizationId) &&
      (since === undefined || p.date >= since),
  );
  const done = result(deps.clock, started, parts, removed, conversations, stalls.length);
  deps.log.info('Tables rebuilt', {
    parts: done.parts.length,
    conversations,
    stalls: stalls.length,
    ms: done.ms,
  });
  return done;
}

/**
 * The parts of the stall records no run holds: the stall-only scans between scheduled runs write
 * them with `run_id` null, so no run's parts take them, and they go to each date's `manual` stalls
 * part, as a rebuild puts them. A round rewrites that part for every (organisation, date) with such a
 * record written since `writtenFrom` (less the clock skew), from all of the date's run-less records:
 * the same part a rebuild writes. Records written earlier are listed but not read.
 */
export async function writeScanStallTables(
  deps: WriteTablesDeps,
  input: { writtenFrom: number },
): Promise<WriteTablesResult> {
  const started = deps.clock.now();
  const { store } = deps;
  const touched = new Map<string, { organizationId: string; date: string }>();
  for await (const object of store.list('stalled/')) {
    const match = STALL_RECORD_KEY.exec(object.key);
    if (!match || interactionOfStallKey(object.key) === undefined) continue;
    const [, organizationId = '', date = ''] = match;
    const slot = `${organizationId}\u0000${date}`;
    if (touched.has(slot)) continue;
    if (object.lastModified !== undefined && object.lastModified < input.writtenFrom - CLOCK_SKEW_MS)
      continue;
    const found = await store.get(object.key);
    if (!found) continue;
    if (parseDocument(object.key, found.body, StallRecordSchema).run_id === null)
      touched.set(slot, { organizationId, date });
  }
  const parts: TablePartWritten[] = [];
  const removed: string[] = [];
  let stalls = 0;
  for (const { organizationId, date } of [...touched.values()].sort((a, b) =>
    `${a.organizationId}/${a.date}` < `${b.organizationId}/${b.date}` ? -1 : 1,
  )) {
    const dateStalls: StallRef[] = [];
    for await (const object of store.list(`stalled/org=${organizationId}/date=${date}/`)) {
      if (!STALL_RECORD_KEY.test(object.key) || interactionOfStallKey(object.key) === undefined) continue;
      const found = await store.get(object.key);
      if (!found) continue;
      const record = parseDocument(object.key, found.body, StallRecordSchema);
      if (record.run_id === null) dateStalls.push({ organizationId, date, key: object.key, record });
    }
    const written = await writeParts(deps, [], dateStalls, MANUAL_RUN_ID);
    parts.push(...written.parts);
    stalls += dateStalls.length;
    removed.push(
      ...(await removeStale(
        store,
        [`${TABLES_PREFIX}stalls/org=${organizationId}/date=${date}/`],
        new Set(written.parts.map((p) => p.key)),
        (p) => p.runId === MANUAL_RUN_ID,
      )),
    );
  }
  const done = result(deps.clock, started, parts, removed.sort(), 0, stalls);
  if (touched.size > 0)
    deps.log.info('Stall-scan tables written', { dates: touched.size, stalls, ms: done.ms });
  return done;
}
