// Where stall records live in the archive (same root as conversations/, S3 or a local folder):
//
//   stalled/org=<org>/date=<YYYY-MM-DD>/conversation=<id>/interaction=<interaction_id>.json
//
// `date` is the conversation's `created_at` day in UTC, like conversations/. One record per
// interaction Amigo was asked about (or is being asked about); its existence is what makes the
// pipeline ask for an interaction at most once, across reruns too.
import { utcDay } from '../archive/layout.ts';
import type { ConversationId, InteractionId } from '../ids.ts';
import type { LastAgentMessage } from '../jobs/stall.ts';

export const STALL_RECORD_SCHEMA = 'amigo-qa/stall-record';
export const STALL_RECORD_SCHEMA_VERSION = 1;

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

/** The interaction id of a stall record's key, or undefined when the key is not a stall record. */
export function interactionOfStallKey(key: string): string | undefined {
  return /\/interaction=([^/]+)\.json$/.exec(key)?.[1];
}

/**
 * `requested`: claimed, Amigo asked (or about to be); the outcome is unknown (a crash, a timeout
 * or a 5xx after the call). Never asked again: the pipeline asks at most once.
 * `recommended`: Amigo answered. `rejected`: Amigo answered 400 (the user replied meanwhile or the
 * conversation finished): a normal outcome, never retried. `failed`: Amigo refused the call in a
 * way that is not about the conversation's state (403, 404, 422); the job is dead-lettered.
 */
export type StallStatus = 'requested' | 'recommended' | 'rejected' | 'failed';

export interface StallTagOutcome {
  readonly key: string;
  readonly value: string | null;
  /** `pending`: to be written (a redelivery finishes it); `skipped`: not attempted, see `reason`. */
  readonly status: 'pending' | 'applied' | 'skipped' | 'rejected';
  readonly reason?: string;
}

export interface StallRecord {
  readonly schema: typeof STALL_RECORD_SCHEMA;
  readonly schema_version: typeof STALL_RECORD_SCHEMA_VERSION;
  readonly status: StallStatus;
  readonly organization_id: string;
  readonly conversation_id: string;
  readonly interaction_id: string;
  readonly service_id: string;
  readonly conversation_created_at: string;
  readonly run_id: string | null;
  /** When this delivery claimed the interaction, just before calling Amigo. */
  readonly requested_at: string;
  /** When Amigo answered (null while `requested`). */
  readonly answered_at: string | null;
  /** The context text sent; null when the API's default (the spec's default persona and scenario). */
  readonly context: string | null;
  readonly recommended_responses: string[];
  readonly last_agent_message: LastAgentMessage;
  /** The conversation's `num_messages` when it was found stalled. */
  readonly num_messages: number;
  /** Set when `rejected` (400) or `failed`. */
  readonly rejection?: { readonly status: number; readonly detail: string };
  /** Set when the call's outcome is unknown (`requested` after an error). */
  readonly error?: { readonly code: string; readonly message: string };
  /** The stall tag, when `stall.tag` is configured and Amigo recommended. */
  readonly tag?: StallTagOutcome;
}

export function parseStallRecord(body: Buffer | string): StallRecord {
  const value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as StallRecord;
  if (value?.schema !== STALL_RECORD_SCHEMA || typeof value.num_messages !== 'number') {
    throw new Error('Not an amigo-qa stall record');
  }
  return value;
}

export function serializeStallRecord(record: StallRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}
