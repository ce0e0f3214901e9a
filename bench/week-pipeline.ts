// The deployed shape for the simulated week: one embedded SQS emulator and one local runtime for the
// whole week, so the workers drain the queues continuously, and the scheduler handler invoked on a
// cadence (as EventBridge would), as long as its previous invocation has returned.
// runLocalCycle (local/pipeline.ts) is one nightly cycle: a fresh emulator per run and a drain to
// empty before the next, whose fixed cost (seconds) is hours on the week's fast clock. The wiring
// below is the same as runLocalCycle's, minus tagging (no rules in the week) and stall detection:
// the simulator's conversations keep real message spacing on the fast clock, so each would look
// active for simulated hours, and the stall scan's calls would be an artefact of the clock, not of
// the organisation (its budgets, recommend-responses and tags, are not the bottleneck's).

import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { createArchiveWorkerHandler } from '../functions/archive-worker/handler.ts';
import { createSchedulerHandler } from '../functions/scheduler/handler.ts';
import { startLocalAws } from '../local/fauxqs.ts';
import { localTopology } from '../local/pipeline.ts';
import { createQueueWithDlq, LocalSqsRuntime, type RuntimeEvents } from '../local/sqs-runtime.ts';
import { SqsDeadLetters } from '../shared/adapters/sqs-dead-letters.ts';
import { SqsJobQueue } from '../shared/adapters/sqs-job-queue.ts';
import { AmigoClient } from '../shared/amigo/client.ts';
import type { AmigoClientConfig } from '../shared/amigo/config.ts';
import { SlidingWindowRateBudget } from '../shared/amigo/rate-limit.ts';
import { summarizeRun, writeRunUsage } from '../shared/archive/state.ts';
import type { PipelineConfig } from '../shared/config/pipeline-config.ts';
import { FUNCTIONS, type FunctionId, NIGHTLY_INPUT, type QueueId } from '../shared/contract/topology.ts';
import {
  type ArchiveJobMessage,
  archiveJobQueue,
  type ContinueListingMessage,
} from '../shared/jobs/archive.ts';
import type { ArchiveStore } from '../shared/ports/archive-store.ts';
import { systemClock } from '../shared/ports/clock.ts';
import type { JobQueue } from '../shared/ports/job-queue.ts';
import { MeteredRateBudget } from '../shared/runtime/metered-budget.ts';

export interface WeekPipelineOptions {
  readonly config: PipelineConfig;
  readonly amigo: AmigoClientConfig;
  readonly store: ArchiveStore;
  /** Delay of jobs put back after Amigo throttled them (scaled like the windows). */
  readonly deferralSeconds: readonly [number, number];
  /** A marker's job is sent again after this long (the queue outlives the runs here, as in AWS). */
  readonly recoverPendingAfterMs: number;
  /** The budget outlook's averaging span: a simulated day on the fast clock. */
  readonly outlookAveragingMs: number;
  readonly events: RuntimeEvents & {
    onPutBack?(): void;
    /** Archive jobs sent (by the scheduler or a put-back), by the queue of their class. */
    onArchiveJobs?(priority: boolean, conversationIds: string[]): void;
  };
}

export interface WeekPipeline {
  /**
   * One scheduler invocation, resolving with the run ids it reported: the nightly input, or with
   * `lookbackMs` the deployed hourly one (`{"tasks": ["archive"], "lookback": ...}`, infra's
   * ArchiveBetweenNights schedule), which lists back less far and leaves the watermark.
   */
  schedule(lookbackMs?: number): Promise<string[]>;
  /**
   * Writes the calls made so far beside their runs' records (each write a usage document); returns,
   * per operation, those written since the last flushUsage (an outlook's write in between included).
   */
  flushUsage(): Promise<Record<string, number>>;
  /** Resolves once every queue is empty and nothing runs. */
  drain(timeoutMs: number): Promise<void>;
  /** Folds every run's outcomes and usage into its record. */
  summarize(runIds: Iterable<string>): Promise<void>;
  deadLetters(): Promise<Array<{ queue: string; code: string }>>;
  stop(): Promise<void>;
}

