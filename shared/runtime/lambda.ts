// The Lambda functions' wiring. Per cold start and per function: the environment that function
// declares (shared/contract/topology.ts) read and validated (a missing or bad variable fails naming it), the
// config and rules built into its bundle (./deployment.ts), the Amigo credentials from Secrets
// Manager, one DynamoDB rate budget shared by every function, AWS clients created once.

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { DynamoDbRateBudget } from '../adapters/dynamodb-rate-budget.ts';
import { S3ArchiveStore } from '../adapters/s3-archive-store.ts';
import { SqsDeadLetters } from '../adapters/sqs-dead-letters.ts';
import { SqsJobQueue } from '../adapters/sqs-job-queue.ts';
import { AmigoClient } from '../amigo/client.ts';
import { type AmigoClientConfig, resolveAmigoConfig } from '../amigo/config.ts';
import { readLastRun, writeRunUsage } from '../archive/state.ts';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { embeddedDeployment } from '../contract/deployment.ts';
import { ENV, type EnvName, FUNCTIONS, type FunctionId } from '../contract/topology.ts';
import { ConfigurationError } from '../errors.ts';
import { type ArchiveJobMessage, archiveJobQueue, type ContinueListingMessage } from '../jobs/archive.ts';
import type { StallJobMessage } from '../jobs/stall.ts';
import type { TagJobMessage } from '../jobs/tag.ts';
import { logger } from '../observability.ts';
import { systemClock } from '../ports/clock.ts';
import type { RuleSet } from '../rules/index.ts';
import { MeteredRateBudget } from './metered-budget.ts';

const nonEmpty = z.string().trim().min(1, 'is not set');
const url = z.url('must be a URL');

/** How each variable is read; which ones a function needs is the topology's business. */
const VARIABLES = {
  [ENV.archiveBucket]: nonEmpty,
  [ENV.archivePrefix]: z.string(),
  [ENV.rateBudgetTable]: nonEmpty,
  /** A secret holding AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and optionally AMIGO_BASE_URL) as JSON. */
  [ENV.amigoSecretArn]: nonEmpty,
  /** The queues' redrive maxReceiveCount: the receive that reaches it is a job's last. */
  [ENV.maxReceiveCount]: z.coerce.number<string>().int('must be a whole number').min(1).max(1000),
  [ENV.schedulerQueueUrl]: url,
  [ENV.archiveQueueUrl]: url,
  [ENV.archivePriorityQueueUrl]: url,
  [ENV.archiveDlqUrl]: url,
  [ENV.tagQueueUrl]: url,
  [ENV.tagDlqUrl]: url,
  [ENV.stallQueueUrl]: url,
  [ENV.stallDlqUrl]: url,
} satisfies Record<EnvName, z.ZodType>;

/** A function's environment, validated: only the variables it declares, numbers as numbers. */
export type FunctionEnv = {
  readonly [K in EnvName]?: z.output<(typeof VARIABLES)[K]>;
};

/** The zod schema of one function's environment (required and optional variables from the topology). */
export function functionEnvSchema(fn: FunctionId) {
  const { required, optional } = FUNCTIONS[fn].env;
  const shape: Record<string, z.ZodType> = {};
  for (const name of required) shape[name] = VARIABLES[name];
  // An optional variable set to '' counts as unset.
  for (const name of optional) {
    shape[name] = z.preprocess((v) => (v === '' ? undefined : v), VARIABLES[name].optional());
  }
  return z.object(shape);
}

/** Reads and validates `fn`'s environment; the first problem fails naming the variable. */
export function readFunctionEnv(fn: FunctionId, env: NodeJS.ProcessEnv = process.env): FunctionEnv {
  const parsed = functionEnvSchema(fn).safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const message =
      issue?.code === 'invalid_type' && issue.input === undefined ? 'is not set' : issue?.message;
    throw new ConfigurationError(
      name,
      `${message ?? 'is invalid'} (the ${FUNCTIONS[fn].name} function reads it at start-up)`,
      'The CDK stack sets it: deploy again with `npx cdk deploy`, or check the function configuration',
    );
  }
  return parsed.data as FunctionEnv;
}

/** A variable the schema made required: present once `readFunctionEnv` returned. */
function required<K extends EnvName>(env: FunctionEnv, name: K): NonNullable<FunctionEnv[K]> {
  const value = env[name];
  if (value === undefined) throw new ConfigurationError(name, 'is not set');
  return value as NonNullable<FunctionEnv[K]>;
}

const SecretSchema = z.object({
  AMIGO_API_KEY: nonEmpty,
  AMIGO_API_KEY_ID: nonEmpty,
  AMIGO_USER_ID: nonEmpty,
  AMIGO_ORGANIZATION_ID: nonEmpty,
  AMIGO_BASE_URL: z.string().optional(),
});

const PUT_SECRET_HINT =
  'Put the AMIGO_* values into it (docs/deploy.md, "Put the Amigo credentials"), then invoke again';

