// Every JSON document the pipeline stores in the archive (docs/archive-format.md), with the zod
// schema every read validates against. Field names are exactly as stored: archives written by
// earlier versions must stay readable. Documents that are read and written back (run records,
// markers, manifests on repair) are loose objects, so fields a newer version added survive an
// older version's rewrite. docs/archive-format.md is checked against DOCUMENTS by
// test/unit/archive-format/doc.test.ts: a field added here without documenting it fails the tests.
import * as z from 'zod';
import { MessageIdSchema } from '../ids.ts';
import { RecoverySchema, SchedulerCountsSchema, SetAsideSchema } from '../jobs/archive.ts';

/** `JSON.stringify` the way the human-facing documents are stored: indented, newline-terminated. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

const count = z.number().int().nonnegative();
const tags = z.record(z.string(), z.string().nullable());

// --- conversations/.../conversation=<id>/ --------------------------------------------------------

export const MANIFEST_SCHEMA = 'amigo-qa/archive-manifest';
export const MANIFEST_SCHEMA_VERSION = 1;

export const ManifestFileSchema = z.looseObject({
  path: z.string().min(1),
  bytes: count,
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  content_type: z.string(),
});
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

export const ManifestSchema = z.looseObject({
  schema: z.literal(MANIFEST_SCHEMA),
  schema_version: z.literal(MANIFEST_SCHEMA_VERSION),
  organization_id: z.string(),
  conversation_id: z.string(),
  service_id: z.string(),
  created_at: z.string(),
  archived_at: z.string(),
  run_id: z.string().nullable(),
  counts: z.looseObject({
    messages: count,
    messages_by_type: z.record(z.string(), count),
    interactions: count,
    insights: count,
    audio: count,
  }),
  api: z.looseObject({ num_messages: count }),
  flags: z.array(z.enum(['num_messages_mismatch'])),
  files: z.array(ManifestFileSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** Same files with the same bytes: the manifests describe the same archive. */
export function sameFiles(a: readonly ManifestFile[], b: readonly ManifestFile[]): boolean {
  if (a.length !== b.length) return false;
  const byPath = new Map(a.map((f) => [f.path, f]));
  return b.every((f) => {
    const other = byPath.get(f.path);
    return other !== undefined && other.sha256 === f.sha256 && other.bytes === f.bytes;
  });
}

/**
 * conversation.json: the API's conversation object, kept whole. The archive relies on its id; the
 * fields readers use are checked for their type when present (an older or partial answer may lack them).
 */
export const ConversationFileSchema = z.looseObject({
  id: z.string(),
  service_id: z.string().optional(),
  user_id: z.string().nullish(),
  is_finished: z.boolean().nullish(),
  is_analyzed: z.boolean().nullish(),
  num_messages: count.optional(),
  final_message: z.string().nullable().optional(),
  tags: z.record(z.string(), z.string().nullable()).nullable().optional(),
});
export type ConversationFile = z.infer<typeof ConversationFileSchema>;

/** One line of messages.jsonl: the API's message object, kept whole. */
export const MessageLineSchema = z.looseObject({ id: z.string(), created_at: z.string() });

/** One line of insights.jsonl. */
export const InsightLineSchema = z.looseObject({
  interaction_id: z.string(),
  /** The get-interaction-insights answer, kept whole. */
  insights: z.looseObject({}),
});

/** A recording staged by a delivery that ran out of time: its manifest entry and its message. */
export const StagedAudioSchema = ManifestFileSchema.extend({ message_id: z.string() });
export type StagedAudio = z.infer<typeof StagedAudioSchema>;

/** `_staging/chunk-<delivery tag>-NNNNN.json`: what one checkpoint of a delivery fetched. */
export const StagingChunkSchema = z.looseObject({
  insights: z.array(z.object({ interaction_id: z.string(), insights: z.unknown() })),
  audio: z.array(StagedAudioSchema),
});
export type StagingChunk = z.infer<typeof StagingChunkSchema>;

