// Least privilege, proven by usage. The stack's role policies (infra/stacks/amigo-qa-stack.ts) are
// held to what the deployed handler code really does, both ways:
// - every AWS call a handler made is allowed by its function's role (a missing grant is an
//   AccessDenied after deploy, on a path that may run once a month);
// - every grant of a role was used by some call, except a short list of grants that AWS itself
//   exercises with the role (logs, X-Ray, the SQS event source), listed and explained below.
//
// How: the stack is synthesized with the example config and rules; local services are created
// after the template's resources (queues named by their logical id, the bucket, the rate-budget
// table, the secret) and every Ref/GetAtt of the template is resolved to the value the local run
// uses (test/support/iam/template-resources.ts). The handler exports (functions/*/handler.ts) run
// with the template's own environment, every AWS SDK command they send is recorded per function
// (test/support/iam/aws-usage.ts), turned into IAM actions and resources (permissions.ts) and
// matched against the function's role policies (policy.ts).
//
// The scenarios drive the nightly cycle and then each rare path on purpose (a path that never ran
// proves nothing): put-back after Amigo gives up with 503, dead-letter on a 403, a redelivered
// archive job that repairs a manifest and a redelivered stall job, a recording upload aborted
// part-way, and the scheduler's hand-over to its own queue. Each asserts from the recorded calls
// or the simulator's stats that its path really ran.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { CfnElement } from 'aws-cdk-lib';
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SchedulerEvent, SchedulerOutput } from '../../functions/scheduler/handler.ts';
import type { TablesWriterOutput } from '../../functions/tables-writer/handler.ts';
import { loadDeploymentInputs } from '../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../infra/stacks/amigo-qa-stack.ts';
import { startLocalAws } from '../../local/fauxqs.ts';
import { LocalSqsRuntime, type QueueBinding, type SqsHandler } from '../../local/sqs-runtime.ts';
import { createRateBudgetTable } from '../../shared/adapters/dynamodb-rate-budget.ts';
import { SqsJobQueue } from '../../shared/adapters/sqs-job-queue.ts';
import { NEVER_SENT, nextMarker } from '../../shared/archive/pending.ts';
import { StallRecordSchema } from '../../shared/archive-format/documents.ts';
import {
  audioPath,
  conversationPrefix,
  manifestKey,
  pendingKey,
  STAGING_DIR,
  stallConversationPrefix,
} from '../../shared/archive-format/keys.ts';
import { parseDocument } from '../../shared/archive-format/read-document.ts';
import { DEPLOYMENT_CONSTANT, serializeDeployment } from '../../shared/contract/deployment.ts';
import {
  FUNCTION_IDS,
  FUNCTIONS,
  type FunctionId,
  NIGHTLY_INPUT,
  type QueueId,
  queuesOf,
  TABLES_WRITER,
  TABLES_WRITER_INPUT,
} from '../../shared/contract/topology.ts';
import { conversationId, interactionId, type RunId } from '../../shared/ids.ts';
import { type ArchiveJobMessage, archiveJobId } from '../../shared/jobs/archive.ts';
import { type StallJobMessage, stallJobId } from '../../shared/jobs/stall.ts';
import { type TagJobMessage, tagJobId } from '../../shared/jobs/tag.ts';
import { type ConversationInstance, operationIds, operations } from '../../shared/openapi/index.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from '../support/conditional-s3-proxy.ts';
import { startDynalite } from '../support/dynalite.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { type AwsCall, type AwsRecorder, recordAwsCalls } from '../support/iam/aws-usage.ts';
import { type Permission, type PermissionEnv, permissionsFor } from '../support/iam/permissions.ts';
import {
  allowingStatement,
  type PlatformGrant,
  resolveIntrinsics,
  rolePolicyStatements,
  type Statement,
  type Template,
  unusedGrants,
} from '../support/iam/policy.ts';
import { type TemplateResources, templateResources } from '../support/iam/template-resources.ts';
import { simulatorAmigoEnv } from '../support/sim-credentials.ts';
import { startTestSimulator, type TestSimulator } from '../support/simulator.ts';
import { createTestApp, removeTestOutdirs } from '../unit/infra/cdk-test-app.ts';

const REGION = 'us-east-1';
// fauxqs builds its queue ARNs with this account.
const ACCOUNT = '000000000000';
const MiB = 1024 * 1024;
/** amigo.maxAttempts of the test deployment: a scripted fault repeated this often makes the client give up. */
const MAX_ATTEMPTS = 2;
/** The recording that outgrows one 8 MiB multipart part. */
const LARGE_RECORDING_BYTES = 16 * MiB;
/** Each scripted audio failure cuts a download after this much: the fourth one ends the recording at 12 MiB. */
const AUDIO_FAIL_AFTER_BYTES = 3 * MiB;

type TemplateJson = Template & { Resources: Record<string, { Type: string; Properties?: unknown }> };
type Props = Record<string, unknown>;

interface LocalQueue {
  readonly url: string;
  readonly arn: string;
}

const cleanups: Array<() => Promise<unknown>> = [];
const savedEnv = { ...process.env };

let stack: AmigoQaStack;
let resolved: TemplateJson;
let resources: TemplateResources;
let sim: TestSimulator;
let secrets: FakeSecretsManager;
let proxy: ConditionalS3Proxy;
let sqs: SQSClient;
let s3: S3Client;
let recorder: AwsRecorder;
let secretArn = '';
let keyArn = '';
let bucket = '';
const queueArnByUrl = new Map<string, string>();
/** Each function's own queue and dead-letter queue. */
const queues = {} as Record<QueueId, { main: LocalQueue; dlq: LocalQueue }>;
let invocationFailuresArn = '';
/** Per function, from the template: its role's logical id, its name, log group, timeout and event source mapping. */
const wiring = {} as Record<
  FunctionId,
  {
    role: string;
    name: string;
    logGroupArn: string;
    timeoutMs: number;
    batchSize: number;
    concurrency: number;
  }
