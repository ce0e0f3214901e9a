// One nightly cycle on this machine: the same scheduler and worker handlers as in Lambda, driven
// by the local SQS runtime over the real SQS wire protocol of an embedded emulator (127.0.0.1
// only). The archive goes to a folder (or to S3 when given s3://bucket/prefix).

import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { createArchiveWorkerHandler } from '../functions/archive-worker/handler.ts';
import { createSchedulerHandler, type SchedulerOutput } from '../functions/scheduler/handler.ts';
import { createStallWorkerHandler } from '../functions/stall-worker/handler.ts';
import { createTagWorkerHandler } from '../functions/tag-worker/handler.ts';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../shared/adapters/s3-archive-store.ts';
import { SqsDeadLetters } from '../shared/adapters/sqs-dead-letters.ts';
import { SqsJobQueue } from '../shared/adapters/sqs-job-queue.ts';
import { AmigoClient } from '../shared/amigo/client.ts';
import type { AmigoClientConfig } from '../shared/amigo/config.ts';
import { SlidingWindowRateBudget } from '../shared/amigo/rate-limit.ts';
import { summarizeRun, writeRunUsage } from '../shared/archive/state.ts';
import type { RunRecord } from '../shared/archive-format/documents.ts';
import type { PipelineConfig } from '../shared/config/pipeline-config.ts';
import { loadRules } from '../shared/config/source-file.ts';
import {
  consumerOf,
  FUNCTION_IDS,
  FUNCTIONS,
  type FunctionId,
  maxConcurrency,
  NIGHTLY_INPUT,
  QUEUE_IDS,
  type QueueId,
  type QueueSettings,
  queueSettings,
  type TopologySettings,
} from '../shared/contract/topology.ts';
import { ConfigurationError } from '../shared/errors.ts';
import {
  type ArchiveJobMessage,
  archiveJobQueue,
  type ContinueListingMessage,
} from '../shared/jobs/archive.ts';
import type { StallJobMessage } from '../shared/jobs/stall.ts';
import type { TagJobMessage } from '../shared/jobs/tag.ts';
import type { ArchiveStore } from '../shared/ports/archive-store.ts';
import { type Clock, systemClock } from '../shared/ports/clock.ts';
import type { RateBudget } from '../shared/ports/rate-budget.ts';
import type { RuleSet } from '../shared/rules/index.ts';
import { MeteredRateBudget } from '../shared/runtime/metered-budget.ts';
import type { TagOutcome } from '../shared/stages/apply-tags.ts';
import type { FindStallsCounts } from '../shared/stages/find-stalls.ts';
import type { FailureReason, PutBack } from '../shared/stages/job-fate.ts';
import type { ScheduleResult } from '../shared/stages/schedule-archive.ts';
import { startLocalAws } from './fauxqs.ts';
import { createQueueWithDlq, LocalSqsRuntime, type QueueBinding, type RuntimeEvents } from './sqs-runtime.ts';

export interface LocalCycleOptions {
  readonly config: PipelineConfig;
  readonly amigo: AmigoClientConfig;
  /** A folder, or `s3://bucket/prefix` (real S3, or an emulator named by AWS_ENDPOINT_URL_S3). */
  readonly archive: string;
  /** Use this store instead of opening `archive` (tests). */
  readonly store?: ArchiveStore;
  /** Rules to tag with, instead of the config's `rules` file. */
  readonly rules?: RuleSet;
  readonly clock?: Clock;
  readonly events?: RuntimeEvents & {
    onListed?(result: ScheduleResult): void;
    /** A worker put a job back to wait for Amigo (throttling or maintenance). */
    onPutBack?(worker: string, putBack: PutBack): void;
  };
  /**
   * Function timeouts that differ from the deployed ones (tests); queue visibility follows them as
   * in AWS. @default each function's timeout in shared/contract/topology.ts
   */
  readonly timeoutsMs?: Partial<Record<FunctionId, number>>;
  /**
   * Stops the cycle (Ctrl-C): no new invocation starts, running ones get a few seconds, and the
   * result says what was done. What was not, the next run picks up (pending markers).
   */
  readonly signal?: AbortSignal;
  /** Tests: a fixed range for the delay of jobs put back after Amigo throttled them. @default as in AWS (Retry-After, else a backoff) */
  readonly deferralSeconds?: readonly [number, number];
  /** Benches: the in-process budget's reserve for high callers (0: none). @default the config's `amigo.priorityReserve` */
  readonly reserveShare?: number;
  /**
   * Benches: each function's own rate budget and client, as each Lambda function builds its own in
   * AWS (e.g. a DynamoDB budget sharing one table). @default one in-process budget and client for all
   */
  readonly rateBudgetFor?: (fn: FunctionId) => RateBudget;
}

