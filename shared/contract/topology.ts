// The pipeline's shape in one place: which functions exist, which queue feeds each, how long each
// may run, how many messages it takes at once, how many of it run at once, the environment it
// reads, and the queue settings that follow from those numbers. The CDK stack (infra/) builds the
// AWS resources from this module and the local runner (local/pipeline.ts) drives the same handlers
// with the same numbers, so the deployed pipeline and `npm start` cannot drift apart.
import type { OperationId, RateLimit } from '../openapi/index.ts';

/** Every environment variable a function may read (values are set by the stack, or by a test). */
export const ENV = {
  archiveBucket: 'ARCHIVE_BUCKET',
  archivePrefix: 'ARCHIVE_PREFIX',
  rateBudgetTable: 'RATE_BUDGET_TABLE',
  amigoSecretArn: 'AMIGO_SECRET_ARN',
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  schedulerQueueUrl: 'SCHEDULER_QUEUE_URL',
  archiveQueueUrl: 'ARCHIVE_QUEUE_URL',
  archivePriorityQueueUrl: 'ARCHIVE_PRIORITY_QUEUE_URL',
  archiveDlqUrl: 'ARCHIVE_DLQ_URL',
  tagQueueUrl: 'TAG_QUEUE_URL',
  tagDlqUrl: 'TAG_DLQ_URL',
  stallQueueUrl: 'STALL_QUEUE_URL',
  stallDlqUrl: 'STALL_DLQ_URL',
} as const;
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** What the nightly schedule sends the scheduler (the local runner starts a cycle the same way). */
export const NIGHTLY_INPUT = { tasks: ['archive', 'stalls'] } as const satisfies { tasks: string[] };
/** What the frequent stall-only schedule sends the scheduler. */
export const STALL_SCAN_INPUT = { tasks: ['stalls'] } as const satisfies { tasks: string[] };

/**
 * `archivePriority` holds the archive jobs `archive.priorities` puts first: SQS has no priority
 * within a queue, so the class is a queue of its own, which the archive worker also consumes.
 */
export const QUEUE_IDS = ['scheduler', 'archive', 'archivePriority', 'tag', 'stall'] as const;
/** A work queue; each has a dead-letter queue beside it. */
export type QueueId = (typeof QUEUE_IDS)[number];

export const FUNCTION_IDS = ['scheduler', 'archiveWorker', 'tagWorker', 'stallWorker'] as const;
export type FunctionId = (typeof FUNCTION_IDS)[number];

export interface FunctionSpec {
  readonly id: FunctionId;
  /** kebab-case name: the folder under functions/, the local runner's binding name. */
  readonly name: string;
  /** The handler module, relative to the repository root (exports `handler`). */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The queue whose messages invoke this function. */
  readonly queue: QueueId;
  /**
   * A second queue whose messages invoke it too, with an event source mapping of its own (same
   * batch size and concurrency): the archive worker's priority queue.
   */
  readonly priorityQueue?: QueueId;
  /** Messages per invocation (the event source mapping's batch size). */
  readonly batchSize: number;
  readonly env: {
    /** Read at cold start; missing: the function refuses to start, naming the variable. */
    readonly required: readonly EnvName[];
    /** Read when set (a feature the deployment may leave off). */
    readonly optional: readonly EnvName[];
  };
  /**
   * The Amigo operation whose budget bounds this function's throughput: every job spends it, and
   * it is the scarcest of the operations the function calls. `undefined`: the function's
   * concurrency is not a budget question (the scheduler, one listing at a time).
   */
  readonly boundBy: OperationId | undefined;
  /** Calls of `boundBy` one invocation keeps in flight at most. */
  readonly callsInFlight: (settings: TopologySettings) => number;
}

/** What the derived numbers depend on, from the pipeline config. */
export interface TopologySettings {
  /** Each operation's budget (the config's `amigo.rateLimits`, published limits filled in). */
  readonly rateLimits: Readonly<Record<OperationId, RateLimit>>;
  /** `archive.insightsConcurrency`. */
  readonly insightsConcurrency: number;
}

const SHARED: readonly EnvName[] = [ENV.archiveBucket, ENV.rateBudgetTable, ENV.amigoSecretArn];

