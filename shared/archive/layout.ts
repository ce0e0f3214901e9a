// The archive's public layout (docs/archive-format.md). Identical on S3 and in a local folder.
import type { ConversationId, RunId } from '../ids.ts';

export const MANIFEST_SCHEMA = 'amigo-qa/archive-manifest';
export const MANIFEST_SCHEMA_VERSION = 1;

export const FILES = {
  conversation: 'conversation.json',
  messages: 'messages.jsonl',
  insights: 'insights.jsonl',
  manifest: 'manifest.json',
} as const;

/** `YYYY-MM-DD` of an ISO timestamp, in UTC. */
export function utcDay(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`Not a timestamp: ${iso}`);
  return new Date(ms).toISOString().slice(0, 10);
}

export function conversationPrefix(
  organizationId: string,
  createdAt: string,
  id: ConversationId | string,
): string {
  return `conversations/org=${organizationId}/date=${utcDay(createdAt)}/conversation=${id}/`;
}

export function manifestKey(organizationId: string, createdAt: string, id: ConversationId | string): string {
  return `${conversationPrefix(organizationId, createdAt, id)}${FILES.manifest}`;
}

export function watermarkKey(organizationId: string): string {
  return `state/org=${organizationId}/watermark.json`;
}

export function runKey(runId: RunId | string): string {
  return `runs/${runId}.json`;
}

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

export function audioPath(messageId: string, contentType: string): string {
  return `audio/${messageId}.${audioExtension(contentType)}`;
}
