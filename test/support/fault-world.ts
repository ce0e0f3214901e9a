// The world a fault scenario runs in: the four deployed handlers (functions/*/handler.ts) wired
// from their environment as in Lambda (like test/integration/lambda-wiring.test.ts), with a
// faulting proxy (./fault-proxy.ts) between their AWS SDK clients and every emulator: S3 (fauxqs
// behind the conditional-write proxy), SQS (fauxqs), DynamoDB (dynalite), Secrets Manager (the
// fake). The local SQS runtime stands in for Lambda's event source mappings and talks to fauxqs
// directly: the faults are on the functions' side of the wire, not on Lambda's.
//
// Every handler log line (Powertools writes to stdout, the runtime to the console) is captured for
// the audit (./fault-audit.ts); `coldStart()` re-imports the handlers so each scenario starts with
// fresh containers.
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startLocalAws } from '../../local/fauxqs.ts';
import {
  createQueueWithDlq,
  LocalSqsRuntime,
  type QueueBinding,
  type SqsHandler,
} from '../../local/sqs-runtime.ts';
import type { RateBudgetStats } from '../../shared/adapters/dynamodb-rate-budget.ts';
import { createRateBudgetTable } from '../../shared/adapters/dynamodb-rate-budget.ts';
import { S3ArchiveStore } from '../../shared/adapters/s3-archive-store.ts';
import { DEPLOYMENT_CONSTANT, serializeDeployment } from '../../shared/contract/deployment.ts';
import { type OperationId, operationIds, operations } from '../../shared/openapi/index.ts';
import type { SimulatorOptions } from '../../sim/index.ts';
import { startConditionalS3Proxy } from './conditional-s3-proxy.ts';
import { startDynalite } from './dynalite.ts';
import { startFakeSecretsManager } from './fake-secrets-manager.ts';
import { type BudgetWindow, defaultTransitMs, type Grant, recordingBudget } from './fault-grants.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { simulatorAmigoEnv } from './sim-credentials.ts';
import { startTestSimulator, type TestSimulator } from './simulator.ts';

export const BUCKET = 'amigo-qa-archive';
export const PREFIX = 'qa';
export const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:amigo-qa';
export type Worker = 'archive-worker' | 'stall-worker' | 'tag-worker';

export interface FaultWorldOptions {
  sim?: SimulatorOptions;
  /** The queues' redrive maxReceiveCount (and MAX_RECEIVE_COUNT). @default 3 */
  maxReceiveCount?: number;
  /** The queues' visibility timeout, seconds. @default 30 */
  visibilityTimeoutSeconds?: number;
  /** The deployed budget's window per operation's published limit. @default 2000 */
  budgetWindowMs?: number;
  /** More of the deployed config's `amigo` section (e.g. `timeout: '2s'`). */
  amigo?: Record<string, unknown>;
}

export interface Handlers {
  scheduler: (
    event: unknown,
    context: Context,
  ) => Promise<{ runId?: string; archive?: unknown[] } & Record<string, unknown>>;
  'archive-worker': SqsHandler;
  'stall-worker': SqsHandler;
  'tag-worker': SqsHandler;
}

export interface RunOptions {
  /** Per worker: overrides of its binding (batch size, concurrency, function timeout, visibility). */
  bindings?: Partial<Record<Worker, Partial<QueueBinding>>>;
  /** Wraps a worker's handler (two workers at once, a worker that outlives its visibility...). */
  wrap?: Partial<Record<Worker, (handler: SqsHandler) => SqsHandler>>;
  /** Schedulers started at once (a manual trigger during the nightly run). @default 1 */
  schedulers?: number;
  drainTimeoutMs?: number;
}

export interface FaultWorld {
  readonly sim: TestSimulator;
  readonly proxies: Record<'s3' | 'sqs' | 'dynamodb' | 'secretsmanager', FaultProxy>;
  readonly secrets: Awaited<ReturnType<typeof startFakeSecretsManager>>;
  readonly sqs: SQSClient;
  /** An unfaulted store over the bucket, for the audit. */
  readonly store: S3ArchiveStore;
  readonly s3: S3Client;
  readonly queues: Record<Worker | 'scheduler', { queueUrl: string; dlqUrl: string }>;
  /** The simulator's limit per Amigo operation (its published limit, window divided by the scale). */
  readonly limits: Record<OperationId, { limit: number; windowMs: number }>;
  /** The rate budget the functions were deployed with: the published limits per its window, and its transit allowance. */
  readonly budget: Record<OperationId, BudgetWindow>;
  /** Every slot the functions' shared budgets granted, in order (./fault-grants.ts). */
  readonly grants: Grant[];
  /** The counters of every shared budget the functions built (one per cold start). */
  readonly budgetStats: RateBudgetStats[];
  /** How long each `run` took, ms. */
  readonly runTimesMs: number[];
  /** Every log line the handlers and the runtime wrote. */
  readonly logs: string[];
  /** Fresh handler modules: every function's next invocation is a cold start. */
  coldStart(): Promise<Handlers>;
  /** One nightly cycle: scheduler(s), then the workers until every queue is empty. */
  run(handlers: Handlers, options?: RunOptions): Promise<{ runIds: string[]; schedulerErrors: unknown[] }>;
  stop(): Promise<void>;
}

