// The names the functions publish metrics under and the CDK stack alarms on: one list, so an
// alarm can never watch a metric nobody emits. No Powertools here: the stack reads it at synth.
export const SERVICE_NAME = 'amigo-qa';
export const METRICS_NAMESPACE = 'AmigoQa';

/** Metric names (dimension `service`; the Amigo call metrics also `operation`). */
export const METRIC = {
  archived: 'ConversationsArchived',
  alreadyArchived: 'ConversationsAlreadyArchived',
  archiveFailed: 'ConversationArchiveFailures',
  numMessagesMismatch: 'NumMessagesMismatch',
  audioBytes: 'AudioBytesArchived',
  throttleDeferrals: 'ThrottleDeferrals',
  enqueued: 'ArchiveJobsEnqueued',
  deadLettered: 'JobsDeadLettered',
  tagsPosted: 'TagPosts',
  tagsDropped: 'TagsDroppedAtLimit',
  stallsEnqueued: 'StallJobsEnqueued',
  stallScanFailures: 'StallScanFailures',
  recommendationsRequested: 'RecommendationsRequested',
  recommendationsRejected: 'RecommendationsRejected',
  /** Per `operation` dimension: calls Amigo answered, and the 429s among them. */
  amigoCalls: 'AmigoCalls',
  amigoThrottled: 'AmigoThrottled',
  /** A job whose delivery ran out of time continued in a new one (a long conversation). */
  continuations: 'JobContinuations',
  /**
   * The scheduler finished a full-lookback listing (the nightly run's; the watermark may move): the
   * freshness alarm's heartbeat. The hourly runs' short listings are not counted.
   */
  listingsCompleted: 'ListingsCompleted',
  /**
   * The budget outlook, once per completed listing (shared/stages/budget-outlook.ts): per
   * `operation` dimension the share of its budget used since the previous run (1 = all of it), the
   * conversations waiting, and the expected hours until none waits (CATCH_UP_NEVER_HOURS: never).
   */
  budgetUsedShare: 'BudgetUsedShare',
  backlog: 'Backlog',
  catchUpHours: 'CatchUpHours',
  /** Parquet parts the tables writer wrote in one round (the SQL tables, docs/query.md). */
  tablePartsWritten: 'TablePartsWritten',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** CatchUpHours when the backlog never drains at this rate (the outlook's `never`). */
export const CATCH_UP_NEVER_HOURS = 9_999;
