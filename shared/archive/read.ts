// Reading the archive back (docs/archive-format.md): committed folders only (manifest present),
// every data file checked against the manifest's size and sha256 before it is parsed, so a reader
// never acts on a half-written or altered folder. Used by the rule tagger and `rules test`.
import { createHash } from 'node:crypto';
import {
  ConversationFileSchema,
  InsightLineSchema,
  type Manifest,
  ManifestSchema,
  MessageLineSchema,
} from '../archive-format/documents.ts';
import { conversationsPrefix, FILES, parseManifestKey } from '../archive-format/keys.ts';
import { InvalidDocumentError, parseDocument } from '../archive-format/read-document.ts';
import { PermanentError } from '../errors.ts';
import type { ConversationInstance, InteractionInsights, MessageInstance } from '../openapi/index.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';

/** One archived conversation as the rules see it: the three data files, parsed. */
export interface ArchivedConversation {
  conversation: ConversationInstance;
  /** In the file's order (ascending created_at, ties by id). */
  messages: MessageInstance[];
  /** One entry per interaction with an agent message, in conversation order. */
  insights: Array<{ interaction_id: string; insights: InteractionInsights }>;
}

/** An archived conversation with where it came from and its manifest. */
export interface ArchivedConversationRecord extends ArchivedConversation {
  /** The folder's key prefix, ending with `/`. */
  readonly prefix: string;
  readonly manifest: Manifest;
}

/** A committed folder found by {@link listArchivedConversations}; nothing read yet but its key. */
export interface ArchivedConversationRef {
  readonly organizationId: string;
  /** The conversation's `created_at` day in UTC (`YYYY-MM-DD`), from the folder name. */
  readonly date: string;
  readonly conversationId: string;
  /** The folder's key prefix, ending with `/`. */
  readonly prefix: string;
  readonly manifestKey: string;
}

export interface ArchiveListFilter {
  /** Only these conversations. */
  readonly conversationIds?: readonly string[];
  /** Only conversations created on or after this UTC day (`YYYY-MM-DD`). */
  readonly fromDate?: string;
  /** Only conversations created on or before this UTC day (`YYYY-MM-DD`). */
  readonly toDate?: string;
}

/** A folder that cannot be read as a committed archive: missing manifest, altered or unparsable file. */
export class ArchiveReadError extends PermanentError {}

/**
 * Every committed conversation folder (its manifest exists) under `conversations/`, or under one
 * organisation's folder, in key order. Folders without a manifest are incomplete and skipped.
 */