>;
const handlers = {} as Record<FunctionId, (event: never, context: Context) => Promise<unknown>>;
/** The tables writer: invoked by its schedule, not a queue (TABLES_WRITER). */
const TABLES = 'tablesWriter';
let tablesWriting: { role: string; name: string; logGroupArn: string };
let tablesWriterHandler: (event: unknown, context: Context) => Promise<unknown>;
const schedulerResults: SchedulerOutput[] = [];
let running = 0;

// Facts the scenarios hand on to each other.
let testInputs: ReturnType<typeof loadDeploymentInputs>;
let nightlyRunId: RunId;
let eligible: ConversationInstance[] = [];

/** The example config and rules, with Amigo limits scaled for the simulator and a quick give-up. */
function testDocument(inputs: ReturnType<typeof loadDeploymentInputs>, windowMs: number): string {
  // One service's conversations first, so the scheduler sends by both archive queues.
  const [firstService] = [...new Set(sim.control.conversations().map((c) => c.service_id))].sort();
  const value = inputs.configFile.value as Props;
  return serializeDeployment({
    v: 1,
    config: {
      source: `${inputs.configFile.source} (test: published limits per ${windowMs} ms, ${MAX_ATTEMPTS} attempts)`,
      value: {
        ...value,
        amigo: {
          ...(value.amigo as Props),
          rateLimits: Object.fromEntries(
            operationIds.map((id) => [id, `${operations[id].publishedLimit.limit}/${windowMs}ms`]),
          ),
          maxAttempts: MAX_ATTEMPTS,
          timeout: '10s',
        },
        // The simulator's conversations are minutes old: with the default 30m none would be old
        // enough to check, and the user-spoke-last note (checked.json) would never be written.
        stall: { ...(value.stall as Props), after: '1m' },
        archive: { ...(value.archive as Props), priorities: [{ services: [firstService] }] },
      },
    },
    ...(inputs.rules ? { rules: inputs.rules.file } : {}),
  });
}

function logicalId(element: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(element.node.defaultChild as CfnElement);
}

function props(id: string): Props {
  return (resolved.Resources[id]?.Properties ?? {}) as Props;
}

