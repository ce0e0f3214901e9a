// The QA report (issue 9): a static site over the archive that a reviewer opens from disk
// (`<out>/index.html`, file://), with no server and no network. Reads only through the ArchiveStore
// port, so the same code reports a folder or an S3 bucket. It streams: one conversation is read,
// written as its own data file and dropped before the next, so memory holds only the list's small
// per-conversation entries; recordings are streamed through, never buffered.
//
// Output layout (relative to the output folder):
//   index.html, app.js, app.css      the page (shared/report/assets/), identical for every report
//   data/index.js                    the list and overview: conversations, stalls, runs, rules
//   data/conversations/<file>.js     one conversation's transcript, insights, tags; loaded on demand
//   audio/<file>/<message-id>.<ext>  the archived recordings, byte for byte (sha256 checked)
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ArchivedConversationRecord,
  listArchivedConversations,
  readArchivedConversation,
} from '../archive/read.ts';
import { readRunAmigo } from '../archive/state.ts';
import {
  type ConversationFile,
  type Manifest,
  PendingMarkerSchema,
  type RunAmigo,
  type RunRecord,
  RunRecordSchema,
  type StallRecord,
  StallRecordSchema,
  type TagsRecord,
  TagsRecordSchema,
} from '../archive-format/documents.ts';
import {
  conversationOfOutcomeKey,
  conversationOfPendingKey,
  FILES,
  interactionOfStallKey,
  outcomesPrefix,
  runKey,
} from '../archive-format/keys.ts';
import { readDocument } from '../archive-format/read-document.ts';
import { AmigoQaError, PermanentError } from '../errors.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import { conversationScript, indexScript } from './data-script.ts';

export interface ReportOptions {
  /** Only conversations (and stalls, runs) from this UTC day on (`YYYY-MM-DD`). */
  readonly since?: string | undefined;
  /** Only what this run archived, found stalled, and its run record. */
  readonly runId?: string | undefined;
  /** The time written as "generated at" (tests). @default now */
  readonly now?: Date;
}

export interface ReportSummary {
  readonly conversations: number;
  readonly unreadable: number;
  readonly stalls: number;
  readonly runs: number;
  readonly audioFiles: number;
  readonly audioBytes: number;
  /** The page to open, inside the output folder. */
  readonly entry: string;
}

/** A --run that names no run record. */
export class UnknownRunError extends PermanentError {}

/** The output folder is not one the report may write into; `problem` and `fix` say why and what to do. */
export class ReportFolderError extends PermanentError {
  readonly problem: string;
  readonly fix: string;
  constructor(problem: string, fix: string) {
    super(`${problem}. ${fix}`, { hint: fix });
    this.problem = problem;
    this.fix = fix;
  }
}

/** The file that marks a folder as a report this code wrote: only such a folder's data/ and audio/ are replaced. */
export const REPORT_MARKER = '.amigo-qa-report.json';

/**
 * The folder may take the report: it is missing (created), empty, or an earlier report (its marker
 * file). Anything else is refused, because generating replaces data/ and audio/ inside it.
 */
export async function checkReportFolder(out: string): Promise<void> {
  let entries: string[];
  try {
    const info = await stat(out);
    if (!info.isDirectory()) throw new ReportFolderError(`${out} is a file`, 'Give a folder for the report');
    entries = await readdir(out);
  } catch (error) {
    if (error instanceof ReportFolderError) throw error;
    if ((error as { code?: unknown }).code === 'ENOENT') return;
    throw new ReportFolderError(
      `${out} cannot be read (${String((error as { code?: unknown }).code ?? error)})`,
      'Give a folder you may write in',
    );
  }
  if (entries.length === 0 || entries.includes(REPORT_MARKER)) return;
  throw new ReportFolderError(
    `${out} is not empty and holds no earlier report (no ${REPORT_MARKER})`,
    'Give a new or empty folder, or the folder of an earlier report (its data/ and audio/ are replaced)',
  );
}

/** Characters of searchable text kept per conversation in the list (the detail holds all of it). */
const SEARCH_TEXT_LIMIT = 4000;

const ASSETS = ['index.html', 'app.js', 'app.css'] as const;

