// The Lambda entry points exactly as deployed (functions/*/handler.ts `handler`), wired from the
// environment like in AWS, with every AWS service replaced by something speaking its wire protocol
// on 127.0.0.1: S3 and SQS (the embedded emulator, S3 behind the proxy that enforces conditional
// writes), DynamoDB (dynalite), Secrets Manager (an in-process fake: no emulator exists).
// Lambda itself cannot run here: the local SQS runtime delivers the events.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startLocalAws } from '../../local/fauxqs.ts';
import { createQueueWithDlq, LocalSqsRuntime, type SqsHandler } from '../../local/sqs-runtime.ts';
import { createRateBudgetTable } from '../../shared/adapters/dynamodb-rate-budget.ts';
import { S3ArchiveStore } from '../../shared/adapters/s3-archive-store.ts';
import { readRunAmigo } from '../../shared/archive/state.ts';
import { ManifestSchema, RunUsageSchema } from '../../shared/archive-format/documents.ts';
import { conversationPrefix, usagePrefix } from '../../shared/archive-format/keys.ts';
import { parseDocument } from '../../shared/archive-format/read-document.ts';
import { defaultPipelineConfig } from '../../shared/config/pipeline-config.ts';
import {
  DEPLOYMENT_CONSTANT,
  parseDeployment,
  serializeDeployment,
} from '../../shared/contract/deployment.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { operationIds, operations } from '../../shared/openapi/index.ts';
import { amigoConfigFromSecret, readFunctionEnv } from '../../shared/runtime/lambda.ts';
import { startConditionalS3Proxy } from '../support/conditional-s3-proxy.ts';
import { startDynalite } from '../support/dynalite.ts';
import { startFakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { simulatorAmigoEnv } from '../support/sim-credentials.ts';
import { startTestSimulator } from '../support/simulator.ts';

const cleanups: Array<() => Promise<unknown>> = [];
const savedEnv = { ...process.env };
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let s3Endpoint = '';
let archiveQueueUrl = '';
let stallQueueUrl = '';
let tagQueueUrl = '';
let sqsClient: ReturnType<Awaited<ReturnType<typeof startLocalAws>>['sqs']>;
/** The secret ids read from Secrets Manager: one read per function's cold start. */
let secretReads: readonly string[] = [];

function context(name: string): Context {
  const deadline = Date.now() + 300_000;
  return {
    functionName: name,
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as Context;
}

beforeAll(async () => {
  sim = await startTestSimulator({
    conversations: 16,
    longConversations: 0,
    rateLimits: { enabled: true, scale: 120 },
  });
  const aws = await startLocalAws();
  const proxy = await startConditionalS3Proxy(aws.endpoint);
  const dynamo = await startDynalite();
  const secrets = await startFakeSecretsManager();
  secretReads = secrets.reads;
  cleanups.push(
    () => sim.stop(),
    () => aws.stop(),
    () => proxy.stop(),
    () => dynamo.stop(),
    () => secrets.stop(),
  );
  s3Endpoint = proxy.endpoint;

  await aws.s3({ endpoint: proxy.endpoint }).send(new CreateBucketCommand({ Bucket: 'amigo-qa-archive' }));
  sqsClient = aws.sqs();
  const archive = await createQueueWithDlq(sqsClient, 'archive', { maxReceiveCount: 3 });
  const scheduler = await createQueueWithDlq(sqsClient, 'scheduler');
  const stall = await createQueueWithDlq(sqsClient, 'stall');
  stallQueueUrl = stall.queueUrl;
  const tag = await createQueueWithDlq(sqsClient, 'tag');
  tagQueueUrl = tag.queueUrl;
  archiveQueueUrl = archive.queueUrl;
  await createRateBudgetTable(
    new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    }),
    'rate-budget',
  );
  const secretArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:amigo-qa';
  secrets.put(secretArn, JSON.stringify(simulatorAmigoEnv(sim)));
  const windowMs = 2_000;
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    AWS_ENDPOINT_URL_SQS: aws.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    ARCHIVE_BUCKET: 'amigo-qa-archive',
    ARCHIVE_PREFIX: 'qa',
    ARCHIVE_QUEUE_URL: archive.queueUrl,
    ARCHIVE_DLQ_URL: archive.dlqUrl,
    SCHEDULER_QUEUE_URL: scheduler.queueUrl,
    STALL_QUEUE_URL: stall.queueUrl,
    STALL_DLQ_URL: stall.dlqUrl,
    TAG_QUEUE_URL: tag.queueUrl,
    TAG_DLQ_URL: tag.dlqUrl,
    RATE_BUDGET_TABLE: 'rate-budget',
    AMIGO_SECRET_ARN: secretArn,
    MAX_RECEIVE_COUNT: '3',
  });
  // What the stack builds into every bundle (the rules only into the tag worker's; one process here).
  (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT] = serializeDeployment({
    v: 1,
    config: {
      source: 'test config',
      value: {
        amigo: {
          rateLimits: Object.fromEntries(
            operationIds.map((id) => [id, `${operations[id].publishedLimit.limit}/${windowMs}ms`]),
          ),
        },
      },
    },
    rules: { source: 'examples/rules.yaml', value: parseYaml(readFileSync('examples/rules.yaml', 'utf8')) },
  });
});