beforeAll(async () => {
  // 1. The stack as `cdk synth -c config=examples/amigo-qa.yaml -c rules=examples/rules.yaml` builds it.
  const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  stack = new AmigoQaStack(createTestApp(), 'AmigoQa', { env: { account: ACCOUNT, region: REGION }, inputs });
  const raw = CdkTemplate.fromStack(stack).toJSON() as TemplateJson;

  // 2. Local services, and resources named after the template's.
  sim = await startTestSimulator({
    conversations: 16,
    longConversations: 0,
    rateLimits: { enabled: true, scale: 120 },
    audio: { largeRecordings: 1, largeRecordingBytes: LARGE_RECORDING_BYTES },
  });
  const aws = await startLocalAws({ region: REGION });
  proxy = await startConditionalS3Proxy(aws.endpoint);
  const dynamo = await startDynalite();
  secrets = await startFakeSecretsManager();
  cleanups.push(
    () => sim.stop(),
    () => aws.stop(),
    () => proxy.stop(),
    () => dynamo.stop(),
    () => secrets.stop(),
  );
  sqs = aws.sqs();
  s3 = aws.s3({ endpoint: proxy.endpoint });

  const urls = new Map<string, string>();
  resources = templateResources(raw, {
    region: REGION,
    account: ACCOUNT,
    queueUrl: (name) => {
      const url = urls.get(name);
      if (url === undefined) throw new Error(`queue ${name} was not created locally`);
      return url;
    },
  });
  const pseudo = { region: REGION, account: ACCOUNT };
  // Dead-letter queues first: the others name them in their RedrivePolicy.
  const redrives = (id: string) => 'RedrivePolicy' in ((raw.Resources[id]?.Properties ?? {}) as Props);
  const queueIds = resources
    .ofType('AWS::SQS::Queue')
    .sort((a, b) => Number(redrives(a)) - Number(redrives(b)));
  for (const id of queueIds) {
    const p = resolveIntrinsics(raw.Resources[id]?.Properties ?? {}, resources.resolve, pseudo) as Props;
    const attributes: Record<string, string> = {};
    for (const name of [
      'VisibilityTimeout',
      'MessageRetentionPeriod',
      'DelaySeconds',
      'ReceiveMessageWaitTimeSeconds',
    ]) {
      if (p[name] !== undefined) attributes[name] = String(p[name]);
    }
    if (p.RedrivePolicy !== undefined) attributes.RedrivePolicy = JSON.stringify(p.RedrivePolicy);
    const created = await sqs.send(new CreateQueueCommand({ QueueName: id, Attributes: attributes }));
    const url = created.QueueUrl ?? '';
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    expect(Attributes?.QueueArn, `the local ARN of ${id}`).toBe(resources.arn(id));
    urls.set(id, url);
    queueArnByUrl.set(url, resources.arn(id));
  }
  resolved = {
    ...raw,
    Resources: resolveIntrinsics(raw.Resources, resources.resolve, pseudo) as TemplateJson['Resources'],
  };

  for (const [queueId, work] of Object.entries(stack.queues)) {
    const local = (id: string): LocalQueue => ({
      url: resources.resolve({ Ref: id }),
      arn: resources.arn(id),
    });
    queues[queueId as QueueId] = {
      main: local(logicalId(work.queue)),
      dlq: local(logicalId(work.deadLetterQueue)),
    };
  }
  invocationFailuresArn = resources.arn(logicalId(stack.invocationFailures));
  keyArn = resources.arn(logicalId(stack.key));
  bucket = resources.name(logicalId(stack.archive.bucket));
  secretArn = resources.resolve({ Ref: logicalId(stack.secret) });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await createRateBudgetTable(
    new DynamoDBClient({ endpoint: dynamo.endpoint, region: REGION, credentials: aws.credentials }),
    resources.name(logicalId(stack.table)),
  );
  secrets.put(secretArn, secretValue(sim));

  // 3. The environment: the union of the four functions' template variables (shared names agree).
  const environment: Record<string, string> = {};
  for (const fn of FUNCTION_IDS) {
    const f = stack.functions[fn];
    if (!f) throw new Error(`the stack has no ${fn} function`);
    const fnId = logicalId(f.function);
    const variables = (props(fnId).Environment as { Variables: Record<string, string> }).Variables;
    for (const [name, value] of Object.entries(variables)) {
      if (environment[name] !== undefined) {
        expect(value, `${name} differs between the functions' environments`).toBe(environment[name]);
      }
      environment[name] = value;
    }
    const mapping = resources
      .ofType('AWS::Lambda::EventSourceMapping')
      .map((id) => props(id))
      .find((p) => p.FunctionName === resources.name(fnId));
    if (!mapping) throw new Error(`no event source mapping feeds ${fn}`);
    expect(mapping.EventSourceArn).toBe(queues[FUNCTIONS[fn].queue].main.arn);
    wiring[fn] = {
      role: logicalId(f.role),
      name: resources.name(fnId),
      logGroupArn: resources.arn(logicalId(f.logGroup)),
      timeoutMs: Number(props(fnId).Timeout) * 1000,
      batchSize: Number(mapping.BatchSize),
      concurrency: Number(
        (mapping.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 2,
      ),
    };
  }
  const writerId = logicalId(stack.tablesWriter.function);
  const writerVariables = (props(writerId).Environment as { Variables: Record<string, string> }).Variables;
  for (const [name, value] of Object.entries(writerVariables)) {
    if (environment[name] !== undefined)
      expect(value, `${name} of the tables writer`).toBe(environment[name]);
    environment[name] = value;
  }
  tablesWriting = {
    role: logicalId(stack.tablesWriter.role),
    name: resources.name(writerId),
    logGroupArn: resources.arn(logicalId(stack.tablesWriter.logGroup)),
  };
  Object.assign(process.env, environment, {
    // Handler logs stay at the test runner's level (the template says INFO).
    POWERTOOLS_LOG_LEVEL: savedEnv.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    AWS_ENDPOINT_URL_SQS: aws.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  });
  // One process runs all four functions: they share the tag worker's document (a superset).
  (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT] = testDocument(inputs, 2_000);
  testInputs = inputs;

  // 4. The handler exports as deployed, each call attributed to its function.
  recorder = recordAwsCalls();
  handlers.scheduler = lambda('scheduler', (await import('../../functions/scheduler/handler.ts')).handler);
  handlers.archiveWorker = lambda(
    'archiveWorker',
    (await import('../../functions/archive-worker/handler.ts')).handler,
  );
  handlers.tagWorker = lambda('tagWorker', (await import('../../functions/tag-worker/handler.ts')).handler);
  handlers.stallWorker = lambda(
    'stallWorker',
    (await import('../../functions/stall-worker/handler.ts')).handler,
  );
  tablesWriterHandler = recorder.wrap(
    TABLES,
    (await import('../../functions/tables-writer/handler.ts')).handler as (
      event: unknown,
      context: Context,
    ) => Promise<unknown>,
  );
});

afterAll(async () => {
  recorder?.stop();
  process.env = savedEnv;
  delete (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT];
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTestOutdirs();
});

function secretValue(s: TestSimulator): string {
  return JSON.stringify(simulatorAmigoEnv(s));
}

/** `handler`, its AWS calls recorded as `fn`'s, counted while running, the scheduler's results kept. */
function lambda<E, R>(fn: FunctionId, handler: (event: E, context: Context) => Promise<R>) {
  return recorder.wrap(fn, async (event: E, context: Context): Promise<R> => {
    running++;
    try {
      const result = await handler(event, context);
      if (fn === 'scheduler') schedulerResults.push(result as SchedulerOutput);
      return result;
    } finally {
      running--;
    }
  });
}

function scheduler(event: SchedulerEvent, remainingMs: () => number): Promise<SchedulerOutput> {
  const context = {
    functionName: wiring.scheduler.name,
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: remainingMs,
  } as Context;
  return (handlers.scheduler as (e: SchedulerEvent, c: Context) => Promise<SchedulerOutput>)(event, context);
}

function deadline(ms: number): () => number {
  const at = Date.now() + ms;
  return () => at - Date.now();
}

/** One binding per queue that invokes `fn` (the archive worker: its queue and the priority queue). */
function bindings(fn: FunctionId): QueueBinding[] {
  return queuesOf(FUNCTIONS[fn]).map((q) => binding(fn, queues[q].main));
}

function binding(fn: FunctionId, queue: LocalQueue): QueueBinding {
  const w = wiring[fn];
  const handler = handlers[fn] as (event: SQSEvent, context: Context) => Promise<unknown>;
  return {
    name: FUNCTIONS[fn].name,
    queueUrl: queue.url,
    queueArn: queue.arn,
    // What the event source mapping sees: a batch response, or nothing (the scheduler's result).
    handler: (async (event, context) => {
      const result = await handler(event as unknown as SQSEvent, context);
      return fn === 'scheduler' ? undefined : (result as SQSBatchResponse);
    }) satisfies SqsHandler,
    batchSize: w.batchSize,
    concurrency: w.concurrency,
    functionTimeoutMs: w.timeoutMs,
  };
}

/** Delivers the functions' queues like Lambda until drained, or until `until` holds and nothing runs. */
async function deliver(fns: FunctionId[], until?: { what: string; done: () => boolean }): Promise<void> {
  const runtime = new LocalSqsRuntime(sqs, fns.flatMap(bindings));
  runtime.start();
  try {
    if (until) await waitFor(until.what, () => until.done() && running === 0);
    else await runtime.drain({ timeoutMs: 60_000 });
  } finally {
    await runtime.stop();
  }
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until `fn` has sent no AWS call for `quietMs` (work it left running in the background). */
async function quiet(fn: FunctionId, quietMs = 750): Promise<void> {
  let count = -1;
  let since = Date.now();
  await waitFor(`${fn} to go quiet`, () => {
    const now = recorder.calls.filter((c) => c.fn === fn).length;
    if (now !== count) {
      count = now;
      since = Date.now();
    }
    return Date.now() - since >= quietMs;
  });
}

/** Leftovers of a rare path (a put-back delayed 5-15 minutes, a failed record hidden for an hour). */
async function purge(...ids: QueueId[]): Promise<void> {
  for (const id of ids) await sqs.send(new PurgeQueueCommand({ QueueUrl: queues[id].main.url }));
}

async function send<J>(queue: QueueId, id: string, body: J): Promise<void> {
  const { failed } = await new SqsJobQueue<J>({ client: sqs, queueUrl: queues[queue].main.url }).send([
    { id, body },
  ]);
  expect(failed).toEqual([]);
}

async function readObject(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString()) ?? '';
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

function callsSince(mark: number, fn: FunctionId, command?: string): AwsCall[] {
  return recorder.calls
    .slice(mark)
    .filter((c) => c.fn === fn && (command === undefined || c.command === command));
}

function archiveJob(conversation: ConversationInstance): ArchiveJobMessage {
  return {
    kind: 'archive',
    v: 1,
    runId: nightlyRunId,
    organizationId: sim.organizationId,
    conversationId: conversationId(conversation.id),
    conversation,
    deferrals: 0,
    continuations: 0,
  };
}

function tagJob(conversation: ConversationInstance): TagJobMessage {
  return {
    kind: 'tag',
    v: 1,
    runId: nightlyRunId,
    organizationId: sim.organizationId,
    conversationId: conversationId(conversation.id),
    createdAt: conversation.created_at,
    deferrals: 0,
  };
}

/** The stall job the scan sent for a recorded interaction (everything it needs is in the record). */
function stallJobOf(recordText: string): StallJobMessage {
  const r = parseDocument('stall record', recordText, StallRecordSchema);
  return {
    kind: 'stall',
    v: 1,
    runId: null,
    organizationId: r.organization_id,
    conversationId: conversationId(r.conversation_id),
    interactionId: interactionId(r.interaction_id),
    conversationCreatedAt: r.conversation_created_at,
    serviceId: r.service_id,
    lastAgentMessage: r.last_agent_message,
    numMessages: r.num_messages,
    tagKeys: Object.keys(sim.control.conversation(r.conversation_id)?.tags ?? {}),
    deferrals: 0,
  };
}

const key = (call: AwsCall) => String(call.input.Key);

// The conversations the rare paths use, picked after the nightly cycle.
let tagged: ConversationInstance; // archived, and tagged by the rules
let repaired: ConversationInstance; // archived, then one of its files rewritten
let stalled: { conversation: ConversationInstance; recordKey: string; job: StallJobMessage };
let large: { conversation: ConversationInstance; audioKey: string };

describe('Least privilege, proven by usage', () => {
  it('when the nightly schedule starts a cycle and the queues drain, then every eligible conversation is archived and tagged, and every stalled interaction asked once', async () => {
    // One conversation was started by an earlier delivery that ran out of time: its staging is
    // read, used and removed after the commit.
    const resumed = sim.control
      .conversations()
      .find((c) => c.is_finished && c.is_analyzed) as ConversationInstance;
    const staging = `${conversationPrefix(sim.organizationId, resumed.created_at, resumed.id)}${STAGING_DIR}chunk-0badc0de-00001.json`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: staging,
        Body: JSON.stringify({ insights: [], audio: [] }),
      }),
    );
    const mark = recorder.calls.length;
    const out = await scheduler(NIGHTLY_INPUT, deadline(wiring.scheduler.timeoutMs));
    const listed = out.archive[0];
    expect(listed?.status).toBe('listed');
    nightlyRunId = listed?.runId as RunId;
    // What the listing saw (a conversation may finish analysing while the queues drain).
    eligible = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    await deliver(['archiveWorker', 'tagWorker', 'stallWorker', 'scheduler']);

    expect(listed?.counts.enqueued).toBe(eligible.length);
    expect(callsSince(mark, 'archiveWorker', 'DeleteObject').map(key)).toContain(staging);
    const manifests = callsSince(mark, 'archiveWorker', 'PutObject')
      .filter((c) => c.error === undefined && key(c).endsWith('/manifest.json'))
      .map(key);
    expect(manifests.sort()).toEqual(
      eligible.map((c) => manifestKey(sim.organizationId, c.created_at, c.id)).sort(),
    );
    const writes = sim.control.stats().writes;
    const tagWrites = writes.filter(
      (w) =>
        w.operationId === 'modify-tags-of-conversation' && eligible.some((c) => c.id === w.conversationId),
    );
    expect(tagWrites.length).toBeGreaterThan(0);
    const recommended = writes.filter((w) => w.operationId === 'recommend-responses-for-interaction');
    expect(recommended.length).toBe(out.stalls?.enqueued);
    const stalledIds = sim.control
      .conversations()
      .filter((c) => sim.control.scenario(c.id) === 'stalled')
      .map((c) => c.id);
    expect(stalledIds.every((id) => recommended.some((w) => w.conversationId === id))).toBe(true);
    // The scan noted the conversations where the user spoke last.
    expect(
      callsSince(mark, 'scheduler', 'PutObject').filter((c) => key(c).endsWith('/checked.json')).length,
    ).toBeGreaterThan(0);

    tagged = eligible.find((c) => c.id === tagWrites[0]?.conversationId) as ConversationInstance;
    repaired = eligible.find((c) => c.id !== tagged.id && c.num_messages > 0) as ConversationInstance;
    const first = sim.control.conversation(stalledIds[0] ?? '') as ConversationInstance;
    const [recordKey] = (
      await listKeys(stallConversationPrefix(sim.organizationId, first.created_at, first.id))
    ).filter((k) => k.includes('/interaction='));
    stalled = {
      conversation: first,
      recordKey: recordKey ?? '',
      job: stallJobOf(await readObject(recordKey ?? '')),
    };
    const unanalyzed = sim.control
      .conversations()
      .find((c) =>
        sim.control
          .messages(c.id)
          .some((m) => (sim.control.audio(m.id)?.bytes ?? 0) >= LARGE_RECORDING_BYTES),
      ) as ConversationInstance;
    expect(
      unanalyzed.is_analyzed,
      'the large recording belongs to a conversation the nightly cycle leaves alone',
    ).toBe(false);
    const recording = sim.control
      .messages(unanalyzed.id)
      .find((m) => (sim.control.audio(m.id)?.bytes ?? 0) >= LARGE_RECORDING_BYTES);
    large = {
      conversation: unanalyzed,
      audioKey: `${conversationPrefix(sim.organizationId, unanalyzed.created_at, unanalyzed.id)}${audioPath(recording?.id ?? '', 'audio/wav')}`,
    };
  });

  it('when the next night runs, then the scheduler sums up the last run from its outcomes, sends a job whose marker outlived its archiving back to the worker (which clears it), and the stall scan reads the records and notes instead of asking again', async () => {
    // A worker that stopped between committing a manifest and clearing its marker (before its tag
    // job was sent) leaves this; the job is long gone from the queue.
    const archived = eligible[0] as ConversationInstance;
    const stale = pendingKey(sim.organizationId, archived.id);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: stale,
        Body: JSON.stringify({
          ...nextMarker(undefined, archived, nightlyRunId, Date.now()),
          enqueued_at: NEVER_SENT,
        }),
      }),
    );
    const mark = recorder.calls.length;
    const out = await scheduler(NIGHTLY_INPUT, deadline(wiring.scheduler.timeoutMs));
    expect(out.archive[0]?.counts.recovered).toBe(1);
    await deliver(['archiveWorker']);
    expect(callsSince(mark, 'archiveWorker', 'DeleteObject').map(key)).toEqual([stale]);
    await purge('tag');
    expect(out.archive[0]?.status).toBe('listed');
    expect(out.stalls?.alreadyRequested).toBeGreaterThan(0);
    const outcomes = `runs/${nightlyRunId}/archive/`;
    expect(callsSince(mark, 'scheduler', 'ListObjectsV2').some((c) => c.input.Prefix === outcomes)).toBe(
      true,
    );
    const reads = callsSince(mark, 'scheduler', 'GetObject').filter((c) => c.error === undefined);
    expect(reads.filter((c) => key(c).startsWith(outcomes))).toHaveLength(eligible.length);
    expect(reads.some((c) => key(c).startsWith('stalled/') && key(c).includes('/interaction='))).toBe(true);
    expect(reads.some((c) => key(c).startsWith('stalled/') && key(c).endsWith('/checked.json'))).toBe(true);
  });

  it('when an archived job and a stall job are delivered again, then the archive repairs the manifest of a changed folder with If-Match and the stall worker reads the record instead of asking', async () => {
    const mark = recorder.calls.length;
    const prefix = conversationPrefix(sim.organizationId, repaired.created_at, repaired.id);
    // A racing delivery that stopped part-way rewrote conversation.json: same data, other bytes.
    const listedAs = JSON.parse(await readObject(`${prefix}conversation.json`)) as ConversationInstance;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}conversation.json`,
        Body: `${JSON.stringify(listedAs)}\n`,
      }),
    );
    const recommends = () =>
      sim.control
        .stats()
        .writes.filter(
          (w) =>
            w.operationId === 'recommend-responses-for-interaction' &&
            w.conversationId === stalled.job.conversationId,
        ).length;
    const asked = recommends();
    await send('archive', archiveJobId(repaired.id), archiveJob(listedAs));
    await send('stall', stallJobId(stalled.job.conversationId, stalled.job.interactionId), stalled.job);
    await deliver(['archiveWorker', 'tagWorker', 'stallWorker']);

    const manifest = manifestKey(sim.organizationId, repaired.created_at, repaired.id);
    const swapped = callsSince(mark, 'archiveWorker', 'PutObject').filter(
      (c) => key(c) === manifest && typeof c.input.IfMatch === 'string' && c.error === undefined,
    );
    expect(swapped).toHaveLength(1);
    expect(callsSince(mark, 'tagWorker', 'PutObject').some((c) => key(c) === `${prefix}tags.json`)).toBe(
      true,
    );
    const claim = callsSince(mark, 'stallWorker', 'PutObject').filter((c) => key(c) === stalled.recordKey);
    expect(claim.map((c) => c.error)).toEqual(['PreconditionFailed']);
    expect(
      callsSince(mark, 'stallWorker', 'GetObject').some(
        (c) => key(c) === stalled.recordKey && c.error === undefined,
      ),
    ).toBe(true);
    expect(recommends()).toBe(asked);
  });

  it('when Amigo answers 503 until the client gives up, then each worker puts its job back on its own queue with a delay, and the stall worker releases its claim', async () => {
    const mark = recorder.calls.length;
    sim.control.resetStats();
    // Start the tag and stall jobs from scratch (no tags.json, no claim), so they call Amigo again.
    const tagsKey = `${conversationPrefix(sim.organizationId, tagged.created_at, tagged.id)}tags.json`;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: tagsKey }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: stalled.recordKey }));
    const unavailable = (
      operation:
        | 'get-conversation-messages'
        | 'modify-tags-of-conversation'
        | 'recommend-responses-for-interaction',
    ) => Array.from({ length: MAX_ATTEMPTS }, () => ({ operation, kind: 'status' as const, status: 503 }));
    sim.control.enqueueFaults([
      // Twice: the archive job is sent in both classes, each put back to its own queue.
      ...unavailable('get-conversation-messages'),
      ...unavailable('get-conversation-messages'),
      ...unavailable('modify-tags-of-conversation'),
      ...unavailable('recommend-responses-for-interaction'),
    ]);
    await send('archive', archiveJobId(large.conversation.id), archiveJob(large.conversation));
    // The same job in the high class, by the priority queue: its put-back goes back there.
    await send('archivePriority', archiveJobId(large.conversation.id), {
      ...archiveJob(large.conversation),
      priority: 'high',
    });
    await send('tag', tagJobId(tagged.id), tagJob(tagged));
    await send('stall', stallJobId(stalled.job.conversationId, stalled.job.interactionId), stalled.job);
    const putBack = (fn: FunctionId, queue: QueueId = FUNCTIONS[fn].queue) =>
      callsSince(mark, fn, 'SendMessageBatch').filter(
        (c) => c.input.QueueUrl === queues[queue].main.url && c.error === undefined,
      );
    const workers = ['archiveWorker', 'tagWorker', 'stallWorker'] as const;
    await deliver([...workers], {
      what: 'each worker to put its jobs back',
      done: () =>
        workers.every((fn) => putBack(fn).length > 0) &&
        putBack('archiveWorker', 'archivePriority').length > 0,
    });
    await purge('archive', 'archivePriority', 'tag', 'stall');

    expect(putBack('archiveWorker', 'archivePriority').flatMap((c) => c.input.Entries)).toHaveLength(1);
    for (const fn of workers) {
      const entries = putBack(fn).flatMap((c) => c.input.Entries as Array<{ DelaySeconds?: number }>);
      // No Retry-After with these 503s: the first step of the backoff, 15 to 30 s.
      expect(
        entries.map((e) => (e.DelaySeconds ?? 0) >= 15 && (e.DelaySeconds ?? 0) <= 30),
        `${fn} puts its job back with a delay`,
      ).toEqual([true]);
    }
    expect(sim.control.stats().requests.filter((r) => r.fault === 'status:503')).toHaveLength(
      4 * MAX_ATTEMPTS,
    );
    expect(callsSince(mark, 'stallWorker', 'DeleteObject').map(key)).toEqual([stalled.recordKey]);
  });

  it('when Amigo refuses a job with 403, then each worker dead-letters it, and the archive worker records the failed outcome in the run', async () => {
    const mark = recorder.calls.length;
    sim.control.resetStats();
    sim.control.enqueueFaults(
      (
        [
          'get-conversation-messages',
          'modify-tags-of-conversation',
          'recommend-responses-for-interaction',
        ] as const
      ).map((operation) => ({ operation, kind: 'status' as const, status: 403 })),
    );
    await send('archive', archiveJobId(large.conversation.id), archiveJob(large.conversation));
    await send('tag', tagJobId(tagged.id), tagJob(tagged));
    await send('stall', stallJobId(stalled.job.conversationId, stalled.job.interactionId), stalled.job);
    await deliver(['archiveWorker', 'tagWorker', 'stallWorker']);

    for (const fn of ['archiveWorker', 'tagWorker', 'stallWorker'] as const) {
      const deadLettered = callsSince(mark, fn, 'SendMessage').filter(
        (c) => c.input.QueueUrl === queues[FUNCTIONS[fn].queue].dlq.url && c.error === undefined,
      );
      expect(deadLettered, `${fn} dead-letters the refused job`).toHaveLength(1);
    }
    expect(sim.control.stats().requests.filter((r) => r.fault === 'status:403')).toHaveLength(3);
    expect(
      callsSince(mark, 'archiveWorker', 'PutObject').filter(
        (c) =>
          key(c) === `runs/${nightlyRunId}/archive/${large.conversation.id}.json` && c.error === undefined,
      ),
    ).toHaveLength(1);
  });

  it('when a recording breaks beyond the download resumes mid-upload, then the archive worker aborts the multipart upload', async () => {
    const mark = recorder.calls.length;
    sim.control.resetStats();
    const aborted = proxy.stats.multipart.aborted;
    // Every download of the conversation breaks 3 MiB in (the small recordings end before that):
    // the large one fails four times, past its three resumes, after 12 MiB, one 8 MiB part into
    // its multipart upload. Spare faults only ever meet this conversation's small recordings.
    sim.control.enqueueFaults(
      Array.from({ length: 60 }, () => ({
        operation: 'audio' as const,
        kind: 'audio-fail' as const,
        afterBytes: AUDIO_FAIL_AFTER_BYTES,
      })),
    );
    await send('archive', archiveJobId(large.conversation.id), archiveJob(large.conversation));
    const abort = () => callsSince(mark, 'archiveWorker', 'AbortMultipartUpload');
    await deliver(['archiveWorker'], {
      what: 'the multipart upload to be aborted',
      done: () => abort().length > 0,
    });
    // The other recordings of the failed conversation go on streaming in the background.
    await quiet('archiveWorker');
    await purge('archive');

    const upload = (command: string) =>
      callsSince(mark, 'archiveWorker', command).filter((c) => key(c) === large.audioKey);
    expect(upload('CreateMultipartUpload')).toHaveLength(1);
    expect(upload('UploadPart').length).toBeGreaterThan(0);
    expect(upload('AbortMultipartUpload').map((c) => c.error)).toEqual([undefined]);
    expect(upload('CompleteMultipartUpload')).toEqual([]);
    expect(proxy.stats.multipart.aborted).toBe(aborted + 1);
  });

  it('when the scheduler runs short of time after its first page, then it hands the listing over to its own queue and the next invocation from that queue finishes it', async () => {
    // A listing of more than one page (150 conversations): a second organisation with many
    // conversations, behind its own credentials; the scheduler starts cold with them.
    const big = await startTestSimulator({
      conversations: 300,
      longConversations: 0,
      organizationId: 'big-org',
      rateLimits: { enabled: false },
    });
    cleanups.push(() => big.stop());
    secrets.put(secretArn, secretValue(big));
    (globalThis as Record<string, unknown>)[DEPLOYMENT_CONSTANT] = testDocument(testInputs, 200);
    vi.resetModules();
    handlers.scheduler = lambda('scheduler', (await import('../../functions/scheduler/handler.ts')).handler);
    const mark = recorder.calls.length;
    const results = schedulerResults.length;

    const first = await scheduler(NIGHTLY_INPUT, () => 30_000);
    expect(first.archive[0]?.status).toBe('handed-over');
    const handedOver = callsSince(mark, 'scheduler', 'SendMessageBatch').filter(
      (c) => c.input.QueueUrl === queues.scheduler.main.url,
    );
    expect(handedOver).toHaveLength(1);
    await deliver(['scheduler']);
    await purge('archive', 'stall');

    const continued = schedulerResults.slice(results + 1);
    expect(continued.map((r) => r.archive[0]?.status)).toEqual(['listed']);
    expect(continued[0]?.archive[0]?.runId).toBe(first.archive[0]?.runId);
    expect(continued[0]?.archive[0]?.counts.invocations).toBe(2);
  });

  it("when the tables writer's schedule invokes it after the nights, then it writes every recent run's parts and removes a part of the nightly run that nothing belongs in any more", async () => {
    const invoke = async () =>
      (await tablesWriterHandler(TABLES_WRITER_INPUT, {
        functionName: tablesWriting.name,
        awsRequestId: crypto.randomUUID(),
        getRemainingTimeInMillis: () => TABLES_WRITER.timeoutSeconds * 1000,
      } as Context)) as TablesWriterOutput;
    const first = await invoke();
    expect(first.runs).toBeGreaterThanOrEqual(2);
    expect(first.parts).toBeGreaterThan(0);
    const org = sim.organizationId;
    const written = await listKeys('tables/');
    const partOf = (table: string, date: string) =>
      `tables/${table}/org=${org}/date=${date}/${nightlyRunId}.parquet`;
    const dates = written
      .filter(
        (k) => k.startsWith(`tables/conversations/org=${org}/`) && k.endsWith(`/${nightlyRunId}.parquet`),
      )
      .map((k) => /date=([^/]+)\//.exec(k)?.[1] ?? '');
    const stale = ['stalls', 'tags']
      .flatMap((table) => dates.map((date) => partOf(table, date)))
      .find((key) => !written.includes(key));
    expect(stale, 'a date of the nightly run without stall or tag rows').toBeDefined();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: stale, Body: 'an earlier part' }));
    const mark = recorder.calls.length;

    const second = await invoke();

    expect(second.parts).toBe(first.parts);
    expect(await listKeys('tables/')).not.toContain(stale);
    expect(callsSince(mark, TABLES as never, 'DeleteObject').map((c) => c.input.Key)).toEqual([stale]);
  });

  describe('the roles held to the recorded calls', () => {
    for (const fn of FUNCTION_IDS) {
      it(`when the ${FUNCTIONS[fn].name} role is held to the calls it made, then it allows every one and grants nothing else beyond the platform's`, () => {
        const statements = rolePolicyStatements(resolved, wiring[fn].role);
        const used = usedPermissions(fn);
        expect(used.length).toBeGreaterThan(0);
        expect(
          missing(statements, used),
          `calls of ${FUNCTIONS[fn].name} its role does not allow (each an AccessDenied once deployed)`,
        ).toEqual([]);
        expect(
          unusedGrants(statements, used, platform(fn)).map(
            (g) => `${g.sid ?? '(no sid)'}: ${g.action} on ${g.resource}`,
          ),
          `grants of ${FUNCTIONS[fn].name} no recorded call used (and not the platform's)`,
        ).toEqual([]);
      });
    }

    it("when the tables-writer role is held to the calls it made, then it allows every one and grants nothing else beyond the platform's", () => {
      const statements = rolePolicyStatements(resolved, tablesWriting.role);
      const used = usedPermissions(TABLES);
      expect(used.length).toBeGreaterThan(0);
      expect(missing(statements, used), 'calls of tables-writer its role does not allow').toEqual([]);
      expect(
        unusedGrants(statements, used, tablesWriterPlatform()).map(
          (g) => `${g.sid ?? '(no sid)'}: ${g.action} on ${g.resource}`,
        ),
        "grants of tables-writer no recorded call used (and not the platform's)",
      ).toEqual([]);
    });

    it('when a statement the code needs is taken out of a copy of the template, then the check names every call it no longer allows', () => {
      const copy = structuredClone(resolved);
      const policy = Object.values(copy.Resources).find(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          ((r.Properties as { Roles: string[] }).Roles ?? []).includes(wiring.archiveWorker.role) &&
          statementsOf(r).some((s) => s.Sid === 'SendJobs'),
      );
      const statements = statementsOf(policy);
      statements.splice(
        statements.findIndex((s) => s.Sid === 'SendJobs'),
        1,
      );

      const reported = missing(
        rolePolicyStatements(copy, wiring.archiveWorker.role),
        usedPermissions('archiveWorker'),
      );

      expect(reported).toEqual(
        expect.arrayContaining([
          expect.stringContaining(`sqs:SendMessage on ${queues.archive.main.arn}`),
          expect.stringContaining(`sqs:SendMessage on ${queues.archivePriority.main.arn}`),
          expect.stringContaining(`sqs:SendMessage on ${queues.archive.dlq.arn}`),
          expect.stringContaining(`sqs:SendMessage on ${queues.tag.main.arn}`),
        ]),
      );
      expect(reported).toHaveLength(4);
    });

    it('when a grant nobody uses is added to a copy of the template, then unusedGrants names it', () => {
      const copy = structuredClone(resolved);
      const policy = Object.values(copy.Resources).find(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          ((r.Properties as { Roles: string[] }).Roles ?? []).includes(wiring.tagWorker.role) &&
          statementsOf(r).some((s) => s.Sid === 'ReadConversations'),
      );
      const extra = `arn:aws:s3:::${bucket}/conversations/*`;
      statementsOf(policy).push({
        Sid: 'Extra',
        Effect: 'Allow',
        Action: 's3:DeleteObject',
        Resource: extra,
      });

      const unused = unusedGrants(
        rolePolicyStatements(copy, wiring.tagWorker.role),
        usedPermissions('tagWorker'),
        platform('tagWorker'),
      );

      expect(unused).toContainEqual({ action: 's3:DeleteObject', resource: extra, sid: 'Extra' });
    });

    it('when every recorded call is searched, then none holds the Amigo credentials or message text', () => {
      const text = JSON.stringify(recorder.calls);
      expect(text).not.toContain(sim.credentials.apiKey);
      expect(text).not.toContain('SecretString');
      const spoken = sim.control
        .messages(repaired.id)
        .map((m) => m.message)
        .filter((m) => m.length > 20);
      expect(spoken.length).toBeGreaterThan(0);
      for (const message of spoken) expect(text).not.toContain(message);
    });
  });
});