function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: String(FUNCTIONS.scheduler.memoryMb),
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export async function startWeekPipeline(options: WeekPipelineOptions): Promise<WeekPipeline> {
  const { config, store } = options;
  const clock = systemClock;
  const aws = await startLocalAws();
  const sqs = aws.sqs();
  const plan = localTopology(config, options.amigo.rateLimits);
  const createQueue = (queue: QueueId) => {
    const s = plan.queues[queue];
    return createQueueWithDlq(sqs, `amigo-qa-${queue}`, {
      maxReceiveCount: s.maxReceiveCount,
      visibilityTimeoutSeconds: s.visibilityTimeoutSeconds,
      retentionSeconds: s.retentionSeconds,
    });
  };
  const archiveQueue = await createQueue('archive');
  const archivePriorityQueue = await createQueue('archivePriority');
  const schedulerQueue = await createQueue('scheduler');
  const recorded = (priority: boolean, queue: JobQueue<ArchiveJobMessage>): JobQueue<ArchiveJobMessage> => ({
    send: (sent) => {
      options.events.onArchiveJobs?.(
        priority,
        sent.map((j) => j.body.conversation.id),
      );
      return queue.send(sent);
    },
  });
  const usage = new MeteredRateBudget(
    new SlidingWindowRateBudget({
      limits: options.amigo.rateLimits,
      clock,
      reserveShare: config.amigo.priorityReserve,
    }),
    { now: () => clock.now(), limits: options.amigo.rateLimits },
  );
  const amigo = new AmigoClient(options.amigo, { rateBudget: usage, clock });
  // By class, as deployed: `archive.priorities` in the config routes jobs to the priority queue.
  const jobs = archiveJobQueue(
    recorded(false, new SqsJobQueue<ArchiveJobMessage>({ client: sqs, queueUrl: archiveQueue.queueUrl })),
    recorded(
      true,
      new SqsJobQueue<ArchiveJobMessage>({ client: sqs, queueUrl: archivePriorityQueue.queueUrl }),
    ),
  );
  const continuation = new SqsJobQueue<ContinueListingMessage>({
    client: sqs,
    queueUrl: schedulerQueue.queueUrl,
  });
  const maxReceiveCount = config.run.maxReceiveCount;
  const archiveWorker = createArchiveWorkerHandler(async () => ({
    amigo,
    store,
    clock,
    jobs,
    deadLetters: new SqsDeadLetters(sqs, archiveQueue.dlqUrl),
    maxReceiveCount,
    strict: config.archive.strict,
    insightsConcurrency: config.archive.insightsConcurrency,
    audio: config.archive.audio,
    deferralSeconds: options.deferralSeconds,
    onPutBack: () => options.events.onPutBack?.(),
    usage,
  }));
  // The deployed workers write their usage as each invocation ends, and the outlook reads it five
  // minutes settled (USAGE_SETTLE_MS). Here one meter counts every worker's calls, so they are
  // written whenever the scheduler lists a run's usage, and nothing is left to settle: a run whose
  // last call came after the previous write and before the outlook's time would otherwise be written
  // after its read with an end before it, and never counted (its conversations with it, which read
  // the small week's cost per conversation up to a third high).
  const pendingCalls: Record<string, number> = {};
  let flushes = 0;
  // The scheduler's own calls stay counted until it claims them for its run, as deployed.
  const writeUsage = async () => {
    const usages = usage.takeRunUsage('local', options.amigo.rateLimits, { keepUnscoped: true });
    await writeRunUsage(store, usages, `week-${++flushes}`);
    for (const u of usages)
      for (const [op, c] of Object.entries(u.calls)) pendingCalls[op] = (pendingCalls[op] ?? 0) + c.answered;
  };
  const schedulerStore: ArchiveStore = {
    location: store.location,
    get: (key) => store.get(key),
    getStream: (key) => store.getStream(key),
    head: (key) => store.head(key),
    put: (key, body, putOptions) => store.put(key, body, putOptions),
    putStream: (key, body, putOptions) => store.putStream(key, body, putOptions),
    delete: (key) => store.delete(key),
    list: (prefix) =>
      (async function* () {
        if (/^runs\/[^/]+\/usage\/$/.test(prefix)) await writeUsage();
        yield* store.list(prefix);
      })(),
  };
  const scheduler = createSchedulerHandler(async () => ({
    amigo,
    store: schedulerStore,
    jobs,
    continuation,
    clock,
    usage,
    options: {
      organizationId: options.amigo.organizationId,
      serviceIds: config.filters.serviceIds,
      lookbackMs: config.archive.lookbackMs,
      priorities: config.archive.priorities,
      deferUnanalyzed: config.archive.deferUnanalyzed,
      since: config.archive.since,
      recoverPendingAfterMs: options.recoverPendingAfterMs,
      outlookAveragingMs: options.outlookAveragingMs,
      outlookSettleMs: 0,
      reserveShare: config.amigo.priorityReserve,
    },
  }));
  const runIds = new Set<string>();
  const binding = (fn: FunctionId, queue: { queueUrl: string; queueArn: string }, handler: never) => ({
    name: FUNCTIONS[fn].name,
    queueUrl: queue.queueUrl,
    queueArn: queue.queueArn,
    handler,
    ...plan.functions[fn],
  });
  const runtime = new LocalSqsRuntime(
    sqs,
    [
      binding('archiveWorker', archiveQueue, archiveWorker as never),
      binding('archiveWorker', archivePriorityQueue, archiveWorker as never),
      binding('scheduler', schedulerQueue, (async (event: never, context: Context) => {
        for (const r of (await scheduler(event, context)).archive) runIds.add(r.runId);
      }) as never),
    ],
    options.events,
  );
  runtime.start();
  return {
    schedule: async (lookbackMs) => {
      const output = await scheduler(
        lookbackMs === undefined
          ? NIGHTLY_INPUT
          : { tasks: ['archive'], lookback: `${Math.max(1, Math.round(lookbackMs))}ms` },
        lambdaContext('scheduler', plan.functions.scheduler.functionTimeoutMs),
      );
      const ids = output.archive.map((r) => r.runId);
      for (const id of ids) runIds.add(id);
      return ids;
    },
    flushUsage: async () => {
      await writeUsage();
      const calls = { ...pendingCalls };
      for (const op of Object.keys(pendingCalls)) delete pendingCalls[op];
      return calls;
    },
    drain: (timeoutMs) => runtime.drain({ timeoutMs }),
    summarize: async (ids) => {
      for (const id of ids) await summarizeRun(store, id, clock.now());
    },
    deadLetters: async () => {
      const out: Array<{ queue: string; code: string }> = [];
      for (const [queue, url] of [
        ['archive', archiveQueue.dlqUrl],
        ['archive', archivePriorityQueue.dlqUrl],
        ['scheduler', schedulerQueue.dlqUrl],
      ] as const) {
        out.push(...(await receiveAll(sqs, url)).map((code) => ({ queue, code })));
      }
      return out;
    },
    stop: async () => {
      await runtime.stop();
      await aws.stop();
    },
  };
}

/** Every message on a dead-letter queue: its failure code only (bodies carry health data). */
async function receiveAll(sqs: SQSClient, url: string): Promise<string[]> {
  const codes: string[] = [];
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
    if (Messages.length === 0) return codes;
    for (const m of Messages)
      codes.push(m.MessageAttributes?.['failure-code']?.StringValue ?? 'MaxReceiveCount');
  }
}
