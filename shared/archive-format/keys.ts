// Every key and file name of the archive (docs/archive-format.md), identical on S3 and in a local
// folder. Keys are relative to the archive root. Nothing else in the code spells a stored key: a
// reader and a writer that build keys here cannot disagree on where a document lives.
import type { ConversationId, InteractionId, RunId } from '../ids.ts';

/** The files of a committed conversation folder (and of its staging area). */
export const FILES = {
  conversation: 'conversation.json',
  messages: 'messages.jsonl',
  insights: 'insights.jsonl',
  manifest: 'manifest.json',
  /** Beside the committed folder, not in the manifest: the tag worker's decision. */
  tags: 'tags.json',
  /** Beside a conversation's stall records: the count at which the user had spoken last. */
  checked: 'checked.json',
} as const;

/** The sub-folder of a conversation folder where a delivery that ran out of time stages its work. */
export const STAGING_DIR = '_staging/';

/** `YYYY-MM-DD` of an ISO timestamp, in UTC. */
export function utcDay(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`Not a timestamp: ${iso}`);
  return new Date(ms).toISOString().slice(0, 10);
}

// --- conversations/ ------------------------------------------------------------------------------

/** Where every conversation folder lives, or one organisation's folders. */
export function conversationsPrefix(organizationId?: string): string {
  return organizationId === undefined ? 'conversations/' : `conversations/org=${organizationId}/`;
}

export function conversationPrefix(
  organizationId: string,
  createdAt: string,
  id: ConversationId | string,
): string {
  return `${conversationsPrefix(organizationId)}date=${utcDay(createdAt)}/conversation=${id}/`;
}

export function manifestKey(organizationId: string, createdAt: string, id: ConversationId | string): string {
  return `${conversationPrefix(organizationId, createdAt, id)}${FILES.manifest}`;
}

export function tagsKey(organizationId: string, createdAt: string, id: ConversationId | string): string {
  return `${conversationPrefix(organizationId, createdAt, id)}${FILES.tags}`;
}

/** A manifest's key, split into its folder's parts; undefined for any other key. */
export function parseManifestKey(
  key: string,
): { organizationId: string; date: string; conversationId: string; prefix: string } | undefined {
  const match = MANIFEST_KEY.exec(key);
  if (!match) return undefined;
  const [, organizationId = '', date = '', conversationId = ''] = match;
  return { organizationId, date, conversationId, prefix: key.slice(0, -FILES.manifest.length) };
}
const MANIFEST_KEY =
  /^conversations\/org=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/conversation=([^/]+)\/manifest\.json$/;

/**
 * A staged chunk's name: the delivery's own tag, so two deliveries of one job (a visibility timeout
 * that ran out) never overwrite each other's chunks, and a sequence number.
 */
export function stagingChunkName(deliveryTag: string, sequence: number): string {
  return `chunk-${deliveryTag}-${String(sequence).padStart(5, '0')}.json`;
}
export const STAGING_CHUNK = /\/chunk-[0-9a-f]{8}-\d{5}\.json$/;

const AUDIO_EXTENSIONS: Record<string, string> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/vnd.wave': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/webm': 'webm',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/flac': 'flac',
  'audio/x-flac': 'flac',
  'audio/basic': 'au',
  'audio/l16': 'pcm',
};

/** The file extension for a recording's content type (`audio/wav; codecs=1` -> `wav`); `bin` when unknown. */
export function audioExtension(contentType: string): string {
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return AUDIO_EXTENSIONS[base] ?? 'bin';
}

/** A recording's path inside its conversation folder (as the manifest lists it). */
export function audioPath(messageId: string, contentType: string): string {
  return `audio/${messageId}.${audioExtension(contentType)}`;
}

// --- state/ --------------------------------------------------------------------------------------

export function watermarkKey(organizationId: string): string {
  return `state/org=${organizationId}/watermark.json`;
}

export function lastRunKey(organizationId: string): string {
  return `state/org=${organizationId}/last-run.json`;
}

export function outlookStateKey(organizationId: string): string {
  return `state/org=${organizationId}/outlook.json`;
}

export function pendingPrefix(organizationId: string): string {
  return `state/org=${organizationId}/pending/`;
}

export function pendingKey(organizationId: string, conversationId: string): string {
  return `${pendingPrefix(organizationId)}${conversationId}.json`;
}

/** The conversation id of a pending marker's key, or undefined when the key is not a marker. */
export function conversationOfPendingKey(key: string): string | undefined {
  return /^state\/org=[^/]+\/pending\/([^/]+)\.json$/.exec(key)?.[1];
}

// --- runs/ ---------------------------------------------------------------------------------------

export function runKey(runId: RunId | string): string {
  return `runs/${runId}.json`;
}

/** Where the workers' outcomes of one run live, one object each. */
export function outcomesPrefix(runId: RunId | string): string {
  return `runs/${runId}/archive/`;
}

export function outcomeKey(runId: RunId | string, conversationId: string): string {
  return `${outcomesPrefix(runId)}${conversationId}.json`;
}

/** Where the Amigo calls made for one run are recorded, one object per worker invocation. */
export function usagePrefix(runId: RunId | string): string {
  return `runs/${runId}/usage/`;
}

/** `source` names the function (or `local`); `tag` is unique per invocation (time and random). */
export function usageKey(runId: RunId | string, source: string, tag: string): string {
  return `${usagePrefix(runId)}${source}-${tag}.json`;
}

/** The conversation id of an outcome's key, or undefined when the key is not an outcome. */
export function conversationOfOutcomeKey(key: string): string | undefined {
  return /^runs\/[^/]+\/archive\/([^/]+)\.json$/.exec(key)?.[1];
}

// --- stalled/ ------------------------------------------------------------------------------------

/** The folder of one conversation's stall records (ends with `/`). */
export function stallConversationPrefix(
  organizationId: string,
  createdAt: string,
  conversationId: ConversationId | string,
): string {
  return `stalled/org=${organizationId}/date=${utcDay(createdAt)}/conversation=${conversationId}/`;
}

export function stallKey(
  organizationId: string,
  createdAt: string,
  conversationId: ConversationId | string,
  interactionId: InteractionId | string,
): string {
  return `${stallConversationPrefix(organizationId, createdAt, conversationId)}interaction=${interactionId}.json`;
}

export function checkedKey(
  organizationId: string,
  createdAt: string,
  conversationId: ConversationId | string,
): string {
  return `${stallConversationPrefix(organizationId, createdAt, conversationId)}${FILES.checked}`;
}

/** The interaction id of a stall record's key, or undefined when the key is not a stall record. */
export function interactionOfStallKey(key: string): string | undefined {
  return /\/interaction=([^/]+)\.json$/.exec(key)?.[1];
}
