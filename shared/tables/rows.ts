// The rows of each table, from one conversation's archived documents (and one stall record): pure
// functions, so that what a column holds is decided here alone and tested without a store.
// Timestamps become epoch milliseconds; nested values stay as values (the writer stores them as
// JSON). Rows come out in a fixed order (messages and interactions in their file order, tag
// decisions by key), so a rebuild gives the same rows in the same order.
import * as z from 'zod';
import {
  type ConversationFile,
  InsightLineSchema,
  type Manifest,
  MessageLineSchema,
  type StallRecord,
  type TagsRecord,
} from '../archive-format/documents.ts';
import { FILES } from '../archive-format/keys.ts';
import { InvalidDocumentError } from '../archive-format/read-document.ts';

/** One row: column name to value (null for a missing nullable value). */
export type Row = Record<string, unknown>;

/** The fields of a message line the tables read (the API's MessageInstance; the line is kept whole). */
export const MessageRowSchema = MessageLineSchema.extend({
  interaction_id: z.string(),
  message_type: z.string(),
  format: z.string(),
  sender: z.string().nullish(),
  message: z.string().nullish(),
});
export type MessageLine = z.infer<typeof MessageRowSchema>;

const list = z.array(z.unknown()).nullish();
const toolCallLog = z.looseObject({
  tool_name: z.string().nullish(),
  tool_id: z.string().nullish(),
  tool_version: z.string().nullish(),
  duration: z.number().nullish(),
  output: z.string().nullish(),
});
const toolGroups = z.array(z.array(toolCallLog)).nullish();

/** The fields of an insights answer the tables read. */
export const InsightsRowSchema = InsightLineSchema.extend({
  insights: z.looseObject({
    current_state_name: z.string().nullish(),
    current_state_action: z.string().nullish(),
    current_state_objective: z.string().nullish(),
    state_transition_logs: z
      .array(
        z.looseObject({
          tool_call_logs: toolGroups,
          designated_tool_call_log: toolCallLog.nullish(),
        }),
      )
      .nullish(),
    select_next_action_tool_call_logs: toolGroups,
    engage_user_tool_call_logs: toolGroups,
    reflections: list,
    working_memory: list,
  }),
});
export type InsightsLine = z.infer<typeof InsightsRowSchema>;

/** Everything archived about one conversation that the tables read. */
export interface ConversationDocuments {
  readonly manifest: Manifest;
  readonly conversation: ConversationFile;
  readonly messages: readonly MessageLine[];
  readonly insights: readonly InsightsLine[];
  /** tags.json, when the tag worker has written one. */
  readonly tags: TagsRecord | undefined;
  /** The conversation folder's key prefix (ends with `/`), for the recordings' keys. */
  readonly prefix: string;
}

/** Epoch milliseconds of a stored timestamp; a bad one names the document's key and the field. */
function ms(iso: string, key: string, field: string): number {
  const value = Date.parse(iso);
  if (!Number.isFinite(value)) throw new InvalidDocumentError(key, `field ${field}: not a timestamp`);
  return value;
}

const SPOKEN = new Set(['user-message', 'agent-message']);

export function conversationRow(docs: ConversationDocuments): Row {
  const { manifest, conversation, messages, insights, tags } = docs;
  const byType = manifest.counts.messages_by_type;
  const lastSpoken = messages.findLast((m) => SPOKEN.has(m.message_type));
  return {
    conversation_id: manifest.conversation_id,
    organization_id: manifest.organization_id,
    service_id: manifest.service_id,
    user_id: conversation.user_id ?? null,
    run_id: manifest.run_id,
    created_at: ms(manifest.created_at, `${docs.prefix}${FILES.manifest}`, 'created_at'),
    archived_at: ms(manifest.archived_at, `${docs.prefix}${FILES.manifest}`, 'archived_at'),
    is_finished: conversation.is_finished ?? null,
    is_analyzed: conversation.is_analyzed ?? null,
    num_messages: manifest.api.num_messages,
    messages: manifest.counts.messages,
    user_messages: byType['user-message'] ?? 0,
    agent_messages: byType['agent-message'] ?? 0,
    agent_inner_thoughts: byType['agent-inner-thought'] ?? 0,
    external_events: byType['external-event'] ?? 0,
    messages_by_type: byType,
    interactions: manifest.counts.interactions,
    insights: manifest.counts.insights,
    audio: manifest.counts.audio,
    voice: messages.some((m) => m.format === 'voice'),
    flags: manifest.flags,
    final_state: insights.at(-1)?.insights.current_state_name ?? null,
    last_message_type: lastSpoken?.message_type ?? null,
    tags: tags?.after ?? conversation.tags ?? {},
  };
}

export function messageRows(docs: ConversationDocuments): Row[] {
  // A recording's path is `audio/<message-id>.<ext>`: the manifest lists each, so look it up by id.
  const audio = new Map<string, string>();
  for (const file of docs.manifest.files) {
    if (!file.path.startsWith('audio/')) continue;
    const id = file.path.slice('audio/'.length).replace(/\.[^.]*$/, '');
    audio.set(id, file.path);
  }
  return docs.messages.map((m, position) => {
    const path = audio.get(m.id);
    return {
      conversation_id: docs.manifest.conversation_id,
      message_id: m.id,
      interaction_id: m.interaction_id,
      position,
      message_type: m.message_type,
      format: m.format,
      sender: m.sender ?? null,
      message: m.message ?? null,
      created_at: ms(m.created_at, `${docs.prefix}${FILES.messages}`, `created_at of message ${m.id}`),
      audio_key: path === undefined ? null : `${docs.prefix}${path}`,
    };
  });
}

