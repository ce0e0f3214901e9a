// The SQL tables derived from the archive (docs/tables.md): every table, its columns and their
// types, and where a part lives. Pure data: the Parquet writer (shared/tables/parquet.ts), the Glue
// tables of the stack and the laptop's DuckDB views are all built from it, so the three cannot
// disagree on a column. Column names are the archive's own field names wherever the archive has one.
import { PermanentError } from '../errors.ts';
import { ORGANIZATION_ID } from '../ids.ts';

/**
 * A column's logical type. Glue: string, int, bigint, double, boolean, timestamp, string (json).
 * Parquet: BYTE_ARRAY UTF8, INT32, INT64, DOUBLE, BOOLEAN, INT64 TIMESTAMP_MILLIS, BYTE_ARRAY JSON.
 */
export type ColumnType = 'string' | 'int32' | 'int64' | 'double' | 'boolean' | 'timestamp_ms' | 'json';

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
  readonly description: string;
}

export type TableName = 'conversations' | 'messages' | 'interactions' | 'tags' | 'stalls';

export interface TableDef {
  readonly name: TableName;
  readonly description: string;
  readonly columns: readonly ColumnDef[];
}

const col = (name: string, type: ColumnType, nullable: boolean, description: string): ColumnDef => ({
  name,
  type,
  nullable,
  description,
});

const conversationId = col('conversation_id', 'string', false, 'the conversation');

export const TABLES: readonly TableDef[] = [
  {
    name: 'conversations',
    description: 'one row per archived conversation (a committed folder)',
    columns: [
      conversationId,
      col('organization_id', 'string', false, 'the organisation (manifest)'),
      col('service_id', 'string', false, 'the service the conversation used (manifest)'),
      col('user_id', 'string', true, 'who started it (conversation.json)'),
      col('run_id', 'string', true, 'the run that archived it (manifest; null outside a run)'),
      col('created_at', 'timestamp_ms', false, 'when the conversation started (manifest)'),
      col('archived_at', 'timestamp_ms', false, 'when its folder was committed (manifest)'),
      col('is_finished', 'boolean', true, 'Amigo says it is finished (conversation.json)'),
      col('is_analyzed', 'boolean', true, 'Amigo analysed it after it finished (conversation.json)'),
      col('num_messages', 'int32', false, "Amigo's own message count (manifest `api.num_messages`)"),
      col('messages', 'int32', false, 'messages archived (manifest `counts.messages`)'),
      col('user_messages', 'int32', false, 'archived messages of type user-message'),
      col('agent_messages', 'int32', false, 'archived messages of type agent-message'),
      col('agent_inner_thoughts', 'int32', false, 'archived messages of type agent-inner-thought'),
      col('external_events', 'int32', false, 'archived messages of type external-event'),
      col('messages_by_type', 'json', false, 'manifest `counts.messages_by_type`: every type, by name'),
      col('interactions', 'int32', false, 'interactions (manifest `counts.interactions`)'),
      col('insights', 'int32', false, 'interactions with insights (manifest `counts.insights`)'),
      col('audio', 'int32', false, 'recordings archived (manifest `counts.audio`)'),
      col('voice', 'boolean', false, 'at least one message has the format voice'),
      col('flags', 'json', false, 'manifest `flags` (array; `num_messages_mismatch`)'),
      col('final_state', 'string', true, '`current_state_name` of the last interaction with insights'),
      col(
        'last_message_type',
        'string',
        true,
        'who spoke last: the type of the last user-message or agent-message',
      ),
      col(
        'tags',
        'json',
        false,
        'the tags as amigo-qa knows them: tags.json `after`, else conversation.json `tags`',
      ),
    ],
  },
  {
    name: 'messages',
    description: 'one row per archived message (messages.jsonl), every type',
    columns: [
      conversationId,
      col('message_id', 'string', false, 'the message (`id`)'),
      col('interaction_id', 'string', false, 'its interaction'),
      col(
        'position',
        'int32',
        false,
        'its 0-based line in messages.jsonl (ascending created_at, ties by id)',
      ),
      col(
        'message_type',
        'string',
        false,
        'user-message, agent-message, agent-inner-thought, external-event',
      ),
      col('format', 'string', false, 'text or voice'),
      col('sender', 'string', true, 'the sender as Amigo names it'),
      col('message', 'string', true, 'the text (health data: query it, never export it casually)'),
      col('created_at', 'timestamp_ms', false, 'when it was sent'),
      col(
        'audio_key',
        'string',
        true,
        "the archive key of its recording (relative to the archive's root), if any",
      ),
    ],
  },
  {
    name: 'interactions',
    description: 'one row per interaction with insights (insights.jsonl)',
    columns: [
      conversationId,
      col('interaction_id', 'string', false, 'the interaction'),
      col('position', 'int32', false, 'its 0-based line in insights.jsonl (conversation order)'),
      col('current_state_name', 'string', true, 'the state the interaction ended in'),
      col('current_state_action', 'string', true, "that state's action"),
      col('current_state_objective', 'string', true, "that state's objective"),
      col('state_transition_logs', 'json', false, 'the transitions, as Amigo returned them (array)'),
      col('transitions', 'int32', false, 'how many transitions'),
      col(
        'tool_calls',
        'json',
        false,
        'every tool call of the interaction (array of `source`, `tool_name`, `tool_id`, `tool_version`, `duration` in seconds, `output`)',
      ),
      col('tool_call_count', 'int32', false, 'how many tool calls'),
      col('reflections', 'json', false, 'the reflections (array of strings)'),
      col('working_memory', 'json', false, 'the working memory (array of `content`, `context`)'),
    ],
  },
  {
    name: 'tags',
    description: "one row per tag decision of the tag worker's last evaluation (tags.json)",
    columns: [
      conversationId,
      col('run_id', 'string', true, 'the run that chained the evaluation (tags.json)'),
      col('evaluated_at', 'timestamp_ms', false, 'when the rules were evaluated'),
      col('key', 'string', false, 'the tag'),
      col('value', 'string', true, 'its value (null for a removal, or a tag without value)'),
      col(
        'rule',
        'string',
        true,
        'the rule that asked for it (the last matching rule that sets or removes the key); null for a removal of a tag amigo-qa owns that no rule sets any more',
      ),
      col(
        'action',
        'string',
        false,
        '`set`, `removed`, `dropped` (see `cause`) or `unchanged` (the conversation already held it: nothing sent)',
      ),
      col(
        'cause',
        'string',
        true,
        "why it was dropped: `limit` (the 20-tag limit) or `not-owned` (the key holds someone else's value); null unless dropped",
      ),
      col('reason', 'string', true, 'why it was dropped, in words'),
      col('posted', 'boolean', false, 'whether the evaluation sent a change to Amigo (tags.json `posted`)'),
    ],
  },
  {
    name: 'stalls',
    description: 'one row per stalled interaction Amigo was asked about (stall records)',
    columns: [
      conversationId,
      col('interaction_id', 'string', false, 'the stalled interaction'),
      col('organization_id', 'string', false, 'the organisation'),
      col('service_id', 'string', false, "the conversation's service"),
      col('run_id', 'string', true, 'the run whose stall job asked'),
      col('status', 'string', false, 'the outcome: requested, recommended, rejected, failed'),
      col('conversation_created_at', 'timestamp_ms', false, 'when the conversation started'),
      col('requested_at', 'timestamp_ms', false, 'when the stall was detected and Amigo asked'),
      col('answered_at', 'timestamp_ms', true, 'when Amigo answered'),
      col('last_agent_message_id', 'string', false, 'the agent message the user never answered'),
      col('last_agent_message_at', 'timestamp_ms', false, 'when it was sent'),
      col(
        'wait_ms',
        'int64',
        false,
        'how long the user had been silent when detected (requested_at - last_agent_message_at)',
      ),
      col('num_messages', 'int32', false, "the conversation's count when it was found stalled"),
      col('recommended_responses', 'json', false, "Amigo's suggestions (array of strings)"),
      col('context', 'string', true, 'the context sent; null for the API default'),
      col('rejection_status', 'int32', true, "the HTTP status of Amigo's refusal"),
      col('error_code', 'string', true, "an unknown outcome's error code"),
      col('tag', 'json', true, "the stall tag's outcome (`key`, `value`, `status`)"),
    ],
  },
];