const DroppedTagSchema = z.looseObject({
  key: z.string(),
  value: z.string().nullable(),
  reason: z.string(),
  /**
   * `limit`: the 20-tag limit left it out; `not-owned`: the key holds a tag amigo-qa did not set,
   * which it never overwrites. Absent in records written before ownership (all were `limit`).
   */
  cause: z.enum(['limit', 'not-owned']).optional(),
});
export type DroppedTag = z.infer<typeof DroppedTagSchema>;
/** Tags amigo-qa set: key -> the value it set and the rule whose write won. */
const OwnedTagsSchema = z.record(
  z.string(),
  z.looseObject({ value: z.string().nullable(), rule: z.string() }),
);
export type OwnedTags = z.infer<typeof OwnedTagsSchema>;

/**
 * One rule's verdict as tags.json records it (shared/rules/evaluate.ts `RuleResult`). Not loose:
 * the record is rebuilt at every evaluation, never written back from what was read.
 */
const RuleResultSchema = z.object({
  rule: z.string(),
  matched: z.boolean(),
  reasons: z.array(
    z.object({
      condition: z.string(),
      detail: z.string(),
      messageId: z.string().optional(),
      interactionId: z.string().optional(),
    }),
  ),
  set: tags,
  remove: z.array(z.string()),
});

/** tags.json: the tag worker's last decision about a committed folder. */
export const TagsRecordSchema = z.looseObject({
  schema_version: z.literal(1),
  conversation_id: z.string(),
  evaluated_at: z.string(),
  rules_source: z.string(),
  run_id: z.string().nullable(),
  /** Tags the conversation held as far as amigo-qa knows (archived tags plus its own earlier posts). */
  before: tags,
  /** The same after this evaluation's post: the next evaluation starts from here. */
  after: tags,
  applied: z.looseObject({ updates: tags, deletes: z.array(z.string()) }),
  dropped: z.array(DroppedTagSchema),
  posted: z.boolean(),
  rejected: z.string().optional(),
  results: z.array(RuleResultSchema),
  /**
   * The tags amigo-qa set and still holds after this evaluation: key -> the value it set and the
   * rule that set it. Carried forward from one evaluation to the next; only these keys are ever
   * overwritten or removed because no rule sets them any more. Absent in records written before
   * ownership: derived then from `applied` and `results` (shared/stages/tag-ownership.ts).
   */
  owned: OwnedTagsSchema.optional(),
  /** What `before` was read from: the archived tags, the previous tags.json, or Amigo (`--live`, or after a 400). */
  planned_from: z.enum(['archive', 'record', 'live']).optional(),
});
export type TagsRecord = z.infer<typeof TagsRecordSchema>;

// --- state/org=<org>/ ----------------------------------------------------------------------------

export const WatermarkSchema = z.looseObject({
  watermark: z.string(),
  updated_at: z.string(),
  run_id: z.string().nullable(),
});
export type Watermark = z.infer<typeof WatermarkSchema>;

/** The run whose listing finished last, so that the next run can summarise it. */
export const LastRunSchema = z.looseObject({ run_id: z.string() });
export type LastRun = z.infer<typeof LastRunSchema>;

export const PENDING_SCHEMA = 'amigo-qa/pending-conversation';

const PendingFailureSchema = z.looseObject({
  code: z.string(),
  reason: z.string(),
  at: z.string(),
  run_id: z.string().nullable(),
});
export type PendingFailure = z.infer<typeof PendingFailureSchema>;

export const PendingMarkerSchema = z.looseObject({
  schema: z.literal(PENDING_SCHEMA),
  schema_version: z.literal(1),
  conversation_id: z.string(),
  /** The conversation as listed: the job is rebuilt from it without another API call. */
  conversation: z.looseObject({
    id: z.string(),
    created_at: z.string(),
    num_messages: z.number(),
    service_id: z.string(),
  }),
  first_run_id: z.string().nullable(),
  last_run_id: z.string().nullable(),
  /** Runs that enqueued it (the first included). */
  runs: z.number().int().positive(),
  enqueued_at: z.string(),
  /** The last dead-lettering, if any. */
  failure: PendingFailureSchema.nullable(),
});
export type PendingMarker = z.infer<typeof PendingMarkerSchema>;

// --- runs/ ---------------------------------------------------------------------------------------

export const ArchiveTallySchema = z.looseObject({
  archived: count,
  alreadyArchived: count,
  duplicates: count,
  failed: count,
  numMessagesMismatch: count,
  audioBytes: count,
});
export type ArchiveTally = z.infer<typeof ArchiveTallySchema>;

