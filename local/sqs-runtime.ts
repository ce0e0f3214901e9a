// A local stand-in for Lambda's SQS event source mapping: polls queues (fauxqs locally, over the real
// SQS wire protocol) and invokes the SAME handlers the Lambdas run, the way Lambda does:
//
// - Each binding gets `concurrency` pollers; each long-polls ReceiveMessage (up to `batchSize`
//   messages, all system and message attributes), builds a real `SQSEvent` and `Context`, invokes the
//   handler and waits for it, so at most `concurrency` invocations of a binding run at once.
// - ReportBatchItemFailures: the records not listed in `batchItemFailures` are deleted. A handler that
//   throws, runs past `functionTimeoutMs`, or answers with an invalid failure list (an empty or missing
//   itemIdentifier, or one that is not a messageId of the batch) fails the whole batch: nothing is
//   deleted. What is not deleted becomes visible again after the visibility timeout, and the queue's
//   own RedrivePolicy (the emulator's, not reimplemented here) moves it to the DLQ after
//   maxReceiveCount receives.
// - Like Lambda, a handler that times out is not waited for (Lambda would have stopped it); its batch
//   counts as failed.
// - Message bodies are never logged: they carry health data. Logs and events name the binding, counts
//   and error names only. Error messages are logged only for AmigoQaError (written to be logged): other
//   errors can quote their input (a JSON SyntaxError quotes the body it failed on).
//
// What is not emulated: batching windows (batchSize is capped at 10), maximum-concurrency scaling
// (concurrency is fixed), FIFO's stop-at-first-failure (the handler's job, as with Powertools'
// SqsFifoPartialProcessor), and the check that the visibility timeout is at least the function timeout.
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttribute,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import {
  AmigoQaError,
  ConfigurationError,
  PermanentError,
  RetryableError,
  redactText,
} from '../shared/errors.ts';

// biome-ignore lint/suspicious/noConfusingVoidType: the aws-lambda SQSHandler's own return type: handlers that return nothing must fit.
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface QueueBinding {
  /** The function's name: Context.functionName, and the name in logs and events. */
  name: string;
  queueUrl: string;
  /** eventSourceARN of the records. Default: the queue's QueueArn attribute. */
  queueArn?: string;
  handler: SqsHandler;
  /** Messages per invocation, 1 to 10. @default 10 */
  batchSize?: number;
  /** Invocations running at once. @default 2 */
  concurrency?: number;
  /** The function timeout: getRemainingTimeInMillis counts down from it, and past it the batch fails. @default 60_000 */
  functionTimeoutMs?: number;
  /** VisibilityTimeout passed to ReceiveMessage. Default: the queue's own. */
  visibilityTimeoutSeconds?: number;
  /** FunctionResponseTypes: ['ReportBatchItemFailures']. Without it a resolved invocation deletes the whole batch. @default true */
  reportBatchItemFailures?: boolean;
}

export interface RuntimeEvents {
  onInvoke?(binding: string, records: number): void;
  /** After an invocation: `failed` records were left on the queue, `ok` were deleted. */
  onResult?(binding: string, failed: number, ok: number, error?: unknown): void;
}

/** The handler answered with a batchItemFailures list Lambda would refuse: the whole batch fails. */
export class InvalidBatchResponseError extends PermanentError {}

/** The handler did not settle within functionTimeoutMs. */
export class FunctionTimeoutError extends PermanentError {}

/** How long one ReceiveMessage waits for a message: also the longest stop() waits for a poll. */
const POLL_WAIT_SECONDS = 1;
const DRAIN_CHECK_MS = 50;
const COUNT_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

interface Binding {
  readonly name: string;
  readonly queueUrl: string;
  readonly queueArn: string | undefined;
  readonly handler: SqsHandler;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly functionTimeoutMs: number;
  readonly visibilityTimeoutSeconds: number | undefined;
  readonly reportBatchItemFailures: boolean;
}

interface SourceFacts {
  readonly arn: string;
  readonly region: string;
  readonly account: string;
}