export interface DeadLetter {
  readonly queue: string;
  readonly conversationId: string | undefined;
  readonly code: string;
  readonly reason: string;
}

export interface LocalCycleResult {
  readonly runId: string;
  /** The cycle was stopped before its queues drained (`signal`). */
  readonly interrupted: boolean;
  /** What stall detection found (undefined when it did not run); when it failed, before it did. */
  readonly stalls: FindStallsCounts | undefined;
  /** Why the stall scan failed (undefined when it did not, or did not run). */
  readonly stallScanFailed: FailureReason | undefined;
  /** Stall records written during this cycle, by status. */
  readonly recommendations: Record<string, number>;
  /** What the tag worker did (undefined when no rules are configured). */
  readonly tagging: TagTally | undefined;
  readonly record: RunRecord;
  readonly deadLetters: DeadLetter[];
  readonly archive: string;
  readonly seconds: number;
}

/**
 * A folder, or `s3://bucket/prefix` through the AWS SDK's default credential chain (an emulator
 * can be named with AWS_ENDPOINT_URL_S3, which the SDK reads itself).
 */
export function openArchiveStore(target: string, env: NodeJS.ProcessEnv = process.env): ArchiveStore {
  if (!target.startsWith('s3://')) return new FsArchiveStore(resolve(target));
  const [bucket = '', ...rest] = target.slice('s3://'.length).split('/');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigurationError(
      '--archive',
      `"${target}" does not name a valid S3 bucket`,
      'Write it as s3://bucket/prefix',
    );
  }
  const client = new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL) });
  const prefix = rest.filter(Boolean).join('/');
  return new S3ArchiveStore({ client, bucket, ...(prefix ? { prefix } : {}) });
}

function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function drainDeadLetters(sqs: SQSClient, queue: string, url: string): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 300,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return out;
    for (const m of Messages) {
      let conversationId: string | undefined;
      try {
        conversationId = (JSON.parse(m.Body ?? '{}') as { conversationId?: string }).conversationId;
      } catch {
        conversationId = undefined;
      }
      out.push({
        queue,
        conversationId,
        code: m.MessageAttributes?.['failure-code']?.StringValue ?? 'MaxReceiveCount',
        reason: m.MessageAttributes?.['failure-reason']?.StringValue ?? 'delivered too often without success',
      });
    }
  }
}

export interface TagTally {
  evaluated: number;
  posted: number;
  rejected: number;
  tagsSet: number;
  tagsDeleted: number;
  dropped: number;
  /** Rule name -> conversations it matched. */
  matches: Record<string, number>;
}

/**
 * Folds tag outcomes per conversation: a duplicate delivery evaluates a conversation again (and
 * posts nothing), which must not count it twice.
 */