/** Amigo calls per operation: answered (any status) and, among them, 429s. */
const CallCountsSchema = z.record(z.string(), z.looseObject({ answered: count, throttled: count }));
/** The per-operation budget the calls were made under: `limit` calls per `window_ms`. */
const CallLimitsSchema = z.record(z.string(), z.looseObject({ limit: count, window_ms: count }));

export const RUN_USAGE_SCHEMA = 'amigo-qa/run-usage';

/** One worker invocation's Amigo calls made for one run (several per run; summed by readers). */
export const RunUsageSchema = z.looseObject({
  schema: z.literal(RUN_USAGE_SCHEMA),
  schema_version: z.literal(1),
  run_id: z.string(),
  source: z.string(),
  from: z.string(),
  to: z.string(),
  calls: CallCountsSchema,
  limits: CallLimitsSchema,
  /**
   * Among `calls`, those archive jobs made, and the conversations those jobs archived (a first
   * archive; `already-archived` does not count): the cost of one conversation is counted from the
   * same document as its calls. Absent in documents written before they were counted.
   */
  archive_calls: CallCountsSchema.optional(),
  /**
   * The archive jobs' grants by operation, and those among them that waited for the budget (a
   * quarter of the operation's slot spacing and 2 ms, or more). Absent in documents written before
   * they were counted, and when no archive job called.
   */
  archive_waits: z.record(z.string(), z.looseObject({ acquired: count, waited: count })).optional(),
  archived: count.optional(),
  /**
   * Calls made for no run (a stall-only scan and its jobs), kept beside the organisation's last run
   * for the budget outlook; not that run's calls (its record and the QA report leave them out).
   */
  between_runs: z.literal(true).optional(),
});
export type RunUsage = z.infer<typeof RunUsageSchema>;

/** A run's usage documents summed: the span from the first call to the last, calls and limits. */
export const RunAmigoSchema = z.looseObject({
  from: z.string(),
  to: z.string(),
  calls: CallCountsSchema,
  limits: CallLimitsSchema,
});
export type RunAmigo = z.infer<typeof RunAmigoSchema>;

/**
 * The operator's view of the budget, taken by the scheduler at the end of its listing
 * (shared/stages/budget-outlook.ts): the period since the previous run's outlook.
 */
export const RunOutlookSchema = z.looseObject({
  at: z.string(),
  from: z.string(),
  period_hours: z.number().nonnegative(),
  arrivals_per_hour: z.number().nonnegative(),
  archived_per_hour: z.number().nonnegative().nullable(),
  // Added with the counted minimum before a cost is claimed; absent in older outlooks.
  archived_total: count.optional(),
  operations: z.record(
    z.string(),
    z.looseObject({
      calls: count,
      limit: count,
      window_ms: count,
      budget_share: z.number().nonnegative(),
      calls_per_hour: z.number().nonnegative().nullable(),
      per_conversation: z.number().nonnegative().nullable(),
      // Added with the counted cost per conversation; absent in older outlooks.
      archive_calls_per_hour: z.number().nonnegative().nullable().optional(),
      other_calls_per_hour: z.number().nonnegative().nullable().optional(),
      drain_calls_per_hour: z.number().nonnegative().nullable().optional(),
      drain_hours: z.number().nonnegative().optional(),
      capacity_per_hour: z.number().nonnegative().nullable().optional(),
      // Added with the archive jobs' waits; absent in older outlooks.
      archive_waited_share: z.number().min(0).max(1).nullable().optional(),
    }),
  ),
  rates_hours: z.number().nonnegative().optional(),
  arrivals_hours: z.number().nonnegative().optional(),
  // Added with the sliding arrival rate; absent in older outlooks (their rate stands for a whole span).
  arrivals_window: z
    .array(z.looseObject({ hours: z.number().nonnegative(), arrivals: z.number().nonnegative() }))
    .optional(),
  arrival_profile: z
    .looseObject({
      slot_ms: z.number().positive(),
      per_hour: z.array(z.number().nonnegative().nullable()).length(24),
      samples: z.array(count).length(24),
    })
    .nullable()
    .optional(),
  arrivals: count,
  archived: count.nullable(),
  backlog: count,
  // Added with the catch-up to the runs' cadence; absent in older outlooks (the whole backlog).
  catch_up_backlog: count.optional(),
  // Added with the catch-up walked run by run (2026-12-02); absent in older outlooks (an hour).
  catch_up_cadence_hours: z.number().positive().optional(),
  given_up: count,
  oldest_waiting_since: z.string().nullable(),
  bottleneck: z.string().nullable(),
  catch_up: z.enum(['caught-up', 'estimated', 'never', 'unknown']),
  catch_up_hours: z.number().nonnegative().nullable(),
  waiting_runs: z.array(z.string()),
  // Added with the settled usage period; absent in older outlooks (the period then ran to `at`).
  usage_until: z.string().optional(),
  usage_runs: z.array(z.string()).optional(),
  partial: z.boolean(),
});
export type RunOutlook = z.infer<typeof RunOutlookSchema>;