export class LocalSqsRuntime {
  readonly #sqs: SQSClient;
  readonly #bindings: readonly Binding[];
  readonly #events: RuntimeEvents;
  readonly #facts = new Map<string, Promise<SourceFacts>>();
  readonly #invocations = new Set<Promise<void>>();
  readonly #pollErrors = new Map<string, string>();
  #running = false;
  #workers: Promise<void>[] = [];
  /** Set by an interrupting stop(): every running invocation's remaining time ends here. */
  #stopAt = Number.POSITIVE_INFINITY;

  constructor(sqs: SQSClient, bindings: QueueBinding[], events: RuntimeEvents = {}) {
    this.#sqs = sqs;
    this.#events = events;
    const sources = new Set<string>();
    this.#bindings = bindings.map((b, i) => {
      const field = `bindings[${i}]`;
      if (!b.name) throw new ConfigurationError(`${field}.name`, 'must not be empty');
      // One function may be bound to several queues (the archive worker's priority queue: an event
      // source mapping each, in AWS too), and its events carry its name either way; the same queue twice is a mistake.
      if (sources.has(sourceKey(b)))
        throw new ConfigurationError(`${field}.name`, `"${b.name}" is bound twice to ${b.queueUrl}`);
      sources.add(sourceKey(b));
      const batchSize = b.batchSize ?? 10;
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
        throw new ConfigurationError(
          `${field}.batchSize`,
          `must be an integer from 1 to 10, got ${batchSize}`,
          'Batches over 10 need a batching window, which the local runtime does not emulate',
        );
      }
      const concurrency = b.concurrency ?? 2;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new ConfigurationError(
          `${field}.concurrency`,
          `must be a positive integer, got ${concurrency}`,
        );
      }
      const functionTimeoutMs = b.functionTimeoutMs ?? 60_000;
      if (!(functionTimeoutMs > 0)) {
        throw new ConfigurationError(
          `${field}.functionTimeoutMs`,
          `must be positive, got ${functionTimeoutMs}`,
        );
      }
      return {
        name: b.name,
        queueUrl: b.queueUrl,
        queueArn: b.queueArn,
        handler: b.handler,
        batchSize,
        concurrency,
        functionTimeoutMs,
        visibilityTimeoutSeconds: b.visibilityTimeoutSeconds,
        reportBatchItemFailures: b.reportBatchItemFailures ?? true,
      };
    });
  }

  /** Begins long-polling every bound queue. Calling it while running does nothing. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const binding of this.#bindings) {
      for (let i = 0; i < binding.concurrency; i++) this.#workers.push(this.#poll(binding));
    }
  }

  /**
   * Resolves once every bound queue has no visible, delayed or in-flight message and no invocation
   * runs, and that has held for `idleMs` (default 300). Rejects after `timeoutMs` (default 60 s) with
   * the counts still pending.
   */
  async drain(options: { idleMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (!this.#running) {
      throw new PermanentError('drain() needs a started runtime: nothing polls the queues', {
        hint: 'Call start() first',
      });
    }
    const idleMs = options.idleMs ?? 300;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const startedAt = Date.now();
    let quietSince: number | undefined;
    let last: Record<string, Record<string, number>> = {};
    for (;;) {
      // Interrupted (Ctrl-C): return with the work left on the queues, for stop() to abandon.
      if (options.signal?.aborted) return;
      let idle = this.#invocations.size === 0;
      if (idle) {
        last = await this.#counts();
        // An invocation may have started while the counts were read.
        idle =
          this.#invocations.size === 0 &&
          Object.values(last).every((c) => Object.values(c).every((n) => n === 0));
      }
      const now = Date.now();
      if (idle) {
        quietSince ??= now;
        if (now - quietSince >= idleMs) return;
      } else {
        quietSince = undefined;
      }
      if (now - startedAt >= timeoutMs) {
        throw new RetryableError(`drain() timed out after ${timeoutMs} ms with work left`, {
          context: {
            queues: last,
            runningInvocations: this.#invocations.size,
            ...(this.#pollErrors.size > 0 ? { pollErrors: Object.fromEntries(this.#pollErrors) } : {}),
          },
        });
      }
      await sleep(DRAIN_CHECK_MS);
    }
  }

  /**
   * Stops polling and waits for the running invocations and the polls in progress (at most about a
   * second), or at most `graceMs` for both; with `graceMs`, the invocations' getRemainingTimeInMillis
   * counts down to the end of the grace period. Messages a last poll receives after stop() are made
   * visible again, not invoked.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#running = false;
    // A poller waits for its invocation: both are raced against the grace period together.
    const running = Promise.all([...this.#workers.splice(0), ...this.#invocations]);
    if (options.graceMs === undefined) {
      await running;
      return;
    }
    // Interrupted: the running invocations' remaining time shrinks to the grace period, so a worker
    // that watches its deadline stops in time and keeps what it fetched. Like a killed process,
    // invocations still running after the grace period are abandoned (their messages become visible
    // again; what they had not finished, the next run finds through its pending markers).
    this.#stopAt = Date.now() + options.graceMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, options.graceMs)))]);
    clearTimeout(timer);
  }

  /** One poller of a binding: receive, invoke, delete, until stopped. */
  async #poll(binding: Binding): Promise<void> {
    let failures = 0;
    while (this.#running) {
      let messages: Message[];
      let facts: SourceFacts;
      try {
        facts = await this.#sourceFacts(binding);
        const out = await this.#sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: binding.queueUrl,
            MaxNumberOfMessages: binding.batchSize,
            WaitTimeSeconds: POLL_WAIT_SECONDS,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
            ...(binding.visibilityTimeoutSeconds === undefined
              ? {}
              : { VisibilityTimeout: binding.visibilityTimeoutSeconds }),
          }),
        );
        messages = out.Messages ?? [];
        failures = 0;
        this.#pollErrors.delete(sourceKey(binding));
      } catch (error) {
        if (!this.#running) break;
        failures++;
        const reason = describe(error);
        if (this.#pollErrors.get(sourceKey(binding)) !== reason) {
          console.warn(`[sqs-runtime] ${binding.name}: polling ${binding.queueUrl} failed: ${reason}`);
        }
        this.#pollErrors.set(sourceKey(binding), reason);
        await sleep(Math.min(5_000, 250 * 2 ** Math.min(failures, 5)));
        continue;
      }
      if (messages.length === 0) continue;
      if (!this.#running) {
        await this.#release(binding, messages);
        break;
      }
      const invocation = this.#invoke(binding, facts, messages);
      this.#invocations.add(invocation);
      try {
        await invocation;
      } finally {
        this.#invocations.delete(invocation);
      }
    }
  }

  async #invoke(binding: Binding, facts: SourceFacts, messages: Message[]): Promise<void> {
    const records = messages.map((m) => toRecord(m, facts));
    const receipts = new Map(messages.map((m) => [m.MessageId ?? '', m.ReceiptHandle ?? '']));
    const context = lambdaContext(binding, facts, () => this.#stopAt);
    this.#events.onInvoke?.(binding.name, records.length);

    let error: unknown;
    let keep: Set<string>;
    try {
      const response = await withTimeout(
        Promise.resolve().then(() => binding.handler({ Records: records }, context)),
        binding.functionTimeoutMs,
        binding.name,
      );
      keep = binding.reportBatchItemFailures ? failedIds(response, receipts) : new Set();
    } catch (e) {
      error = e;
      keep = new Set(receipts.keys());
    }

    const toDelete = [...receipts].filter(([id]) => !keep.has(id));
    const deleted = await this.#delete(binding, toDelete);
    const failed = records.length - deleted;
    if (this.#events.onResult) {
      this.#events.onResult(binding.name, failed, deleted, error);
    } else if (error !== undefined) {
      console.warn(`[sqs-runtime] ${binding.name}: batch of ${records.length} failed: ${describe(error)}`);
    }
  }

  /** Deletes the given records; returns how many were deleted. */
  async #delete(binding: Binding, records: Array<[string, string]>): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < records.length; i += 10) {
      const entries = records
        .slice(i, i + 10)
        .map(([, handle], j) => ({ Id: `r${j}`, ReceiptHandle: handle }));
      try {
        const out = await this.#sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: binding.queueUrl, Entries: entries }),
        );
        deleted += out.Successful?.length ?? 0;
        for (const f of out.Failed ?? []) {
          console.warn(
            `[sqs-runtime] ${binding.name}: a delete failed (${f.Code ?? 'unknown'}): it will be redelivered`,
          );
        }
      } catch (error) {
        console.warn(
          `[sqs-runtime] ${binding.name}: deleting ${entries.length} messages failed: ${describe(error)}; they will be redelivered`,
        );
      }
    }
    return deleted;
  }

  /** Makes messages received after stop() visible again at once. */
  async #release(binding: Binding, messages: Message[]): Promise<void> {
    const entries = messages.map((m, i) => ({
      Id: `r${i}`,
      ReceiptHandle: m.ReceiptHandle,
      VisibilityTimeout: 0,
    }));
    try {
      await this.#sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: binding.queueUrl, Entries: entries }),
      );
    } catch (error) {
      console.warn(`[sqs-runtime] ${binding.name}: releasing messages on stop failed: ${describe(error)}`);
    }
  }

  #sourceFacts(binding: Binding): Promise<SourceFacts> {
    let facts = this.#facts.get(sourceKey(binding));
    if (!facts) {
      facts = (async () => {
        const region = await this.#sqs.config.region();
        let arn = binding.queueArn;
        if (arn === undefined) {
          const out = await this.#sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: binding.queueUrl, AttributeNames: ['QueueArn'] }),
          );
          arn = out.Attributes?.QueueArn;
          if (!arn) throw new PermanentError(`queue ${binding.queueUrl} reported no QueueArn`);
        }
        return { arn, region, account: arn.split(':')[4] || '000000000000' };
      })();
      this.#facts.set(sourceKey(binding), facts);
      // A failed look-up is tried again on the next poll.
      facts.catch(() => this.#facts.delete(sourceKey(binding)));
    }
    return facts;
  }

  async #counts(): Promise<Record<string, Record<string, number>>> {
    const urls = [...new Set(this.#bindings.map((b) => b.queueUrl))];
    const entries = await Promise.all(
      urls.map(async (url) => {
        const out = await this.#sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...COUNT_ATTRIBUTES] }),
        );
        const counts: Record<string, number> = {};
        for (const name of COUNT_ATTRIBUTES) counts[name] = Number(out.Attributes?.[name] ?? 0);
        return [url, counts] as const;
      }),
    );
    return Object.fromEntries(entries);
  }
}