export async function amigoConfigFromSecret(
  secrets: SecretsManagerClient,
  secretArn: string,
  pipeline: PipelineConfig,
): Promise<AmigoClientConfig> {
  const answer = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let raw: unknown;
  try {
    raw = JSON.parse(answer.SecretString ?? '');
  } catch {
    throw new ConfigurationError('AMIGO_SECRET_ARN', 'names a secret that is not JSON', PUT_SECRET_HINT);
  }
  const parsed = SecretSchema.safeParse(raw);
  if (!parsed.success) {
    // Name the missing key, never a value.
    const key = String(parsed.error.issues[0]?.path[0] ?? '');
    throw new ConfigurationError(
      `AMIGO_SECRET_ARN:${key}`,
      'is missing from the secret',
      `Add ${key} to the secret's JSON. ${PUT_SECRET_HINT}`,
    );
  }
  const s = parsed.data;
  return resolveAmigoConfig(
    {
      apiKey: s.AMIGO_API_KEY,
      apiKeyId: s.AMIGO_API_KEY_ID,
      userId: s.AMIGO_USER_ID,
      organizationId: s.AMIGO_ORGANIZATION_ID,
      ...(s.AMIGO_BASE_URL ? { baseUrl: s.AMIGO_BASE_URL } : {}),
      rateLimits: pipeline.amigo.rateLimits,
      timeoutMs: pipeline.amigo.timeoutMs,
      maxAttempts: pipeline.amigo.maxAttempts,
    },
    {
      apiKey: 'AMIGO_SECRET_ARN:AMIGO_API_KEY',
      organizationId: 'AMIGO_SECRET_ARN:AMIGO_ORGANIZATION_ID',
      baseUrl: 'AMIGO_SECRET_ARN:AMIGO_BASE_URL',
    },
  );
}

export interface LambdaRuntime {
  readonly env: FunctionEnv;
  readonly pipeline: PipelineConfig;
  readonly rules: RuleSet | undefined;
  readonly amigoConfig: AmigoClientConfig;
  readonly amigo: AmigoClient;
  readonly store: S3ArchiveStore;
  readonly sqs: SQSClient;
  /** Counts Amigo calls per operation and per run (the scheduler claims its unscoped calls). */
  readonly usage: MeteredRateBudget;
  /**
   * Flushes the shared budget's pending writes, publishes the Amigo call metrics and records the
   * invocation's calls per run in the archive.
   */
  readonly afterInvocation: () => Promise<void>;
}

/** Runs `build` once and keeps its result; a failure is not kept, so the next call tries again. */
function once<T>(build: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= build().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

async function buildRuntime(fn: FunctionId): Promise<LambdaRuntime> {
  const env = readFunctionEnv(fn);
  const { config: pipeline, rules } = embeddedDeployment();
  const secrets = new SecretsManagerClient({});
  const readSecret = () => amigoConfigFromSecret(secrets, required(env, ENV.amigoSecretArn), pipeline);
  const amigoConfig = await readSecret();
  const shared = new DynamoDbRateBudget({
    client: new DynamoDBClient({}),
    tableName: required(env, ENV.rateBudgetTable),
    userId: amigoConfig.userId,
    limits: amigoConfig.rateLimits,
    reserveShare: pipeline.amigo.priorityReserve,
  });
  const budget = new MeteredRateBudget(shared, { limits: amigoConfig.rateLimits });
  const amigo = new AmigoClient(amigoConfig, {
    rateBudget: budget,
    logger,
    // A warm function outlives a rotation of the secret: a refused key is read again.
    reloadApiKey: readSecret,
  });
  const prefix = env[ENV.archivePrefix];
  const store = new S3ArchiveStore({
    client: new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) }),
    bucket: required(env, ENV.archiveBucket),
    ...(prefix ? { prefix } : {}),
  });
  // Queue URLs are passed whole; the endpoint comes from the region (or AWS_ENDPOINT_URL_SQS).
  const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
  return {
    env,
    pipeline,
    rules,
    amigoConfig,
    amigo,
    store,
    sqs,
    usage: budget,
    afterInvocation: async () => {
      budget.publish();
      // The shared budget's pending writes first: they hold other functions' slots. A failure there
      // must not cost this invocation's usage documents either, so it is raised after they are written.
      let flushFailure: unknown;
      try {
        await shared.flush();
      } catch (error) {
        flushFailure = error ?? new Error('flush failed');
      }
      // The scheduler's calls made for no run (a stall-only scan) are kept beside the last run for
      // the outlook; without a readable last run they are dropped, and said so. Other functions'
      // (the stall worker's recommend-responses for such a scan) use no budget an archive needs,
      // and their roles may not read state/.
      let unscopedRunId: string | undefined;
      if (fn === 'scheduler' && budget.hasUnscoped()) {
        unscopedRunId = await readLastRun(store, amigoConfig.organizationId).catch((error: unknown) => {
          logger.warn('Could not read the last run: the calls made for no run are not recorded', {
            error: error instanceof Error ? error.name : String(error),
          });
          return undefined;
        });
      }
      const usages = budget.takeRunUsage(FUNCTIONS[fn].name, amigoConfig.rateLimits, {
        ...(unscopedRunId ? { unscopedRunId } : {}),
      });
      try {
        await writeRunUsage(store, usages, `${Date.now()}-${randomUUID().slice(0, 8)}`);
      } catch (error) {
        // The calls were made and the jobs are done: a missing count must not send them again.
        logger.warn('Could not record the Amigo calls of this invocation in the archive', {
          runs: usages.map((u) => u.run_id),
          error: error instanceof Error ? error.name : String(error),
        });
      }
      if (flushFailure !== undefined) throw flushFailure;
    },
  };
}