export const FUNCTIONS: Readonly<Record<FunctionId, FunctionSpec>> = {
  scheduler: {
    id: 'scheduler',
    name: 'scheduler',
    entry: 'functions/scheduler/handler.ts',
    // Lambda's maximum: the listing hands its place over through its own queue before this ends.
    timeoutSeconds: 900,
    memoryMb: 512,
    queue: 'scheduler',
    // One hand-over message is one listing to continue.
    batchSize: 1,
    env: {
      required: [...SHARED, ENV.archiveQueueUrl, ENV.schedulerQueueUrl],
      // Absent: priority jobs go by the archive queue (still in the high class at the budget).
      optional: [ENV.archivePrefix, ENV.stallQueueUrl, ENV.archivePriorityQueueUrl],
    },
    boundBy: undefined,
    callsInFlight: () => 1,
  },
  archiveWorker: {
    id: 'archiveWorker',
    name: 'archive-worker',
    entry: 'functions/archive-worker/handler.ts',
    // It stops 10 s before this (a clean failure, delivered again) and streams recordings of any size.
    timeoutSeconds: 600,
    // Room for four recordings streamed at once (8 MiB multipart parts) and the CPU to hash them.
    memoryMb: 1024,
    queue: 'archive',
    priorityQueue: 'archivePriority',
    // One conversation per invocation: a conversation can take minutes at the insights limit.
    batchSize: 1,
    env: {
      required: [...SHARED, ENV.archiveQueueUrl, ENV.archiveDlqUrl, ENV.maxReceiveCount],
      optional: [ENV.archivePrefix, ENV.tagQueueUrl, ENV.archivePriorityQueueUrl],
    },
    // Insights: one call per interaction at 20/min, the bottleneck of every archive run measured.
    boundBy: 'get-interaction-insights',
    callsInFlight: (s) => s.insightsConcurrency,
  },
  tagWorker: {
    id: 'tagWorker',
    name: 'tag-worker',
    entry: 'functions/tag-worker/handler.ts',
    timeoutSeconds: 120,
    memoryMb: 512,
    queue: 'tag',
    batchSize: 5,
    env: {
      required: [...SHARED, ENV.tagQueueUrl, ENV.tagDlqUrl, ENV.maxReceiveCount],
      optional: [ENV.archivePrefix],
    },
    boundBy: 'modify-tags-of-conversation',
    callsInFlight: () => 1,
  },
  stallWorker: {
    id: 'stallWorker',
    name: 'stall-worker',
    entry: 'functions/stall-worker/handler.ts',
    timeoutSeconds: 120,
    memoryMb: 256,
    queue: 'stall',
    batchSize: 5,
    env: {
      required: [...SHARED, ENV.stallQueueUrl, ENV.stallDlqUrl, ENV.maxReceiveCount],
      optional: [ENV.archivePrefix],
    },
    boundBy: 'recommend-responses-for-interaction',
    callsInFlight: () => 1,
  },
};

/** The queues whose messages invoke `spec`: its own, then its priority queue. */
export function queuesOf(spec: FunctionSpec): QueueId[] {
  return spec.priorityQueue ? [spec.queue, spec.priorityQueue] : [spec.queue];
}

/** The function a queue feeds. */
export function consumerOf(queue: QueueId): FunctionSpec {
  const spec = Object.values(FUNCTIONS).find((f) => f.queue === queue || f.priorityQueue === queue);
  if (!spec) throw new Error(`No function consumes the ${queue} queue`);
  return spec;
}

/** AWS's advice, and the least it accepts for an event source mapping is 1x: see `queueSettings`. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** How long a dead-lettered message waits for a person (SQS's maximum). */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400;
/**
 * How long a job may wait on its queue. Jobs wait for the Amigo budget (put back with a delay, up to
 * 48 times), so the maximum, not SQS's 4-day default: a backlog must never expire unseen.
 */
export const QUEUE_RETENTION_SECONDS = 14 * 86_400;
/**
 * The assumed duration of one Amigo call plus its share of the invocation's other work (S3 writes,
 * JSON), used to size concurrency: a deliberately generous p95, so the derivation errs towards one
 * more invocation rather than an idle budget.
 */
export const AMIGO_CALL_SECONDS = 2;
/** Lambda's floor for an SQS event source mapping's maximum concurrency. */
export const MIN_EVENT_SOURCE_CONCURRENCY = 2;
/** A ceiling well under the account's default 1,000 concurrent executions. */
export const MAX_EVENT_SOURCE_CONCURRENCY = 50;