function statementsOf(resource: unknown): Props[] {
  return (resource as { Properties: { PolicyDocument: { Statement: Props[] } } }).Properties.PolicyDocument
    .Statement;
}

/** The permissions `fn`'s recorded calls need, each once, with the commands that needed it. */
function usedPermissions(fn: FunctionId | typeof TABLES): Array<Permission & { by: string[] }> {
  const env: PermissionEnv = {
    region: REGION,
    account: ACCOUNT,
    queueArn: (url) => {
      const arn = queueArnByUrl.get(url);
      if (arn === undefined) throw new Error(`${fn} used a queue the template does not have: ${url}`);
      return arn;
    },
    // The bucket, the queues and the secret are all encrypted with the stack's one key.
    kmsKeyArn: keyArn,
  };
  const seen = new Map<string, Permission & { by: string[] }>();
  for (const call of recorder.calls) {
    if (call.fn !== fn) continue;
    const command = `${call.service}:${call.command}`;
    for (const p of permissionsFor(call, env)) {
      const id = `${p.action} ${p.resource}`;
      const entry = seen.get(id) ?? { ...p, by: [] };
      if (!entry.by.includes(command)) entry.by.push(command);
      seen.set(id, entry);
    }
  }
  return [...seen.values()].sort((a, b) => (a.action + a.resource < b.action + b.resource ? -1 : 1));
}

