// The named queries: the questions QA teams ask across conversations, as SQL over the tables of
// shared/tables/schema.ts. Pure data: the stack makes each an Athena named query, the laptop's
// `query --named` runs it in DuckDB. Each is written in the subset both engines run alike: tables by
// bare name, `"date"` and `org` as strings (the partition columns), JSON through
// `json_extract_scalar` / `json_array_length` (DuckDB gets `json_extract_scalar` from
// DUCKDB_PRELUDE in shared/tables/duckdb.ts), no approx_percentile (DuckDB lacks it), no UNNEST of
// JSON (the two engines spell the cast differently). Every query is run on the demo archive by
// test/integration/tables/ and checked against an answer computed from the archive's documents.

export interface NamedQuery {
  /** kebab-case, e.g. 'stalls-per-service' */
  readonly name: string;
  readonly description: string;
  readonly sql: string;
}

/**
 * Tool calls by position: the numbers 0-999 crossed with each interaction's `tool_call_count`, so
 * the calls come out of the `tool_calls` JSON array in both engines. An interaction with more than
 * 1,000 tool calls would be counted short (docs/tables.md).
 */
const TOOL_CALLS = `WITH digits AS (
  SELECT d FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t (d)
),
positions AS (
  SELECT a.d + 10 * b.d + 100 * c.d AS n FROM digits a CROSS JOIN digits b CROSS JOIN digits c
),
calls AS (
  SELECT
    json_extract_scalar(i.tool_calls, concat('$[', CAST(p.n AS varchar), '].tool_name')) AS tool_name,
    CAST(json_extract_scalar(i.tool_calls, concat('$[', CAST(p.n AS varchar), '].duration')) AS double) AS duration
  FROM interactions i
  JOIN positions p ON p.n < i.tool_call_count
)`;

export const NAMED_QUERIES: readonly NamedQuery[] = [
  {
    name: 'stalls-per-service',
    description: 'Stalled interactions per service detected in the last 7 days, by outcome',
    sql: `SELECT
  service_id,
  count(*) AS stalled_interactions,
  count_if(status = 'recommended') AS recommended,
  count_if(status = 'rejected') AS rejected,
  count_if(status IN ('requested', 'failed')) AS unanswered
FROM stalls
WHERE requested_at >= CAST(current_timestamp - INTERVAL '7' DAY AS timestamp)
GROUP BY service_id
ORDER BY stalled_interactions DESC, service_id`,
  },
  {
    name: 'rule-matches',
    description:
      'Which rule fires most: per rule, the conversations it decided a tag for (set, removed, dropped or already held; removals by ownership have no rule and are left out)',
    sql: `SELECT
  rule,
  count(DISTINCT conversation_id) AS conversations,
  count(*) AS decisions
FROM tags
WHERE rule IS NOT NULL
GROUP BY rule
ORDER BY conversations DESC, rule`,
  },
  {
    name: 'drop-off-states',
    description:
      'Where callers drop off: the state archived conversations ended in (the last interaction with insights), per service',
    sql: `SELECT
  service_id,
  final_state,
  count(*) AS conversations
FROM conversations
WHERE final_state IS NOT NULL
GROUP BY service_id, final_state
ORDER BY conversations DESC, service_id, final_state`,
  },
  {
    name: 'tool-latency-p95',
    description:
      'p95 tool latency per tool in seconds (nearest rank), with the call count and the slowest call',
    sql: `${TOOL_CALLS},
ranked AS (
  SELECT tool_name, duration, cume_dist() OVER (PARTITION BY tool_name ORDER BY duration) AS rank_share
  FROM calls
)
SELECT
  tool_name,
  count(*) AS calls,
  min(CASE WHEN rank_share >= 0.95 THEN duration END) AS p95_seconds,
  max(duration) AS max_seconds
FROM ranked
GROUP BY tool_name
ORDER BY p95_seconds DESC, tool_name`,
  },
  {
    name: 'num-messages-mismatch',
    description: "Conversations whose archived message count differs from Amigo's num_messages",
    sql: `SELECT
  conversation_id,
  service_id,
  created_at,
  messages,
  num_messages,
  messages - num_messages AS difference
FROM conversations
WHERE messages <> num_messages
ORDER BY created_at, conversation_id`,
  },
];