export interface QueueSettings {
  /** At least 6x the consumer's timeout: a message is never visible again while a run may still hold it. */
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  /** Receives before SQS moves a message to the dead-letter queue; the workers' MAX_RECEIVE_COUNT too. */
  readonly maxReceiveCount: number;
  readonly deadLetterRetentionSeconds: number;
}

export function queueSettings(
  queue: QueueId,
  maxReceiveCount: number,
  timeoutSeconds?: number,
): QueueSettings {
  const consumer = consumerOf(queue);
  return {
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_FACTOR * (timeoutSeconds ?? consumer.timeoutSeconds),
    retentionSeconds: QUEUE_RETENTION_SECONDS,
    maxReceiveCount,
    deadLetterRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
  };
}

/**
 * How many invocations of a function may run at once. An invocation waiting for the shared Amigo
 * budget still bills its memory, so more invocations than the budget can feed only cost money:
 * enough to keep the function's scarcest budget busy while each invocation has `callsInFlight`
 * calls out, each lasting about AMIGO_CALL_SECONDS, plus one for the work between calls.
 * At Amigo's published limits that is 2 (Lambda's floor) for the archive and stall workers and 3
 * for the tag worker (modify-tags allows 50/min); a raised limit in the config raises it. It is per
 * event source mapping: the archive worker has two (its queue and the priority queue), so up to
 * twice this runs at once when both hold jobs (Lambda's floor of 2 per mapping cannot be split).
 */
export function maxConcurrency(fn: FunctionId, settings: TopologySettings): number {
  const spec = FUNCTIONS[fn];
  if (!spec.boundBy) return MIN_EVENT_SOURCE_CONCURRENCY;
  const { limit, windowMs } = settings.rateLimits[spec.boundBy];
  const callsPerSecond = limit / (windowMs / 1000);
  const busy = Math.ceil((callsPerSecond * AMIGO_CALL_SECONDS) / Math.max(1, spec.callsInFlight(settings)));
  return Math.min(MAX_EVENT_SOURCE_CONCURRENCY, Math.max(MIN_EVENT_SOURCE_CONCURRENCY, busy + 1));
}

/**
 * The tables writer: not fed by a queue, but invoked by its own schedule (EventBridge Scheduler)
 * some minutes after the nightly run starts and then every few hours, because a night's archive
 * jobs finish over hours (each conversation waits for the insights budget) and tag decisions and
 * stall records land after them. Each invocation rewrites the Parquet parts of every run started
 * within TABLES_WRITER.lookbackHours (writeRunTables is idempotent and deterministic), so the
 * tables of a night are complete at most `everyHours` after its last job, with no bookkeeping of
 * which outcome changed.
 */
export interface TablesWriterSpec {
  readonly id: 'tablesWriter';
  readonly name: 'tables-writer';
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Hours between invocations. */
  readonly everyHours: number;
  /** Runs started this many hours before an invocation or less have their parts rewritten. */
  readonly lookbackHours: number;
  readonly env: { readonly required: readonly EnvName[]; readonly optional: readonly EnvName[] };
}

export const TABLES_WRITER: TablesWriterSpec = {
  id: 'tablesWriter',
  name: 'tables-writer',
  entry: 'functions/tables-writer/handler.ts',
  // Lambda's maximum: a night of 5,000 conversations is read folder by folder.
  timeoutSeconds: 900,
  // The bundle writes a night of 500,000 messages in 345 MiB at most (284 under the V8 limits Lambda
  // sets for 512 MB), and 100,000 in 335: flat (bench/README.md, "tables-writer"). 512 MB (488 MiB)
  // leaves 143 MiB; its 75 CPU seconds take about 4.5 minutes on 512 MB's share of a vCPU, within
  // the 15-minute timeout.
  memoryMb: 512,
  everyHours: 3,
  // A run's jobs wait for the Amigo budget up to the archive job's maximum age (hours), and a
  // run started late the previous evening still gets a rewrite the next morning.
  lookbackHours: 36,
  env: { required: [ENV.archiveBucket], optional: [ENV.archivePrefix] },
};

/** What the tables writer's schedule sends it (the local runner invokes it the same way). */
export const TABLES_WRITER_INPUT = { lookbackHours: TABLES_WRITER.lookbackHours } as const;