/** The used permissions no statement allows, one readable line each. */
function missing(statements: Statement[], used: Array<Permission & { by: string[] }>): string[] {
  return used
    .filter((p) => allowingStatement(statements, p.action, p.resource) === undefined)
    .map((p) => `${p.action} on ${p.resource} (needed by ${p.by.join(', ')})`);
}

/** The tables writer's platform grants, and the one its scenario cannot stage. */
function tablesWriterPlatform(): PlatformGrant[] {
  const logs = tablesWriting.logGroupArn;
  return [
    { action: 'logs:CreateLogStream', resource: logs, why: 'Lambda creates the log streams' },
    { action: 'logs:PutLogEvents', resource: logs, why: 'Lambda ships stdout and its own lines' },
    { action: 'xray:PutTraceSegments', resource: '*', why: 'Lambda active tracing' },
    { action: 'xray:PutTelemetryRecords', resource: '*', why: 'Lambda active tracing' },
    // Its schedule invokes it asynchronously: Lambda keeps failed invocations on the dead-letter
    // queue (encrypted with the stack key) with the function's role.
    {
      action: 'sqs:SendMessage',
      resource: invocationFailuresArn,
      why: 'Lambda sends failed async invocations to the DeadLetterConfig queue',
    },
    { action: 'kms:GenerateDataKey', resource: keyArn, why: 'that queue is encrypted with the stack key' },
    // Not a platform grant: a part over one 8 MiB upload part (a night of thousands of
    // conversations' messages) is a multipart upload, and a bad document met mid-part aborts it. The
    // test's parts are far smaller: S3 gets them in one PutObject.
    ...['/tables/*'].map((path) => ({
      action: 's3:AbortMultipartUpload',
      resource: `arn:aws:s3:::${bucket}${path}`,
      why: 'a failed multipart part upload is aborted',
    })),
  ];
}