function tallyTags(outcomes: ReadonlyMap<string, TagOutcome[]>): TagTally {
  const tally: TagTally = {
    evaluated: 0,
    posted: 0,
    rejected: 0,
    tagsSet: 0,
    tagsDeleted: 0,
    dropped: 0,
    matches: {},
  };
  for (const list of outcomes.values()) {
    const last = list.at(-1) as TagOutcome;
    tally.evaluated++;
    if (list.some((o) => o.status === 'posted')) tally.posted++;
    if (last.status === 'rejected') tally.rejected++;
    for (const o of list) {
      tally.tagsSet += Object.keys(o.record.applied.updates).length;
      tally.tagsDeleted += o.record.applied.deletes.length;
    }
    tally.dropped += last.plan.diff.dropped.length; // at the limit only: a key left to its owner is not a drop
    for (const result of last.record.results) {
      if (result.matched) tally.matches[result.rule] = (tally.matches[result.rule] ?? 0) + 1;
    }
  }
  return tally;
}

export interface LocalTopology {
  readonly queues: Readonly<Record<QueueId, QueueSettings>>;
  readonly functions: Readonly<
    Record<
      FunctionId,
      { readonly batchSize: number; readonly concurrency: number; readonly functionTimeoutMs: number }
    >
  >;
}

/**
 * The numbers a local cycle runs with: the deployed ones (shared/contract/topology.ts), so the queues'
 * visibility (6x the consumer's timeout), retention and receive count, the batch sizes, the
 * concurrency and the timeouts are what the stack gives AWS. `run.workers` may set the archive
 * worker's concurrency on a laptop; `timeoutsMs` shortens timeouts in tests (visibility follows).
 */
export function localTopology(
  config: PipelineConfig,
  rateLimits: TopologySettings['rateLimits'],
  timeoutsMs: Partial<Record<FunctionId, number>> = {},
): LocalTopology {
  const settings: TopologySettings = { rateLimits, insightsConcurrency: config.archive.insightsConcurrency };
  const timeoutMs = (fn: FunctionId) => timeoutsMs[fn] ?? FUNCTIONS[fn].timeoutSeconds * 1000;
  const functions = Object.fromEntries(
    FUNCTION_IDS.map((fn) => [
      fn,
      {
        batchSize: FUNCTIONS[fn].batchSize,
        concurrency: (fn === 'archiveWorker' ? config.run.workers : null) ?? maxConcurrency(fn, settings),
        functionTimeoutMs: timeoutMs(fn),
      },
    ]),
  ) as LocalTopology['functions'];
  const queues = Object.fromEntries(
    QUEUE_IDS.map((queue) => [
      queue,
      queueSettings(queue, config.run.maxReceiveCount, Math.ceil(timeoutMs(consumerOf(queue).id) / 1000)),
    ]),
  ) as LocalTopology['queues'];
  return { queues, functions };
}