/**
 * Creates `name` with a dead-letter queue `<name>-dlq` (`<base>-dlq.fifo` for a FIFO queue) that
 * receives a message after `maxReceiveCount` (default 5) receives. The DLQ keeps messages 14 days.
 */
export async function createQueueWithDlq(
  sqs: SQSClient,
  name: string,
  options: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number; retentionSeconds?: number } = {},
): Promise<{ queueUrl: string; queueArn: string; dlqUrl: string; dlqArn: string }> {
  const fifo = name.endsWith('.fifo');
  const dlqName = fifo ? `${name.slice(0, -'.fifo'.length)}-dlq.fifo` : `${name}-dlq`;
  const fifoAttributes: Record<string, string> = fifo ? { FifoQueue: 'true' } : {};
  const dlq = await createQueue(sqs, dlqName, { ...fifoAttributes, MessageRetentionPeriod: '1209600' });
  const main = await createQueue(sqs, name, {
    ...fifoAttributes,
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
    ...(options.retentionSeconds ? { MessageRetentionPeriod: String(options.retentionSeconds) } : {}),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlq.arn,
      maxReceiveCount: options.maxReceiveCount ?? 5,
    }),
  });
  return { queueUrl: main.url, queueArn: main.arn, dlqUrl: dlq.url, dlqArn: dlq.arn };
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; arn: string }> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl;
  if (!url) throw new PermanentError(`CreateQueue ${name} returned no QueueUrl`);
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new PermanentError(`queue ${name} reported no QueueArn`);
  return { url, arn };
}