export function lambdaContext(name: string, timeoutMs = 300_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: name,
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as Context;
}

export async function startFaultWorld(options: FaultWorldOptions = {}): Promise<FaultWorld> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const savedEnv = { ...process.env };
  // Seed 7 of 12 conversations: 5 eligible (one holding the large recording when there is one)
  // and 3 stalled.
  const simOptions: SimulatorOptions = {
    seed: 7,
    conversations: 12,
    longConversations: 0,
    rateLimits: { enabled: true, scale: 120 },
    ...options.sim,
  };
  const sim = await startTestSimulator(simOptions);
  const scale = simOptions.rateLimits?.scale ?? 1;
  const limits = Object.fromEntries(
    operationIds.map((id) => [
      id,
      simOptions.rateLimits?.overrides?.[id] ?? {
        limit: operations[id].publishedLimit.limit,
        windowMs: operations[id].publishedLimit.windowMs / scale,
      },
    ]),
  ) as Record<OperationId, { limit: number; windowMs: number }>;
  cleanups.push(() => sim.stop());
  const aws = await startLocalAws();
  cleanups.push(() => aws.stop());
  const conditional = await startConditionalS3Proxy(aws.endpoint);
  cleanups.push(() => conditional.stop());
  const dynamo = await startDynalite();
  cleanups.push(() => dynamo.stop());
  const secrets = await startFakeSecretsManager();
  cleanups.push(() => secrets.stop());
  const proxies = {
    s3: await startFaultProxy('s3', conditional.endpoint),
    sqs: await startFaultProxy('sqs', aws.endpoint),
    dynamodb: await startFaultProxy('dynamodb', dynamo.endpoint),
    secretsmanager: await startFaultProxy('secretsmanager', secrets.endpoint),
  };
  for (const proxy of Object.values(proxies)) cleanups.push(() => proxy.stop());

  const s3 = aws.s3({ endpoint: conditional.endpoint });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const sqs = aws.sqs();
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const queueOptions = {
    maxReceiveCount,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
  };
  const queues = {
    scheduler: await createQueueWithDlq(sqs, 'scheduler', queueOptions),
    'archive-worker': await createQueueWithDlq(sqs, 'archive', queueOptions),
    'stall-worker': await createQueueWithDlq(sqs, 'stall', queueOptions),
    'tag-worker': await createQueueWithDlq(sqs, 'tag', queueOptions),
  };
  await createRateBudgetTable(
    new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    }),
    'rate-budget',
  );
  secrets.put(SECRET_ARN, JSON.stringify(simulatorAmigoEnv(sim)));
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: proxies.s3.endpoint,
    AWS_ENDPOINT_URL_SQS: proxies.sqs.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: proxies.dynamodb.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: proxies.secretsmanager.endpoint,
    ARCHIVE_BUCKET: BUCKET,
    ARCHIVE_PREFIX: PREFIX,
    ARCHIVE_QUEUE_URL: queues['archive-worker'].queueUrl,
    ARCHIVE_DLQ_URL: queues['archive-worker'].dlqUrl,
    SCHEDULER_QUEUE_URL: queues.scheduler.queueUrl,
    STALL_QUEUE_URL: queues['stall-worker'].queueUrl,
    STALL_DLQ_URL: queues['stall-worker'].dlqUrl,
    TAG_QUEUE_URL: queues['tag-worker'].queueUrl,
    TAG_DLQ_URL: queues['tag-worker'].dlqUrl,
    RATE_BUDGET_TABLE: 'rate-budget',
    AMIGO_SECRET_ARN: SECRET_ARN,
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    // Everything the handlers would ever log is audited, not only warnings.
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  const windowMs = options.budgetWindowMs ?? 2_000;
  (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT] = serializeDeployment({
    v: 1,
    config: {
      source: 'fault scenarios',
      value: {
        amigo: {
          rateLimits: Object.fromEntries(
            operationIds.map((id) => [id, `${operations[id].publishedLimit.limit}/${windowMs}ms`]),
          ),
          ...options.amigo,
        },
      },
    },
    rules: { source: 'examples/rules.yaml', value: parseYaml(readFileSync('examples/rules.yaml', 'utf8')) },
  });

  const logs = captureLogs();
  cleanups.push(async () => logs.restore());
  // Every function's shared budget records its grants: the audit's window check reads them. A
  // module mock of our own code, not of AWS (the handbook's rule): a pass-through subclass, the real
  // budget runs in full, and the audit names any call that took no recorded grant, so a mock that
  // did not apply fails the scenario instead of passing it.
  const grants: Grant[] = [];
  const budgetStats: RateBudgetStats[] = [];
  vi.doMock('../../shared/adapters/dynamodb-rate-budget.ts', async (importOriginal) => {
    const actual = await importOriginal<typeof import('../../shared/adapters/dynamodb-rate-budget.ts')>();
    return {
      ...actual,
      DynamoDbRateBudget: recordingBudget(actual.DynamoDbRateBudget, { grants, stats: budgetStats }),
    };
  });
  cleanups.push(async () => vi.doUnmock('../../shared/adapters/dynamodb-rate-budget.ts'));
  const runTimesMs: number[] = [];
  const store = new S3ArchiveStore({
    client: aws.s3({ endpoint: conditional.endpoint }),
    bucket: BUCKET,
    prefix: PREFIX,
  });

  return {
    sim,
    proxies,
    secrets,
    sqs,
    store,
    s3,
    queues,
    limits,
    budget: Object.fromEntries(
      operationIds.map((id) => [
        id,
        { limit: operations[id].publishedLimit.limit, windowMs, transitMs: defaultTransitMs(windowMs) },
      ]),
    ) as Record<OperationId, BudgetWindow>,
    grants,
    budgetStats,
    runTimesMs,
    logs: logs.lines,
    coldStart: async () => {
      vi.resetModules();
      const scheduler = await import('../../functions/scheduler/handler.ts');
      const archive = await import('../../functions/archive-worker/handler.ts');
      const stall = await import('../../functions/stall-worker/handler.ts');
      const tag = await import('../../functions/tag-worker/handler.ts');
      return {
        scheduler: scheduler.handler as unknown as Handlers['scheduler'],
        'archive-worker': archive.handler,
        'stall-worker': stall.handler,
        'tag-worker': tag.handler,
      };
    },
    run: async (handlers, runOptions = {}) => {
      const started = performance.now();
      const schedulerErrors: unknown[] = [];
      const results = await Promise.all(
        Array.from({ length: runOptions.schedulers ?? 1 }, () =>
          handlers
            .scheduler({ tasks: ['archive', 'stalls'] }, lambdaContext('scheduler'))
            .catch((error: unknown) => {
              schedulerErrors.push(error);
              return undefined;
            }),
        ),
      );
      const runIds = results.flatMap((r) => {
        const listed = (r?.archive as Array<{ runId?: string }> | undefined)?.[0];
        return listed?.runId ? [listed.runId] : [];
      });
      const binding = (name: Worker, defaults: Partial<QueueBinding>): QueueBinding => {
        const wrap = runOptions.wrap?.[name] ?? ((h: SqsHandler) => h);
        return {
          name,
          queueUrl: queues[name].queueUrl,
          handler: wrap(handlers[name]),
          batchSize: 5,
          concurrency: 1,
          ...defaults,
          ...runOptions.bindings?.[name],
        };
      };
      const runtime = new LocalSqsRuntime(sqs, [
        binding('archive-worker', { concurrency: 2 }),
        binding('stall-worker', {}),
        binding('tag-worker', {}),
      ]);
      runtime.start();
      try {
        await runtime.drain({ timeoutMs: runOptions.drainTimeoutMs ?? 120_000, idleMs: 500 });
      } finally {
        await runtime.stop();
        runTimesMs.push(performance.now() - started);
      }
      return { runIds, schedulerErrors };
    },
    stop: async () => {
      process.env = savedEnv;
      delete (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT];
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    },
  };
}

/**
 * Records every line written to stdout/stderr (Powertools' own console writes there) and every
 * console call (the local runtime's warnings), and keeps them off the test output.
 */
function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const keep = (chunk: unknown): boolean => {
    for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(line);
    return true;
  };
  process.stdout.write = keep as typeof process.stdout.write;
  process.stderr.write = keep as typeof process.stderr.write;
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) console[m] = (...args: unknown[]) => keep(args.map(String).join(' '));
  return {
    lines,
    restore: () => {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
      methods.forEach((m, i) => {
        console[m] = saved[i] as (typeof console)[typeof m];
      });
    },
  };
}