/** The partition columns of every table, in key order (Glue: `org` string, `date` string projected as a date). */
export const PARTITION_KEYS: readonly [{ name: 'org'; type: 'string' }, { name: 'date'; type: 'date' }] = [
  { name: 'org', type: 'string' },
  { name: 'date', type: 'date' },
];

export const TABLES_PREFIX = 'tables/';

/** The part a run writes when the archive was written outside a run (manifest or record `run_id` null). */
export const MANUAL_RUN_ID = 'manual';

/**
 * `tables/<table>/org=<org>/date=<YYYY-MM-DD>/<run-id>.parquet`. The org is a partition value Athena
 * projects from `-c organization=`: one that breaks the rule of shared/ids.ts could not be queried,
 * so it is refused here rather than written.
 */
export function tablePartKey(table: TableName, organizationId: string, date: string, runId: string): string {
  if (!ORGANIZATION_ID.test(organizationId))
    throw new PermanentError(
      `"${organizationId}" is not an organisation id: no table part is written for it`,
      {
        context: { table, date },
        hint: 'Organisation ids are letters, digits, _ and -, at most 128 characters (AMIGO_ORGANIZATION_ID)',
      },
    );
  return `${TABLES_PREFIX}${table}/org=${organizationId}/date=${date}/${runId}.parquet`;
}

/** A part's key split into its pieces; undefined for any other key. */
export function parseTablePartKey(
  key: string,
): { table: TableName; organizationId: string; date: string; runId: string } | undefined {
  const match = /^tables\/([a-z_]+)\/org=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/([^/]+)\.parquet$/.exec(key);
  if (!match) return undefined;
  const [, table = '', organizationId = '', date = '', runId = ''] = match;
  const def = TABLES.find((t) => t.name === table);
  return def && ORGANIZATION_ID.test(organizationId)
    ? { table: def.name, organizationId, date, runId }
    : undefined;
}

/** The table's definition. */
export function tableDef(name: TableName): TableDef {
  // Every TableName is in TABLES (test/unit/tables/schema.test.ts).
  return TABLES.find((t) => t.name === name) as TableDef;
}