/** A received message as Lambda's SQS event source mapping presents it. */
function toRecord(m: Message, facts: SourceFacts): SQSRecord {
  const a = m.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? facts.account,
    ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const key of [
    'SequenceNumber',
    'MessageGroupId',
    'MessageDeduplicationId',
    'AWSTraceHeader',
  ] as const) {
    const value = a[key];
    if (value !== undefined) attributes[key] = value;
  }
  const record: SQSRecord = {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes,
    messageAttributes: toLambdaAttributes(m.MessageAttributes ?? {}),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: facts.arn,
    awsRegion: facts.region,
  };
  if (m.MD5OfMessageAttributes) record.md5OfMessageAttributes = m.MD5OfMessageAttributes;
  return record;
}

function toLambdaAttributes(attributes: Record<string, MessageAttributeValue>): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, v] of Object.entries(attributes)) {
    const attribute: SQSMessageAttribute = { dataType: v.DataType ?? 'String' };
    if (v.StringValue !== undefined) attribute.stringValue = v.StringValue;
    if (v.BinaryValue !== undefined) attribute.binaryValue = Buffer.from(v.BinaryValue).toString('base64');
    attribute.stringListValues = v.StringListValues ?? [];
    attribute.binaryListValues = (v.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64'));
    out[name] = attribute;
  }
  return out;
}