export async function runLocalCycle(options: LocalCycleOptions): Promise<LocalCycleResult> {
  const started = Date.now();
  const { config } = options;
  const clock = options.clock ?? systemClock;
  if (!options.store && !options.archive.startsWith('s3://'))
    await mkdir(resolve(options.archive), { recursive: true });
  const store = options.store ?? openArchiveStore(options.archive);
  const aws = await startLocalAws();
  try {
    const sqs = aws.sqs();
    const maxReceiveCount = config.run.maxReceiveCount;
    const plan = localTopology(config, options.amigo.rateLimits, options.timeoutsMs);
    const createQueue = (queue: QueueId) => {
      const settings = plan.queues[queue];
      return createQueueWithDlq(sqs, `amigo-qa-${queue}`, {
        maxReceiveCount: settings.maxReceiveCount,
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
        retentionSeconds: settings.retentionSeconds,
      });
    };
    const binding = (
      fn: FunctionId,
      queue: { queueUrl: string; queueArn: string },
      handler: QueueBinding['handler'],
    ): QueueBinding => ({
      name: FUNCTIONS[fn].name,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      handler,
      ...plan.functions[fn],
    });
    const archiveQueue = await createQueue('archive');
    const archivePriorityQueue = await createQueue('archivePriority');
    const schedulerQueue = await createQueue('scheduler');

    // One client, one in-process rate budget, shared by every local invocation: the same budget
    // the functions in AWS share through DynamoDB (or, `rateBudgetFor`, a budget and client per function).
    // Metered as in Lambda: the calls made for the run are recorded beside its run record.
    const clients = new Map<FunctionId | 'all', { usage: MeteredRateBudget; amigo: AmigoClient }>();
    const clientOf = (fn: FunctionId) => {
      const key = options.rateBudgetFor ? fn : 'all';
      let client = clients.get(key);
      if (!client) {
        const budget =
          options.rateBudgetFor?.(fn) ??
          new SlidingWindowRateBudget({
            limits: options.amigo.rateLimits,
            clock,
            reserveShare: options.reserveShare ?? config.amigo.priorityReserve,
          });
        const usage = new MeteredRateBudget(budget, {
          now: () => clock.now(),
          limits: options.amigo.rateLimits,
        });
        client = { usage, amigo: new AmigoClient(options.amigo, { rateBudget: usage, clock }) };
        clients.set(key, client);
      }
      return client;
    };
    const jobs = archiveJobQueue(
      new SqsJobQueue<ArchiveJobMessage>({ client: sqs, queueUrl: archiveQueue.queueUrl }),
      new SqsJobQueue<ArchiveJobMessage>({ client: sqs, queueUrl: archivePriorityQueue.queueUrl }),
    );
    const continuation = new SqsJobQueue<ContinueListingMessage>({
      client: sqs,
      queueUrl: schedulerQueue.queueUrl,
    });
    // Tagging: only when rules are configured; every archived conversation is evaluated.
    const rules = options.rules ?? (config.rules ? loadRules(config.rules) : undefined);
    const tagQueue = rules ? await createQueue('tag') : undefined;
    const tagJobs = tagQueue
      ? new SqsJobQueue<TagJobMessage>({ client: sqs, queueUrl: tagQueue.queueUrl })
      : undefined;
    const tagOutcomes = new Map<string, TagOutcome[]>();
    const tagWorker =
      rules && tagQueue && tagJobs
        ? createTagWorkerHandler(async () => ({
            amigo: clientOf('tagWorker').amigo,
            store,
            clock,
            rules,
            jobs: tagJobs,
            deadLetters: new SqsDeadLetters(sqs, tagQueue.dlqUrl),
            maxReceiveCount,
            ...(options.deferralSeconds ? { deferralSeconds: options.deferralSeconds } : {}),
            onPutBack: (p) => options.events?.onPutBack?.('tag-worker', p),
            onOutcome: (o) => {
              tagOutcomes.set(o.record.conversation_id, [
                ...(tagOutcomes.get(o.record.conversation_id) ?? []),
                o,
              ]);
            },
          }))
        : undefined;

    const workerDeps = {
      amigo: clientOf('archiveWorker').amigo,
      store,
      clock,
      jobs,
      deadLetters: new SqsDeadLetters(sqs, archiveQueue.dlqUrl),
      maxReceiveCount,
      strict: config.archive.strict,
      insightsConcurrency: config.archive.insightsConcurrency,
      audio: config.archive.audio,
      ...(options.deferralSeconds ? { deferralSeconds: options.deferralSeconds } : {}),
      onPutBack: (p: PutBack) => options.events?.onPutBack?.('archive-worker', p),
      ...(tagJobs ? { tagJobs } : {}),
      usage: clientOf('archiveWorker').usage,
    };
    const stallQueue = await createQueue('stall');
    // The final status of each stall record this cycle's worker handled, by key.
    const stallStatus = new Map<string, string>();
    const stallJobs = new SqsJobQueue<StallJobMessage>({ client: sqs, queueUrl: stallQueue.queueUrl });
    const stallWorker = createStallWorkerHandler(async () => ({
      amigo: clientOf('stallWorker').amigo,
      store,
      clock,
      jobs: stallJobs,
      deadLetters: new SqsDeadLetters(sqs, stallQueue.dlqUrl),
      maxReceiveCount,
      contexts: config.stall.contexts,
      tag: config.stall.tag,
      ...(options.deferralSeconds ? { deferralSeconds: options.deferralSeconds } : {}),
      onPutBack: (p) => options.events?.onPutBack?.('stall-worker', p),
      onOutcome: (o) => {
        if (o.record) stallStatus.set(o.key, o.record.status);
      },
    }));
    const scheduling = clientOf('scheduler');
    const schedulerDeps = {
      amigo: scheduling.amigo,
      store,
      jobs,
      continuation,
      clock,
      stalls: { amigo: scheduling.amigo, jobs: stallJobs, afterMs: config.stall.afterMs },
      usage: scheduling.usage,
      options: {
        organizationId: options.amigo.organizationId,
        serviceIds: config.filters.serviceIds,
        lookbackMs: config.archive.lookbackMs,
        priorities: config.archive.priorities,
        deferUnanalyzed: config.archive.deferUnanalyzed,
        since: config.archive.since,
        reserveShare: options.reserveShare ?? config.amigo.priorityReserve,
        // The local queue died with the last run's process: whatever it left pending is lost.
        recoverPendingAfterMs: 0,
      },
    };
    const archiveWorker = createArchiveWorkerHandler(async () => workerDeps);
    const scheduler = createSchedulerHandler(async () => schedulerDeps);
    const schedulerTimeout = plan.functions.scheduler.functionTimeoutMs;
    const runIds = new Set<string>();
    let stalls: FindStallsCounts | undefined;
    let stallScanFailed: FailureReason | undefined;
    const noteResults = (output: SchedulerOutput) => {
      for (const r of output.archive) {
        runIds.add(r.runId);
        options.events?.onListed?.(r);
      }
      stalls ??= output.stalls;
      stallScanFailed ??= output.stallScanFailed;
    };

    const runtime = new LocalSqsRuntime(
      sqs,
      [
        binding('archiveWorker', archiveQueue, archiveWorker),
        // As in AWS: the priority queue's own pollers, so its jobs never wait behind the backlog.
        binding('archiveWorker', archivePriorityQueue, archiveWorker),
        ...(tagWorker && tagQueue ? [binding('tagWorker', tagQueue, tagWorker)] : []),
        binding('stallWorker', stallQueue, stallWorker),
        binding('scheduler', schedulerQueue, async (event, context) => {
          noteResults(await scheduler(event, context));
        }),
      ],
      options.events,
    );
    runtime.start();
    try {
      noteResults(await scheduler(NIGHTLY_INPUT, lambdaContext('scheduler', schedulerTimeout)));
      await runtime.drain({
        timeoutMs: 24 * 3_600_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      await runtime.stop(options.signal?.aborted ? { graceMs: 3_000 } : {});
    }
    const [runId] = runIds;
    if (!runId) throw new Error('The scheduler reported no run');
    for (const { usage } of clients.values()) {
      await writeRunUsage(
        store,
        usage.takeRunUsage('local', options.amigo.rateLimits),
        `${clock.now()}-${crypto.randomUUID().slice(0, 8)}`,
      );
    }
    const record = await summarizeRun(store, runId, clock.now());
    if (!record) throw new Error(`The run record of ${runId} is missing`);
    const deadLetters = [
      ...(await drainDeadLetters(sqs, 'archive', archiveQueue.dlqUrl)),
      ...(await drainDeadLetters(sqs, 'archive', archivePriorityQueue.dlqUrl)),
      ...(await drainDeadLetters(sqs, 'scheduler', schedulerQueue.dlqUrl)),
      ...(await drainDeadLetters(sqs, 'stall', stallQueue.dlqUrl)),
      ...(tagQueue ? await drainDeadLetters(sqs, 'tag', tagQueue.dlqUrl) : []),
    ];
    const recommendations: Record<string, number> = {};
    for (const status of stallStatus.values()) recommendations[status] = (recommendations[status] ?? 0) + 1;
    return {
      runId,
      interrupted: options.signal?.aborted ?? false,
      record,
      deadLetters,
      stalls,
      stallScanFailed,
      recommendations,
      tagging: rules ? tallyTags(tagOutcomes) : undefined,
      archive: store.location,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await aws.stop();
  }
}