type ToolCallLog = z.infer<typeof toolCallLog>;

/** Every tool call of an interaction, in the rules' order (shared/rules/evaluate.ts): transitions first. */
export function toolCalls(insights: InsightsLine['insights']): Row[] {
  const out: Row[] = [];
  const add = (source: string, log: ToolCallLog) =>
    out.push({
      source,
      tool_name: log.tool_name ?? null,
      tool_id: log.tool_id ?? null,
      tool_version: log.tool_version ?? null,
      duration: log.duration ?? null,
      output: log.output ?? null,
    });
  for (const transition of insights.state_transition_logs ?? []) {
    for (const group of transition.tool_call_logs ?? []) for (const log of group) add('transition', log);
    if (transition.designated_tool_call_log) add('transition', transition.designated_tool_call_log);
  }
  for (const group of insights.select_next_action_tool_call_logs ?? [])
    for (const log of group) add('select-next-action', log);
  for (const group of insights.engage_user_tool_call_logs ?? [])
    for (const log of group) add('engage-user', log);
  return out;
}

export function interactionRows(docs: ConversationDocuments): Row[] {
  return docs.insights.map(({ interaction_id, insights }, position) => {
    const calls = toolCalls(insights);
    const transitions = insights.state_transition_logs ?? [];
    return {
      conversation_id: docs.manifest.conversation_id,
      interaction_id,
      position,
      current_state_name: insights.current_state_name ?? null,
      current_state_action: insights.current_state_action ?? null,
      current_state_objective: insights.current_state_objective ?? null,
      state_transition_logs: transitions,
      transitions: transitions.length,
      tool_calls: calls,
      tool_call_count: calls.length,
      reflections: insights.reflections ?? [],
      working_memory: insights.working_memory ?? [],
    };
  });
}

/**
 * One row per tag decision of tags.json, sorted by key. For each key a matched rule sets or removes,
 * the last such rule in file order decides (as shared/rules/evaluate.ts resolves them); its decision
 * is `set` (in `applied.updates`), `removed` (in `applied.deletes`), `dropped` (in `dropped`: the
 * 20-tag limit, or a key someone else holds, told apart by `cause`) or `unchanged` (the conversation
 * already held it, so nothing was sent). A delete no matched rule asked for is amigo-qa's own tag that
 * no rule sets any more (docs/rules.md, tags amigo-qa owns): `removed` with no rule.
 */
export function tagRows(record: TagsRecord, key: string): Row[] {
  const decider = new Map<string, { rule: string; value: string | null }>();
  for (const result of record.results) {
    if (!result.matched) continue;
    for (const [key, value] of Object.entries(result.set)) decider.set(key, { rule: result.rule, value });
    for (const key of result.remove) decider.set(key, { rule: result.rule, value: null });
  }
  const dropped = new Map(record.dropped.map((d) => [d.key, d]));
  const deletes = new Set(record.applied.deletes);
  const base = {
    conversation_id: record.conversation_id,
    run_id: record.run_id,
    evaluated_at: ms(record.evaluated_at, key, 'evaluated_at'),
    posted: record.posted,
  };
  const rows: Row[] = [];
  for (const key of [...new Set([...decider.keys(), ...deletes])].sort()) {
    const decision = decider.get(key);
    const drop = dropped.get(key);
    const action = drop
      ? 'dropped'
      : deletes.has(key)
        ? 'removed'
        : Object.hasOwn(record.applied.updates, key)
          ? 'set'
          : 'unchanged';
    rows.push({
      ...base,
      key,
      value: action === 'removed' ? null : drop ? drop.value : (decision?.value ?? null),
      rule: decision?.rule ?? null,
      action,
      // Records written before ownership dropped at the limit only, and carry no cause.
      cause: drop ? (drop.cause ?? 'limit') : null,
      reason: drop?.reason ?? null,
    });
  }
  return rows;
}

/** A stall record's row; `key` is where the record is stored (named when a field is bad). */
export function stallRow(record: StallRecord, key: string): Row {
  const requestedAt = ms(record.requested_at, key, 'requested_at');
  const lastAt = ms(record.last_agent_message.created_at, key, 'last_agent_message.created_at');
  return {
    conversation_id: record.conversation_id,
    interaction_id: record.interaction_id,
    organization_id: record.organization_id,
    service_id: record.service_id,
    run_id: record.run_id,
    status: record.status,
    conversation_created_at: ms(record.conversation_created_at, key, 'conversation_created_at'),
    requested_at: requestedAt,
    answered_at: record.answered_at === null ? null : ms(record.answered_at, key, 'answered_at'),
    last_agent_message_id: record.last_agent_message.id,
    last_agent_message_at: lastAt,
    wait_ms: requestedAt - lastAt,
    num_messages: record.num_messages,
    recommended_responses: record.recommended_responses,
    context: record.context,
    rejection_status: record.rejection?.status ?? null,
    error_code: record.error?.code ?? null,
    tag: record.tag ?? null,
  };
}