const runtimes = new Map<FunctionId, () => Promise<LambdaRuntime>>();

/** `fn`'s runtime, built once per cold start (a failed build is retried by the next invocation). */
export function lambdaRuntime(fn: FunctionId): Promise<LambdaRuntime> {
  let get = runtimes.get(fn);
  if (!get) {
    get = once(() => buildRuntime(fn));
    runtimes.set(fn, get);
  }
  return get();
}

function queue<J>(r: LambdaRuntime, name: EnvName): SqsJobQueue<J> {
  return new SqsJobQueue<J>({ client: r.sqs, queueUrl: String(required(r.env, name)) });
}

/** The archive jobs' queue: by class when the stack gives a priority queue (shared/jobs/archive.ts). */
function archiveJobs(r: LambdaRuntime) {
  const normal = queue<ArchiveJobMessage>(r, ENV.archiveQueueUrl);
  return r.env[ENV.archivePriorityQueueUrl]
    ? archiveJobQueue(normal, queue<ArchiveJobMessage>(r, ENV.archivePriorityQueueUrl))
    : normal;
}

export const lambdaArchiveWorkerDeps = once(async () => {
  const r = await lambdaRuntime('archiveWorker');
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs: archiveJobs(r),
    deadLetters: new SqsDeadLetters(r.sqs, required(r.env, ENV.archiveDlqUrl)),
    maxReceiveCount: required(r.env, ENV.maxReceiveCount),
    strict: r.pipeline.archive.strict,
    insightsConcurrency: r.pipeline.archive.insightsConcurrency,
    audio: r.pipeline.archive.audio,
    // Set by the stack only when a rules file is deployed.
    ...(r.env[ENV.tagQueueUrl] ? { tagJobs: queue<TagJobMessage>(r, ENV.tagQueueUrl) } : {}),
    usage: r.usage,
    afterInvocation: r.afterInvocation,
  };
});

export const lambdaTagWorkerDeps = once(async () => {
  const r = await lambdaRuntime('tagWorker');
  if (!r.rules) {
    throw new ConfigurationError(
      'rules',
      'are not built into the tag worker',
      'Name the rules file in the config (rules: ...) or with -c rules=<file>, then `npx cdk deploy`',
    );
  }
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    rules: r.rules,
    jobs: queue<TagJobMessage>(r, ENV.tagQueueUrl),
    deadLetters: new SqsDeadLetters(r.sqs, required(r.env, ENV.tagDlqUrl)),
    maxReceiveCount: required(r.env, ENV.maxReceiveCount),
    afterInvocation: r.afterInvocation,
  };
});

export const lambdaStallWorkerDeps = once(async () => {
  const r = await lambdaRuntime('stallWorker');
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs: queue<StallJobMessage>(r, ENV.stallQueueUrl),
    deadLetters: new SqsDeadLetters(r.sqs, required(r.env, ENV.stallDlqUrl)),
    maxReceiveCount: required(r.env, ENV.maxReceiveCount),
    contexts: r.pipeline.stall.contexts,
    tag: r.pipeline.stall.tag,
    afterInvocation: r.afterInvocation,
  };
});

export const lambdaSchedulerDeps = once(async () => {
  const r = await lambdaRuntime('scheduler');
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs: archiveJobs(r),
    continuation: queue<ContinueListingMessage>(r, ENV.schedulerQueueUrl),
    ...(r.env[ENV.stallQueueUrl]
      ? {
          stalls: {
            amigo: r.amigo,
            jobs: queue<StallJobMessage>(r, ENV.stallQueueUrl),
            afterMs: r.pipeline.stall.afterMs,
          },
        }
      : {}),
    usage: r.usage,
    options: {
      organizationId: r.amigoConfig.organizationId,
      serviceIds: r.pipeline.filters.serviceIds,
      lookbackMs: r.pipeline.archive.lookbackMs,
      priorities: r.pipeline.archive.priorities,
      deferUnanalyzed: r.pipeline.archive.deferUnanalyzed,
      since: r.pipeline.archive.since,
      reserveShare: r.pipeline.amigo.priorityReserve,
    },
    afterInvocation: r.afterInvocation,
  };
});
