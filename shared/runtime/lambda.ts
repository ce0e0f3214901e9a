// The Lambda functions' wiring: environment read and validated once per cold start (a missing or
// bad value fails naming the variable), AWS clients created once, the Amigo credentials read from
// Secrets Manager, one DynamoDB rate budget shared by every function.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DynamoDbRateBudget } from '../adapters/dynamodb-rate-budget.ts';
import { S3ArchiveStore } from '../adapters/s3-archive-store.ts';
import { SqsDeadLetters } from '../adapters/sqs-dead-letters.ts';
import { SqsJobQueue } from '../adapters/sqs-job-queue.ts';
import { AmigoClient } from '../amigo/client.ts';
import { type AmigoClientConfig, resolveAmigoConfig } from '../amigo/config.ts';
import { type PipelineConfig, parsePipelineConfig } from '../config/pipeline-config.ts';
import { ConfigurationError } from '../errors.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../jobs.ts';
import { logger } from '../observability.ts';
import { systemClock } from '../ports/clock.ts';
import { parseRules, type RuleSet } from '../rules/index.ts';
import type { StallJobMessage } from '../stall/jobs.ts';
import type { TagJobMessage } from '../tags/jobs.ts';

const nonEmpty = z.string().trim().min(1, 'is not set');
const url = z.url('must be a URL');

export const LambdaEnvSchema = z
  .object({
    ARCHIVE_BUCKET: nonEmpty,
    ARCHIVE_PREFIX: z.string().default(''),
    ARCHIVE_QUEUE_URL: url,
    ARCHIVE_DLQ_URL: url,
    SCHEDULER_QUEUE_URL: url,
    RATE_BUDGET_TABLE: nonEmpty,
    /** Secrets Manager secret holding AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and optionally AMIGO_BASE_URL) as JSON. */
    AMIGO_SECRET_ARN: nonEmpty,
    /** The pipeline configuration (the config file's content as JSON), validated like the file. */
    PIPELINE_CONFIG: z.string().default('{}'),
    MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).default(5),
    /** The stall queue and its dead-letter queue; both unset: stall detection off. */
    STALL_QUEUE_URL: url.optional(),
    STALL_DLQ_URL: url.optional(),
    /** The tag queue and its dead-letter queue; both unset: no tagging. */
    TAG_QUEUE_URL: url.optional(),
    TAG_DLQ_URL: url.optional(),
    /** The rules file's content (YAML or JSON), validated at cold start like the file (and at synth). */
    RULES: z.string().optional(),
  })
  .refine((env) => Boolean(env.STALL_QUEUE_URL) === Boolean(env.STALL_DLQ_URL), {
    message: 'must be set together with STALL_DLQ_URL (both or neither)',
    path: ['STALL_QUEUE_URL'],
  })
  .refine(
    (env) =>
      Boolean(env.TAG_QUEUE_URL) === Boolean(env.TAG_DLQ_URL) &&
      Boolean(env.TAG_QUEUE_URL) === Boolean(env.RULES?.trim()),
    {
      message: 'must be set together with TAG_DLQ_URL and RULES (all or none)',
      path: ['TAG_QUEUE_URL'],
    },
  );
export type LambdaEnv = z.infer<typeof LambdaEnvSchema>;

export function readLambdaEnv(env: NodeJS.ProcessEnv = process.env): LambdaEnv {
  const parsed = LambdaEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigurationError(
      name,
      issue?.message ?? 'is invalid',
      'The CDK stack sets it; check the function configuration',
    );
  }
  return parsed.data;
}

export function readPipelineConfig(env: LambdaEnv): PipelineConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(env.PIPELINE_CONFIG);
  } catch {
    throw new ConfigurationError(
      'PIPELINE_CONFIG',
      'is not JSON',
      'It must hold the pipeline config file as JSON',
    );
  }
  return parsePipelineConfig(raw, 'PIPELINE_CONFIG');
}

const SecretSchema = z.object({
  AMIGO_API_KEY: nonEmpty,
  AMIGO_API_KEY_ID: nonEmpty,
  AMIGO_USER_ID: nonEmpty,
  AMIGO_ORGANIZATION_ID: nonEmpty,
  AMIGO_BASE_URL: z.string().optional(),
});

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
    throw new ConfigurationError(
      'AMIGO_SECRET_ARN',
      'names a secret that is not JSON',
      'Store the AMIGO_* values as a JSON object',
    );
  }
  const parsed = SecretSchema.safeParse(raw);
  if (!parsed.success) {
    // Name the missing key, never a value.
    const key = String(parsed.error.issues[0]?.path[0] ?? '');
    throw new ConfigurationError(
      `AMIGO_SECRET_ARN:${key}`,
      'is missing from the secret',
      `Add ${key} to the secret's JSON`,
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
  readonly env: LambdaEnv;
  readonly pipeline: PipelineConfig;
  readonly amigoConfig: AmigoClientConfig;
  readonly amigo: AmigoClient;
  readonly budget: DynamoDbRateBudget;
  readonly store: S3ArchiveStore;
  readonly sqs: SQSClient;
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

let runtime: Promise<LambdaRuntime> | undefined;

/** Built once per cold start and reused by every invocation of the container. */
export function lambdaRuntime(): Promise<LambdaRuntime> {
  runtime ??= (async () => {
    const env = readLambdaEnv();
    const pipeline = readPipelineConfig(env);
    const amigoConfig = await amigoConfigFromSecret(
      new SecretsManagerClient({}),
      env.AMIGO_SECRET_ARN,
      pipeline,
    );
    const budget = new DynamoDbRateBudget({
      client: new DynamoDBClient({}),
      tableName: env.RATE_BUDGET_TABLE,
      userId: amigoConfig.userId,
      limits: amigoConfig.rateLimits,
    });
    const amigo = new AmigoClient(amigoConfig, {
      rateBudget: budget,
      logger: {
        debug: (m, extra) => logger.debug(m, extra ?? {}),
        warn: (m, extra) => logger.warn(m, extra ?? {}),
      },
    });
    const store = new S3ArchiveStore({
      client: new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) }),
      bucket: env.ARCHIVE_BUCKET,
      ...(env.ARCHIVE_PREFIX ? { prefix: env.ARCHIVE_PREFIX } : {}),
    });
    // Queue URLs are passed whole; the endpoint comes from the region (or AWS_ENDPOINT_URL_SQS).
    const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
    return { env, pipeline, amigoConfig, amigo, budget, store, sqs };
  })();
  // A failed cold start must not be cached: the next invocation tries again (and fails loudly).
  runtime.catch(() => {
    runtime = undefined;
  });
  return runtime;
}