/**
 * Grants AWS exercises with the role although no handler code does, and (last, one entry) a grant
 * for a race this test cannot stage; nothing else belongs here.
 */
function platform(fn: FunctionId): PlatformGrant[] {
  const own = queuesOf(FUNCTIONS[fn]).map((q) => queues[q].main.arn);
  const logs = wiring[fn].logGroupArn;
  return [
    // Lambda writes the function's logs to its log group with the execution role.
    { action: 'logs:CreateLogStream', resource: logs, why: 'Lambda creates the log streams' },
    { action: 'logs:PutLogEvents', resource: logs, why: 'Lambda ships stdout and its own lines' },
    // Active tracing: Lambda sends the segments; X-Ray has no resource-level permissions.
    { action: 'xray:PutTraceSegments', resource: '*', why: 'Lambda active tracing' },
    { action: 'xray:PutTelemetryRecords', resource: '*', why: 'Lambda active tracing' },
    // The SQS event source mapping polls the function's own queue with the role, deletes what the
    // function handled, reads the queue's attributes, and decrypts the messages (SSE-KMS).
    ...own.flatMap((resource) => [
      { action: 'sqs:ReceiveMessage', resource, why: 'the event source mapping polls' },
      { action: 'sqs:DeleteMessage', resource, why: 'the event source mapping deletes handled records' },
      { action: 'sqs:GetQueueAttributes', resource, why: 'the event source mapping reads the queue' },
    ]),
    { action: 'kms:Decrypt', resource: keyArn, why: 'the event source mapping receives encrypted messages' },
    ...(fn === 'scheduler'
      ? [
          // Lambda puts the scheduler's failed asynchronous invocations on its dead-letter queue
          // (encrypted with the stack's key) with the function's role.
          {
            action: 'sqs:SendMessage',
            resource: invocationFailuresArn,
            why: 'Lambda sends failed async invocations to the DeadLetterConfig queue',
          },
          {
            action: 'kms:GenerateDataKey',
            resource: keyArn,
            why: 'that queue is encrypted with the stack key',
          },
        ]
      : []),
    ...(fn === 'stallWorker'
      ? [
          // Not a platform grant: a race. The stall worker reads a claim only after losing its
          // create-only write; when the winner releases the claim in between (Amigo answered 503),
          // the read finds nothing, and without s3:ListBucket S3 answers 403 instead of 404, which
          // the store rightly treats as permanent: a false dead-letter. The two deliveries cannot be
          // interleaved that precisely through the handlers here.
          {
            action: 's3:ListBucket',
            resource: `arn:aws:s3:::${bucket}`,
            why: 'the claim-release race reads a missing claim: 404 needs s3:ListBucket',
          },
        ]
      : []),
  ];
}