/**
 * The last outlook taken for an organisation, kept apart from the run records: a run whose outlook
 * failed (null in its record) must not make the next one start its averages over.
 */
export const OutlookStateSchema = z.looseObject({
  run_id: z.string(),
  outlook: RunOutlookSchema,
});
export type OutlookState = z.infer<typeof OutlookStateSchema>;

export const RunRecordSchema = z.looseObject({
  run_id: z.string(),
  organization_id: z.string(),
  status: z.enum(['listing', 'listed', 'summarized']),
  started_at: z.string(),
  listed_at: z.string().nullable(),
  summarized_at: z.string().nullable(),
  cutoff: z.string().nullable(),
  watermark: z.looseObject({ previous: z.string().nullable(), next: z.string().nullable() }),
  scheduler: SchedulerCountsSchema.loose(),
  /** The workers' outcomes folded in; null until the run is summarised. */
  archive: ArchiveTallySchema.nullable(),
  /** Conversations whose archived message count differs from the API's num_messages. */
  num_messages_mismatches: z.array(z.string()),
  failures: z.array(z.looseObject({ conversation_id: z.string(), reason: z.string() })),
  /** Listed entries the API gave malformed (not archived; reasons). */
  set_aside: z.array(SetAsideSchema.loose()).optional(),
  /** What the run's start found left by earlier runs; null before the scheduler looked. */
  recovery: RecoverySchema.loose().nullable().optional(),
  /** The Amigo calls the run's functions made, summed from its usage documents when summarised. */
  amigo: RunAmigoSchema.nullable().optional(),
  /** How full the budget was since the previous run, what waits, the expected catch-up; null: not taken. */
  outlook: RunOutlookSchema.nullable().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** One worker outcome, written beside the run record so that no two workers write the same object. */
export const ArchiveOutcomeSchema = z.looseObject({
  conversation_id: z.string(),
  status: z.enum(['archived', 'already-archived', 'failed']),
  /** The conversation's created_at: where its folder is, without a listing (absent in older records). */
  created_at: z.string().optional(),
  duplicate: z.boolean().optional(),
  flags: z.array(z.string()).optional(),
  audio_bytes: count.optional(),
  reason: z.string().optional(),
  at: z.string(),
});
export type ArchiveOutcomeRecord = z.infer<typeof ArchiveOutcomeSchema>;

// --- stalled/ ------------------------------------------------------------------------------------

export const STALL_RECORD_SCHEMA = 'amigo-qa/stall-record';
export const STALL_RECORD_SCHEMA_VERSION = 1;

/**
 * `requested`: claimed, Amigo asked (or about to be); the outcome is unknown (a crash, a timeout
 * or a 5xx after the call). Never asked again: the pipeline asks at most once.
 * `recommended`: Amigo answered. `rejected`: Amigo answered 400 (the user replied meanwhile or the
 * conversation finished): a normal outcome, never retried. `failed`: Amigo refused the call in a
 * way that is not about the conversation's state (403, 404, 422); the job is dead-lettered.
 */
export const StallStatusSchema = z.enum(['requested', 'recommended', 'rejected', 'failed']);
export type StallStatus = z.infer<typeof StallStatusSchema>;

export const StallTagOutcomeSchema = z.looseObject({
  key: z.string(),
  value: z.string().nullable(),
  /** `pending`: to be written (a redelivery finishes it); `skipped`: not attempted, see `reason`. */
  status: z.enum(['pending', 'applied', 'skipped', 'rejected']),
  reason: z.string().optional(),
});
export type StallTagOutcome = z.infer<typeof StallTagOutcomeSchema>;

export const StallRecordSchema = z.looseObject({
  schema: z.literal(STALL_RECORD_SCHEMA),
  schema_version: z.literal(STALL_RECORD_SCHEMA_VERSION),
  status: StallStatusSchema,
  organization_id: z.string(),
  conversation_id: z.string(),
  interaction_id: z.string(),
  service_id: z.string(),
  conversation_created_at: z.string(),
  run_id: z.string().nullable(),
  /** When this delivery claimed the interaction, just before calling Amigo. */
  requested_at: z.string(),
  /** When Amigo answered (null while `requested`). */
  answered_at: z.string().nullable(),
  /** The context text sent; null when the API's default (the spec's default persona and scenario). */
  context: z.string().nullable(),
  recommended_responses: z.array(z.string()),
  /** The interaction's concluding agent message, as the API listed it. */
  last_agent_message: z.looseObject({
    id: MessageIdSchema,
    created_at: z.string(),
    message: z.string(),
    format: z.string(),
  }),
  /** The conversation's `num_messages` when it was found stalled. */
  num_messages: count,
  /** Set when `rejected` (400) or `failed`. */
  rejection: z.looseObject({ status: z.number().int(), detail: z.string() }).optional(),
  /** Set when the call's outcome is unknown (`requested` after an error). */
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
  /** The stall tag, when `stall.tag` is configured and Amigo recommended. */
  tag: StallTagOutcomeSchema.optional(),
});
export type StallRecord = z.infer<typeof StallRecordSchema>;

/** checked.json: the user had spoken last when the conversation held `num_messages` messages. */
export const CheckedSchema = z.looseObject({
  num_messages: count,
  verdict: z.literal('not-concluded'),
  checked_at: z.string(),
});
export type Checked = z.infer<typeof CheckedSchema>;

// --- the catalogue -------------------------------------------------------------------------------

/** A stored JSON document: where it lives (placeholders in `<>`) and what it holds. */
export interface DocumentSpec {
  /** The key, relative to the archive root; `<name>` stands for a variable segment. */
  readonly key: string;
  readonly schema: z.ZodObject;
}

const conversationFolder = 'conversations/org=<org>/date=<YYYY-MM-DD>/conversation=<id>/';
const stallFolder = 'stalled/org=<org>/date=<YYYY-MM-DD>/conversation=<id>/';

/** Every JSON document amigo-qa writes and reads back, by name. docs/archive-format.md documents each. */
export const DOCUMENTS = {
  manifest: { key: `${conversationFolder}manifest.json`, schema: ManifestSchema },
  'staging chunk': {
    key: `${conversationFolder}_staging/chunk-<delivery-tag>-<NNNNN>.json`,
    schema: StagingChunkSchema,
  },
  tags: { key: `${conversationFolder}tags.json`, schema: TagsRecordSchema },
  watermark: { key: 'state/org=<org>/watermark.json', schema: WatermarkSchema },
  'last run': { key: 'state/org=<org>/last-run.json', schema: LastRunSchema },
  'outlook state': { key: 'state/org=<org>/outlook.json', schema: OutlookStateSchema },
  'pending marker': { key: 'state/org=<org>/pending/<conversation-id>.json', schema: PendingMarkerSchema },
  'run record': { key: 'runs/<run-id>.json', schema: RunRecordSchema },
  'archive outcome': { key: 'runs/<run-id>/archive/<conversation-id>.json', schema: ArchiveOutcomeSchema },
  'run usage': { key: 'runs/<run-id>/usage/<source>-<tag>.json', schema: RunUsageSchema },
  'stall record': { key: `${stallFolder}interaction=<interaction-id>.json`, schema: StallRecordSchema },
  checked: { key: `${stallFolder}checked.json`, schema: CheckedSchema },
} as const satisfies Record<string, DocumentSpec>;

/** The archived data files (copies of API answers, recordings): keys only, their content is the API's. */
export const DATA_FILES = [
  `${conversationFolder}conversation.json`,
  `${conversationFolder}messages.jsonl`,
  `${conversationFolder}insights.jsonl`,
  `${conversationFolder}audio/<message-id>.<ext>`,
  `${conversationFolder}_staging/messages.jsonl`,
] as const;