export const lambdaArchiveWorkerDeps = once(async () => {
  const r = await lambdaRuntime();
  const tags = tagQueue(r);
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs: new SqsJobQueue<ArchiveJobMessage>({ client: r.sqs, queueUrl: r.env.ARCHIVE_QUEUE_URL }),
    deadLetters: new SqsDeadLetters(r.sqs, r.env.ARCHIVE_DLQ_URL),
    maxReceiveCount: r.env.MAX_RECEIVE_COUNT,
    strict: r.pipeline.archive.strict,
    insightsConcurrency: r.pipeline.archive.insightsConcurrency,
    audio: r.pipeline.archive.audio,
    ...(tags ? { tagJobs: tags } : {}),
    afterInvocation: () => r.budget.flush(),
  };
});

export function readRules(env: LambdaEnv): RuleSet | undefined {
  if (!env.RULES?.trim()) return undefined;
  let raw: unknown;
  try {
    raw = parseYaml(env.RULES);
  } catch (error) {
    throw new ConfigurationError(
      'RULES',
      `is not YAML or JSON (${(error as Error).message})`,
      'Set it to the rules file content',
    );
  }
  return parseRules(raw, 'RULES');
}

function tagQueue(r: LambdaRuntime): SqsJobQueue<TagJobMessage> | undefined {
  return r.env.TAG_QUEUE_URL
    ? new SqsJobQueue<TagJobMessage>({ client: r.sqs, queueUrl: r.env.TAG_QUEUE_URL })
    : undefined;
}

export const lambdaTagWorkerDeps = once(async () => {
  const r = await lambdaRuntime();
  const jobs = tagQueue(r);
  const rules = readRules(r.env);
  if (!jobs || !r.env.TAG_DLQ_URL) {
    throw new ConfigurationError(
      'TAG_QUEUE_URL',
      'is not set for the tag worker',
      'Set TAG_QUEUE_URL and TAG_DLQ_URL',
    );
  }
  if (!rules)
    throw new ConfigurationError(
      'RULES',
      'is not set for the tag worker',
      'Set RULES to the rules file content',
    );
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    rules,
    jobs,
    deadLetters: new SqsDeadLetters(r.sqs, r.env.TAG_DLQ_URL),
    maxReceiveCount: r.env.MAX_RECEIVE_COUNT,
    afterInvocation: () => r.budget.flush(),
  };
});

function stallQueue(r: LambdaRuntime): SqsJobQueue<StallJobMessage> | undefined {
  return r.env.STALL_QUEUE_URL
    ? new SqsJobQueue<StallJobMessage>({ client: r.sqs, queueUrl: r.env.STALL_QUEUE_URL })
    : undefined;
}

export const lambdaStallWorkerDeps = once(async () => {
  const r = await lambdaRuntime();
  const jobs = stallQueue(r);
  if (!jobs || !r.env.STALL_DLQ_URL) {
    throw new ConfigurationError(
      'STALL_QUEUE_URL',
      'is not set for the stall worker',
      'Set STALL_QUEUE_URL and STALL_DLQ_URL',
    );
  }
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs,
    deadLetters: new SqsDeadLetters(r.sqs, r.env.STALL_DLQ_URL),
    maxReceiveCount: r.env.MAX_RECEIVE_COUNT,
    contexts: r.pipeline.stall.contexts,
    tag: r.pipeline.stall.tag,
    afterInvocation: () => r.budget.flush(),
  };
});

export const lambdaSchedulerDeps = once(async () => {
  const r = await lambdaRuntime();
  const stalls = stallQueue(r);
  return {
    amigo: r.amigo,
    store: r.store,
    clock: systemClock,
    jobs: new SqsJobQueue<ArchiveJobMessage>({ client: r.sqs, queueUrl: r.env.ARCHIVE_QUEUE_URL }),
    continuation: new SqsJobQueue<ContinueListingMessage>({
      client: r.sqs,
      queueUrl: r.env.SCHEDULER_QUEUE_URL,
    }),
    ...(stalls ? { stalls: { amigo: r.amigo, jobs: stalls, afterMs: r.pipeline.stall.afterMs } } : {}),
    options: {
      organizationId: r.amigoConfig.organizationId,
      serviceIds: r.pipeline.filters.serviceIds,
      lookbackMs: r.pipeline.archive.lookbackMs,
      deferUnanalyzed: r.pipeline.archive.deferUnanalyzed,
      since: r.pipeline.archive.since,
    },
    afterInvocation: () => r.budget.flush(),
  };
});