function lambdaContext(binding: Binding, facts: SourceFacts, stopAt: () => number): Context {
  const deadline = Date.now() + binding.functionTimeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const callbacks = (): never => {
    throw new PermanentError('callback-style completion is not supported: return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: binding.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${facts.region}:${facts.account}:function:${binding.name}`,
    memoryLimitInMB: '128',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${binding.name}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, Math.min(deadline, stopAt()) - Date.now()),
    done: callbacks,
    fail: callbacks,
    succeed: callbacks,
  };
}

/**
 * The messageIds the handler reported as failed. Like Lambda: no response, or no (or an empty)
 * batchItemFailures list, means all succeeded; an entry without a non-empty itemIdentifier of this
 * batch makes the whole batch fail (thrown).
 */
function failedIds(response: unknown, receipts: Map<string, string>): Set<string> {
  if (response === null || typeof response !== 'object') return new Set();
  const list = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === undefined || list === null) return new Set();
  if (!Array.isArray(list)) {
    throw new InvalidBatchResponseError('batchItemFailures is not a list: the whole batch fails');
  }
  const ids = new Set<string>();
  for (const item of list) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '') {
      throw new InvalidBatchResponseError(
        'a batchItemFailures entry has no itemIdentifier: the whole batch fails',
      );
    }
    if (!receipts.has(id)) {
      throw new InvalidBatchResponseError(
        'a batchItemFailures itemIdentifier is not a messageId of this batch: the whole batch fails',
        { context: { itemIdentifier: id } },
      );
    }
    ids.add(id);
  }
  return ids;
}

async function withTimeout<T>(work: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new FunctionTimeoutError(`${name} timed out after ${ms} ms`, { context: { timeoutMs: ms } })),
      ms,
    );
  });
  // A handler still running past its timeout may reject later: that must not become unhandled.
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An error's name, and its message only when it is one of ours (other messages may quote bodies). */
function describe(error: unknown): string {
  if (error instanceof AmigoQaError) return `${error.name}: ${error.message}`;
  if (error instanceof Error) {
    // SDK errors (with $metadata) and system errors (with a code) describe the call, not the payload.
    const code = (error as { code?: unknown }).code;
    const metadata = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
    if (metadata === undefined && typeof code !== 'string') return error.name;
    const status = metadata?.httpStatusCode === undefined ? '' : ` (HTTP ${String(metadata.httpStatusCode)})`;
    return `${error.name}${typeof code === 'string' ? ` (${code})` : ''}${status}: ${redactText(error.message)}`;
  }
  return typeof error;
}

/** A binding's event source: its function and its queue. */
function sourceKey(b: Pick<QueueBinding, 'name' | 'queueUrl'>): string {
  return `${b.name} ${b.queueUrl}`;
}