afterAll(async () => {
  process.env = savedEnv;
  delete (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT];
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Lambda wiring', () => {
  it('when the deployed handlers run from the environment, then the nightly cycle archives every eligible conversation into S3, tags by the rules, asks once per stalled interaction, and each function builds its dependencies once', async () => {
    const { handler: scheduler } = await import('../../functions/scheduler/handler.ts');
    const { handler: archiveWorker } = await import('../../functions/archive-worker/handler.ts');
    const { handler: stallWorker } = await import('../../functions/stall-worker/handler.ts');
    const { handler: tagWorker } = await import('../../functions/tag-worker/handler.ts');

    const {
      archive: [listed],
      stalls: found,
    } = await scheduler({ tasks: ['archive', 'stalls'] }, context('scheduler'));
    const invocations = { 'archive-worker': 0, 'stall-worker': 0, 'tag-worker': 0 };
    const counted =
      (name: keyof typeof invocations, handler: SqsHandler): SqsHandler =>
      (event, context) => {
        invocations[name]++;
        return handler(event, context);
      };
    const runtime = new LocalSqsRuntime(sqsClient, [
      {
        name: 'archive-worker',
        queueUrl: archiveQueueUrl,
        handler: counted('archive-worker', archiveWorker),
        batchSize: 5,
        concurrency: 2,
      },
      {
        name: 'stall-worker',
        queueUrl: stallQueueUrl,
        handler: counted('stall-worker', stallWorker),
        batchSize: 5,
        concurrency: 1,
      },
      {
        name: 'tag-worker',
        queueUrl: tagQueueUrl,
        handler: counted('tag-worker', tagWorker),
        batchSize: 5,
        concurrency: 1,
      },
    ]);
    runtime.start();
    await runtime.drain({ timeoutMs: 120_000 });
    await runtime.stop();

    const eligible = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    expect(listed?.counts.enqueued).toBe(eligible.length);
    // Dependencies are built once per cold start: each function read the secret once, however many
    // times it was invoked.
    expect(invocations['archive-worker']).toBeGreaterThanOrEqual(2);
    expect(secretReads).toHaveLength(4);
    const stalled = sim.control.conversations().filter((c) => sim.control.scenario(c.id) === 'stalled');
    expect(found?.enqueued).toBe(stalled.length);
    const tagged = sim.control.stats().writes.filter((w) => w.operationId === 'modify-tags-of-conversation');
    expect(tagged.length).toBeGreaterThan(0);
    expect(tagged.every((w) => eligible.some((c) => c.id === w.conversationId))).toBe(true);
    const recommended = sim.control
      .stats()
      .writes.filter((w) => w.operationId === 'recommend-responses-for-interaction');
    expect(recommended.map((w) => w.conversationId).sort()).toEqual(stalled.map((c) => c.id).sort());
    const { S3Client } = await import('@aws-sdk/client-s3');
    const store = new S3ArchiveStore({
      client: new S3Client({ endpoint: s3Endpoint, forcePathStyle: true }),
      bucket: 'amigo-qa-archive',
      prefix: 'qa',
    });
    for (const conversation of eligible) {
      const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
      const manifest = parseDocument(
        `${prefix}manifest.json`,
        String((await store.get(`${prefix}manifest.json`))?.body),
        ManifestSchema,
      );
      for (const file of manifest.files) {
        const body = (await store.get(prefix + file.path))?.body as Buffer;
        expect(createHash('sha256').update(body).digest('hex')).toBe(file.sha256);
      }
    }
    // Each function recorded the calls it made for the run: together, every call Amigo answered
    // (recording downloads are not Amigo operations).
    const usage = await readRunAmigo(store, String(listed?.runId));
    const answered = Object.entries(sim.control.stats().calls)
      .filter(([op]) => op !== 'audio')
      .map(([op, byStatus]) => [op, Object.values(byStatus).reduce((a, b) => a + b, 0)]);
    expect(usage.unreadable).toEqual([]);
    expect(
      Object.entries(usage.amigo?.calls ?? {})
        .map(([op, c]) => [op, c.answered])
        .sort(),
    ).toEqual(answered.sort());
    const sources = new Set<string>();
    let archivedByJobs = 0;
    for await (const object of store.list(usagePrefix(String(listed?.runId)))) {
      sources.add(object.key.split('/').pop()?.split('-').slice(0, -2).join('-') ?? '');
      archivedByJobs +=
        parseDocument(object.key, String((await store.get(object.key))?.body), RunUsageSchema).archived ?? 0;
    }
    expect([...sources].sort()).toEqual(['archive-worker', 'scheduler', 'stall-worker', 'tag-worker']);
    // The deployed archive worker counts each conversation it archived once, for the budget outlook.
    expect(archivedByJobs).toBe(eligible.length);
    // The shared budget's own suite proves its bound; here, with every service in one busy process,
    // a rare late arrival may draw a 429 (retried), but not more than the goal's 1% plus noise.
    const requests = sim.control.stats().requests;
    expect(requests.filter((r) => r.status === 429).length / requests.length).toBeLessThan(0.02);
  });

  it('when a variable is missing or malformed, then the cold start fails naming it and the function', () => {
    expect(() => readFunctionEnv('archiveWorker', {})).toThrow(ConfigurationError);
    expect(() => readFunctionEnv('archiveWorker', {})).toThrow(
      /ARCHIVE_BUCKET: is not set \(the archive-worker/,
    );
    expect(() =>
      readFunctionEnv('archiveWorker', { ...process.env, ARCHIVE_QUEUE_URL: 'not a url' }),
    ).toThrow(/ARCHIVE_QUEUE_URL: must be a URL/);
    expect(() => readFunctionEnv('stallWorker', { ...process.env, STALL_DLQ_URL: undefined })).toThrow(
      /STALL_DLQ_URL: is not set/,
    );
    expect(() => readFunctionEnv('tagWorker', { ...process.env, MAX_RECEIVE_COUNT: 'five' })).toThrow(
      /MAX_RECEIVE_COUNT/,
    );
  });

  it('when the secret lacks a key, then the error names the key and never shows a value', async () => {
    const secrets = await startFakeSecretsManager();
    cleanups.push(() => secrets.stop());
    secrets.put(
      'partial',
      JSON.stringify({ AMIGO_API_KEY: 'very-secret-key-value', AMIGO_API_KEY_ID: 'id', AMIGO_USER_ID: 'u' }),
    );
    const client = new SecretsManagerClient({ endpoint: secrets.endpoint });

    const error = await amigoConfigFromSecret(client, 'partial', defaultPipelineConfig()).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/AMIGO_ORGANIZATION_ID/);
    expect(JSON.stringify(error)).not.toContain('very-secret-key-value');
    expect((error as Error).message).not.toContain('very-secret-key-value');
  });

  it('when the deployed rules hold an invalid rule, then the cold start fails naming the rule and the field', () => {
    const text = serializeDeployment({
      v: 1,
      config: { source: 'amigo-qa.yaml', value: {} },
      rules: {
        source: 'rules.yaml',
        value: parseYaml(
          'rules:\n  - name: broken\n    when: { messages: { contians: help } }\n    set: { a: b }\n',
        ),
      },
    });

    expect(() => parseDeployment(text)).toThrow(/broken.*contians/s);
  });
});