/** A file name for an id: the id itself when it is plain, else a hash (ids come from folder names). */
export function fileNameFor(id: string): string {
  return /^[A-Za-z0-9_-]{1,100}$/.test(id)
    ? id
    : `x-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

interface ListEntry {
  id: string;
  organization_id: string;
  date: string;
  created_at: string;
  service_id: string;
  file: string;
  messages: number;
  messages_by_type: Record<string, number>;
  interactions: number;
  insights: number;
  audio: number;
  voice: boolean;
  flags: string[];
  tags: Record<string, string | null>;
  rules: string[];
  stalled: boolean;
  run_id: string | null;
  text: string;
}

interface RuleTally {
  rule: string;
  evaluated: number;
  matched: number;
}

/** The text a message shows: `message` as the API gave it (a string), else nothing. */
function textOf(message: Record<string, unknown>): string {
  return typeof message.message === 'string' ? message.message : '';
}

/** For each tag a matched rule set or removed, the last matched rule (the one whose write survived). */
function tagOrigins(record: TagsRecord): Map<string, TagsRecord['results'][number]> {
  const out = new Map<string, TagsRecord['results'][number]>();
  for (const result of record.results) {
    if (!result.matched) continue;
    for (const key of [...Object.keys(result.set), ...result.remove]) out.set(key, result);
  }
  return out;
}

function tagView(record: TagsRecord | undefined, archived: Record<string, string | null>) {
  if (!record) {
    return {
      evaluated_at: null,
      rules_source: null,
      tags: Object.entries(archived).map(([key, value]) => ({ key, value, rule: null, reasons: [] })),
      removed: [],
      dropped: [],
      results: [],
    };
  }
  const origins = tagOrigins(record);
  const tags = Object.entries(record.after).map(([key, value]) => {
    const origin = origins.get(key);
    return {
      key,
      value,
      rule: origin?.rule ?? null,
      reasons: origin ? origin.reasons.map((r) => ({ condition: r.condition, detail: r.detail })) : [],
    };
  });
  const removed = Object.keys(record.before)
    .filter((key) => !(key in record.after))
    .map((key) => {
      const origin = origins.get(key);
      return {
        key,
        rule: origin?.rule ?? null,
        reasons: origin ? origin.reasons.map((r) => ({ condition: r.condition, detail: r.detail })) : [],
      };
    });
  return {
    evaluated_at: record.evaluated_at,
    rules_source: record.rules_source,
    tags,
    removed,
    dropped: record.dropped.map((d) => ({ key: d.key, value: d.value, reason: d.reason })),
    results: record.results.map((r) => ({
      rule: r.rule,
      matched: r.matched,
      reasons: r.reasons.map((x) => ({ condition: x.condition, detail: x.detail })),
    })),
  };
}

function stallView(record: StallRecord, archived: boolean) {
  return {
    conversation_id: record.conversation_id,
    interaction_id: record.interaction_id,
    organization_id: record.organization_id,
    service_id: record.service_id,
    conversation_created_at: record.conversation_created_at,
    status: record.status,
    run_id: record.run_id,
    requested_at: record.requested_at,
    answered_at: record.answered_at,
    num_messages: record.num_messages,
    last_agent_message: {
      id: record.last_agent_message.id,
      created_at: record.last_agent_message.created_at,
      message: record.last_agent_message.message,
      format: record.last_agent_message.format,
    },
    recommended_responses: record.recommended_responses,
    rejection: record.rejection ? { status: record.rejection.status, detail: record.rejection.detail } : null,
    archived,
  };
}

/**
 * Per operation: calls, 429s, and the share of the budget the run used: calls over what the limit
 * allowed from the run's first call to its last (at least one window).
 */
function amigoView(amigo: RunAmigo | null | undefined) {
  if (!amigo) return null;
  const spanMs = Math.max(0, Date.parse(amigo.to) - Date.parse(amigo.from));
  const operations = Object.entries(amigo.calls)
    .map(([operation, { answered, throttled }]) => {
      const limit = amigo.limits[operation];
      const allowed = limit ? limit.limit * Math.max(1, Math.ceil(spanMs / limit.window_ms)) : null;
      return {
        operation,
        calls: answered,
        throttled,
        limit: limit ? { limit: limit.limit, window_ms: limit.window_ms } : null,
        budget_used: allowed ? answered / allowed : null,
      };
    })
    .sort((a, b) => a.operation.localeCompare(b.operation));
  return { from: amigo.from, to: amigo.to, operations };
}

function runView(record: RunRecord) {
  return {
    run_id: record.run_id,
    organization_id: record.organization_id,
    status: record.status,
    started_at: record.started_at,
    listed_at: record.listed_at,
    summarized_at: record.summarized_at,
    scheduler: {
      listed: record.scheduler.listed,
      enqueued: record.scheduler.enqueued,
      alreadyArchived: record.scheduler.alreadyArchived,
      deferredUnanalyzed: record.scheduler.deferredUnanalyzed,
      failedToEnqueue: record.scheduler.failedToEnqueue,
    },
    archive: record.archive
      ? {
          archived: record.archive.archived,
          alreadyArchived: record.archive.alreadyArchived,
          failed: record.archive.failed,
          numMessagesMismatch: record.archive.numMessagesMismatch,
          audioBytes: record.archive.audioBytes,
        }
      : null,
    failures: record.failures.map((f) => ({ conversation_id: f.conversation_id, reason: f.reason })),
    num_messages_mismatches: record.num_messages_mismatches,
    amigo: amigoView(record.amigo),
    // What waited when the run's listing ended, and when it was expected to have drained.
    outlook: record.outlook
      ? {
          at: record.outlook.at,
          backlog: record.outlook.backlog,
          oldest_waiting_since: record.outlook.oldest_waiting_since,
          bottleneck: record.outlook.bottleneck,
          catch_up: record.outlook.catch_up,
          catch_up_hours: record.outlook.catch_up_hours,
        }
      : null,
  };
}

/** Groups the transcript by interaction, keeping the file's order (a new group whenever the interaction changes). */
function interactionsOf(
  record: ArchivedConversationRecord,
  audioByMessage: ReadonlyMap<string, string>,
): Array<{ id: string | null; messages: unknown[]; insights: unknown }> {
  const insightsById = new Map(record.insights.map((line) => [line.interaction_id, line.insights]));
  const groups: Array<{ id: string | null; messages: unknown[]; insights: unknown }> = [];
  for (const raw of record.messages) {
    const message = raw as unknown as Record<string, unknown>;
    const interaction = typeof message.interaction_id === 'string' ? message.interaction_id : null;
    let group = groups.at(-1);
    if (!group || group.id !== interaction) {
      group = { id: interaction, messages: [], insights: null };
      groups.push(group);
    }
    const id = String(message.id);
    group.messages.push({
      id,
      type: typeof message.message_type === 'string' ? message.message_type : 'unknown',
      sender: typeof message.sender === 'string' ? message.sender : '',
      created_at: String(message.created_at),
      format: typeof message.format === 'string' ? message.format : 'text',
      text: textOf(message),
      audio: audioByMessage.get(id) ?? null,
    });
  }
  // Insights belong to the interaction, shown once after its first group.
  const shown = new Set<string>();
  for (const group of groups) {
    if (group.id === null || shown.has(group.id)) continue;
    shown.add(group.id);
    group.insights = insightsById.get(group.id) ?? null;
  }
  return groups;
}

/** Streams one recording into the report, checking it is the manifest's bytes. */
async function copyRecording(
  store: ArchiveStore,
  key: string,
  target: string,
  expected: Manifest['files'][number],
): Promise<boolean> {
  const source = await store.getStream(key);
  if (!source) return false;
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      done(null, chunk);
    },
  });
  await pipeline(source, tap, createWriteStream(target));
  if (bytes !== expected.bytes || hash.digest('hex') !== expected.sha256) {
    await rm(target, { force: true });
    return false;
  }
  return true;
}

async function readStalls(store: ArchiveStore, options: ReportOptions): Promise<StallRecord[]> {
  const out: StallRecord[] = [];
  for await (const object of store.list('stalled/')) {
    if (!interactionOfStallKey(object.key)) continue;
    let record: StallRecord | undefined;
    try {
      record = await readDocument(store, object.key, StallRecordSchema);
    } catch (error) {
      if (error instanceof AmigoQaError) continue;
      throw error;
    }
    if (!record) continue;
    if (options.runId !== undefined && record.run_id !== options.runId) continue;
    if (options.since !== undefined && record.conversation_created_at.slice(0, 10) < options.since) continue;
    out.push(record);
  }
  return out;
}

async function readRuns(store: ArchiveStore, options: ReportOptions): Promise<RunRecord[]> {
  if (options.runId !== undefined) {
    const record = await readDocument(store, runKey(options.runId), RunRecordSchema);
    if (!record) {
      throw new UnknownRunError(`The archive has no run ${options.runId} (no ${runKey(options.runId)})`, {
        context: { runId: options.runId },
        hint: 'Give a run id from the runs/ folder of the archive, like 2026-11-26T02-00-00Z-a1b2c3',
      });
    }
    return [await withAmigo(store, record)];
  }
  const out: RunRecord[] = [];
  for await (const object of store.list('runs/')) {
    if (!/^runs\/[^/]+\.json$/.test(object.key)) continue;
    try {
      const record = await readDocument(store, object.key, RunRecordSchema);
      if (!record) continue;
      if (options.since !== undefined && record.started_at.slice(0, 10) < options.since) continue;
      out.push(record);
    } catch (error) {
      if (!(error instanceof AmigoQaError)) throw error;
    }
  }
  const withCalls: RunRecord[] = [];
  for (const record of out) withCalls.push(await withAmigo(store, record));
  return withCalls.sort((a, b) => b.started_at.localeCompare(a.started_at));
}

/** A run not summarised since its workers finished (tonight's, in AWS): its calls from the usage documents. */
async function withAmigo(store: ArchiveStore, record: RunRecord): Promise<RunRecord> {
  if (record.amigo && record.status === 'summarized') return record;
  const { amigo } = await readRunAmigo(store, record.run_id);
  return amigo ? { ...record, amigo } : record;
}

async function readPendingFailures(store: ArchiveStore) {
  const out: Array<{ conversation_id: string; code: string; reason: string; at: string; runs: number }> = [];
  for await (const object of store.list('state/')) {
    if (conversationOfPendingKey(object.key) === undefined) continue;
    try {
      const marker = await readDocument(store, object.key, PendingMarkerSchema);
      if (marker?.failure) {
        out.push({
          conversation_id: marker.conversation_id,
          code: marker.failure.code,
          reason: marker.failure.reason,
          at: marker.failure.at,
          runs: marker.runs,
        });
      }
    } catch (error) {
      if (!(error instanceof AmigoQaError)) throw error;
    }
  }
  return out;
}

async function runConversationIds(store: ArchiveStore, runId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of store.list(outcomesPrefix(runId))) {
    const id = conversationOfOutcomeKey(object.key);
    if (id) ids.push(id);
  }
  return ids;
}

/** Copies the page's three static files (shared/report/assets/) into `out`. */
async function writeAssets(out: string): Promise<void> {
  for (const name of ASSETS) {
    await copyFile(new URL(`./assets/${name}`, import.meta.url), join(out, name));
  }
}

/**
 * Writes the report for `store` into the folder `out`: a new or empty folder, or an earlier report
 * ({@link checkReportFolder}), whose `data/` and `audio/` are replaced.
 */
export async function generateReport(
  store: ArchiveStore,
  out: string,
  options: ReportOptions = {},
): Promise<ReportSummary> {
  const now = options.now ?? new Date();
  await checkReportFolder(out);
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, REPORT_MARKER),
    `${JSON.stringify({ schema: 'amigo-qa/report', generated_at: now.toISOString() })}\n`,
  );
  await rm(join(out, 'data'), { recursive: true, force: true });
  await rm(join(out, 'audio'), { recursive: true, force: true });
  await mkdir(join(out, 'data', 'conversations'), { recursive: true });
  await mkdir(join(out, 'audio'), { recursive: true });

  const runs = await readRuns(store, options);
  const stalls = await readStalls(store, options);
  const stallsByConversation = new Map<string, StallRecord[]>();
  for (const stall of stalls) {
    const list = stallsByConversation.get(stall.conversation_id) ?? [];
    list.push(stall);
    stallsByConversation.set(stall.conversation_id, list);
  }

  const filter = {
    ...(options.since !== undefined ? { fromDate: options.since } : {}),
    ...(options.runId !== undefined
      ? { conversationIds: await runConversationIds(store, options.runId) }
      : {}),
  };
  const refs = await listArchivedConversations(store, undefined, filter);
  const entries: ListEntry[] = [];
  const unreadable: Array<{ conversation_id: string; reason: string }> = [];
  const rules = new Map<string, RuleTally>();
  const dropped: Array<{ conversation_id: string; key: string; value: string | null; reason: string }> = [];
  let audioFiles = 0;
  let audioBytes = 0;

  for (const ref of refs) {
    let record: ArchivedConversationRecord;
    let tags: TagsRecord | undefined;
    try {
      record = await readArchivedConversation(store, ref.prefix);
      tags = await readDocument(store, ref.prefix + FILES.tags, TagsRecordSchema);
    } catch (error) {
      if (!(error instanceof AmigoQaError)) throw error;
      unreadable.push({ conversation_id: ref.conversationId, reason: error.message });
      continue;
    }
    const file = fileNameFor(ref.conversationId);
    const audioByMessage = new Map<string, string>();
    const recordings = record.manifest.files.filter((f) => f.path.startsWith('audio/'));
    if (recordings.length > 0) await mkdir(join(out, 'audio', file), { recursive: true });
    for (const recording of recordings) {
      const name = recording.path.slice('audio/'.length);
      const messageId = name.replace(/\.[^.]*$/, '');
      if (!/^[A-Za-z0-9_-]+\.[a-z0-9]+$/.test(name)) continue;
      if (
        await copyRecording(store, ref.prefix + recording.path, join(out, 'audio', file, name), recording)
      ) {
        audioByMessage.set(messageId, `audio/${file}/${name}`);
        audioFiles++;
        audioBytes += recording.bytes;
      }
    }

    // Validated against ConversationFileSchema when it was read.
    const conversation: ConversationFile = record.conversation;
    const archivedTags = conversation.tags ?? {};
    const tagInfo = tagView(tags, archivedTags);
    const conversationStalls = (stallsByConversation.get(ref.conversationId) ?? []).map((s) =>
      stallView(s, true),
    );
    const detail = {
      id: ref.conversationId,
      organization_id: ref.organizationId,
      created_at: record.manifest.created_at,
      archived_at: record.manifest.archived_at,
      run_id: record.manifest.run_id,
      service_id: record.manifest.service_id,
      counts: record.manifest.counts,
      api: record.manifest.api,
      flags: record.manifest.flags,
      finished: conversation.is_finished === true,
      final_message: conversation.final_message ?? null,
      interactions: interactionsOf(record, audioByMessage),
      tags: tagInfo,
      stalls: conversationStalls,
    };
    await writeFile(
      join(out, 'data', 'conversations', `${file}.js`),
      conversationScript(ref.conversationId, detail),
    );

    for (const result of tags?.results ?? []) {
      const tally = rules.get(result.rule) ?? { rule: result.rule, evaluated: 0, matched: 0 };
      tally.evaluated++;
      if (result.matched) tally.matched++;
      rules.set(result.rule, tally);
    }
    for (const d of tags?.dropped ?? []) {
      dropped.push({ conversation_id: ref.conversationId, key: d.key, value: d.value, reason: d.reason });
    }
    let text = '';
    for (const raw of record.messages) {
      const message = raw as unknown as Record<string, unknown>;
      if (message.message_type !== 'user-message' && message.message_type !== 'agent-message') continue;
      if (text.length >= SEARCH_TEXT_LIMIT) break;
      text += `${textOf(message)}\n`;
    }
    entries.push({
      id: ref.conversationId,
      organization_id: ref.organizationId,
      date: ref.date,
      created_at: record.manifest.created_at,
      service_id: record.manifest.service_id,
      file,
      messages: record.manifest.counts.messages,
      messages_by_type: record.manifest.counts.messages_by_type,
      interactions: record.manifest.counts.interactions,
      insights: record.manifest.counts.insights,
      audio: record.manifest.counts.audio,
      voice: record.messages.some((m) => m.format === 'voice'),
      flags: record.manifest.flags,
      tags: tags ? tags.after : archivedTags,
      rules: (tags?.results ?? []).filter((r) => r.matched).map((r) => r.rule),
      stalled: conversationStalls.length > 0,
      run_id: record.manifest.run_id,
      text: text.slice(0, SEARCH_TEXT_LIMIT),
    });
  }

  const archivedIds = new Set(entries.map((e) => e.id));
  const index = {
    schema: 'amigo-qa/report-index',
    schema_version: 1,
    generated_at: now.toISOString(),
    filter: { since: options.since ?? null, run_id: options.runId ?? null },
    conversations: entries,
    unreadable,
    stalls: stalls.map((s) => stallView(s, archivedIds.has(s.conversation_id))),
    runs: runs.map(runView),
    pending_failures: options.runId === undefined ? await readPendingFailures(store) : [],
    rules: [...rules.values()],
    dropped_tags: dropped,
  };
  await writeFile(join(out, 'data', 'index.js'), indexScript(index));
  await writeAssets(out);
  return {
    conversations: entries.length,
    unreadable: unreadable.length,
    stalls: stalls.length,
    runs: runs.length,
    audioFiles,
    audioBytes,
    entry: join(out, 'index.html'),
  };
}