export async function listArchivedConversations(
  store: ArchiveStore,
  organizationId?: string,
  filter: ArchiveListFilter = {},
): Promise<ArchivedConversationRef[]> {
  const wanted = filter.conversationIds ? new Set(filter.conversationIds) : undefined;
  const out: ArchivedConversationRef[] = [];
  for await (const object of store.list(conversationsPrefix(organizationId))) {
    const folder = parseManifestKey(object.key);
    if (!folder) continue;
    if (wanted && !wanted.has(folder.conversationId)) continue;
    if (filter.fromDate !== undefined && folder.date < filter.fromDate) continue;
    if (filter.toDate !== undefined && folder.date > filter.toDate) continue;
    out.push({ ...folder, manifestKey: object.key });
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Reads one committed folder (`conversations/org=<org>/date=<day>/conversation=<id>/`): the
 * manifest, then conversation.json, messages.jsonl and insights.jsonl, each verified against the
 * manifest's bytes and sha256. Throws {@link ArchiveReadError} naming the folder and the file.
 */
export async function readArchivedConversation(
  store: ArchiveStore,
  prefix: string,
): Promise<ArchivedConversationRecord> {
  const folder = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const manifestObject = await store.get(folder + FILES.manifest);
  if (!manifestObject) {
    throw new ArchiveReadError(`${folder} is not a committed archive folder: it has no ${FILES.manifest}`, {
      context: { prefix: folder },
      hint: 'A folder without a manifest is incomplete (its archive job stopped part-way); the next run rewrites it',
    });
  }
  let manifest: Manifest;
  try {
    manifest = parseDocument(folder + FILES.manifest, manifestObject.body, ManifestSchema);
  } catch (error) {
    if (!(error instanceof InvalidDocumentError)) throw error;
    throw new ArchiveReadError(
      `${folder}${FILES.manifest} is not a valid archive manifest: ${error.problem}`,
      {
        context: { prefix: folder, file: FILES.manifest },
        cause: error,
        hint: 'See docs/archive-format.md for the manifest format',
      },
    );
  }

  const read = async (file: string): Promise<string> => {
    const entry = manifest.files.find((f) => f.path === file);
    if (!entry) {
      throw new ArchiveReadError(`${folder}${FILES.manifest} does not list ${file}`, {
        context: { prefix: folder, file },
      });
    }
    const object = await store.get(folder + file);
    if (!object) {
      throw new ArchiveReadError(`${folder}${file} is missing, though the manifest lists it`, {
        context: { prefix: folder, file },
      });
    }
    const actual = sha256(object.body);
    if (actual !== entry.sha256 || object.body.byteLength !== entry.bytes) {
      throw new ArchiveReadError(
        `${folder}${file} does not match its manifest entry (sha256 ${actual.slice(0, 12)}…, ${object.body.byteLength} bytes; the manifest says ${entry.sha256.slice(0, 12)}…, ${entry.bytes} bytes)`,
        {
          context: { prefix: folder, file, sha256: actual, expectedSha256: entry.sha256 },
          hint: 'The file was changed after the folder was committed; restore it from a backup or delete the folder so the next run archives it again',
        },
      );
    }
    return object.body.toString('utf8');
  };

  const [conversationText, messagesText, insightsText] = await Promise.all([
    read(FILES.conversation),
    read(FILES.messages),
    read(FILES.insights),
  ]);

  const parsedConversation = ConversationFileSchema.safeParse(
    parseJson(conversationText, folder, FILES.conversation),
  );
  if (!parsedConversation.success) {
    throw malformed(folder, FILES.conversation, 'is not a conversation object (no id)');
  }
  // Kept whole as the API returned it: the archive checks what it relies on, the rules the rest.
  const conversation = parsedConversation.data as unknown as ConversationInstance;
  if (conversation.id !== manifest.conversation_id) {
    throw malformed(
      folder,
      FILES.conversation,
      `holds conversation ${conversation.id}, but the manifest is for ${manifest.conversation_id}`,
    );
  }
  const messages = parseJsonl(messagesText, folder, FILES.messages).map((row, i) => {
    const parsed = MessageLineSchema.safeParse(row);
    if (!parsed.success) {
      throw malformed(folder, FILES.messages, `line ${i + 1} is not a message (no id or created_at)`);
    }
    return parsed.data as unknown as MessageInstance;
  });
  const insights = parseJsonl(insightsText, folder, FILES.insights).map((row, i) => {
    const parsed = InsightLineSchema.safeParse(row);
    if (!parsed.success) {
      throw malformed(
        folder,
        FILES.insights,
        `line ${i + 1} is not {"interaction_id": ..., "insights": {...}}`,
      );
    }
    return parsed.data as unknown as { interaction_id: string; insights: InteractionInsights };
  });
  return { prefix: folder, manifest, conversation, messages, insights };
}

function malformed(folder: string, file: string, problem: string): ArchiveReadError {
  return new ArchiveReadError(`${folder}${file} ${problem}`, { context: { prefix: folder, file } });
}

function parseJson(text: string, folder: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw malformed(folder, file, `is not valid JSON: ${(error as Error).message}`);
  }
}

function parseJsonl(text: string, folder: string, file: string): unknown[] {
  const rows: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line));
    } catch (error) {
      throw malformed(folder, file, `line ${i + 1} is not valid JSON: ${(error as Error).message}`);
    }
  }
  return rows;
}
