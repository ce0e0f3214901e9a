import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import {
  createQueueWithDlq,
  LocalSqsRuntime,
  type QueueBinding,
  type RuntimeEvents,
  type SqsHandler,
} from '../../../local/sqs-runtime.ts';
import { SqsJobQueue } from '../../../shared/adapters/sqs-job-queue.ts';
import type { Job } from '../../../shared/ports/job-queue.ts';

/** Every record a handler saw, with its receive count, in order. */
interface Seen {
  jobId: string;
  receiveCount: number;
}

function jobIdOf(record: SQSRecord): string {
  return record.messageAttributes['job-id']?.stringValue ?? '';
}

function seenOf(event: SQSEvent): Seen[] {
  return event.Records.map((r) => ({
    jobId: jobIdOf(r),
    receiveCount: Number(r.attributes.ApproximateReceiveCount),
  }));
}

describe('LocalSqsRuntime (Lambda SQS event source mapping over fauxqs)', () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  const runtimes: LocalSqsRuntime[] = [];

  beforeAll(async () => {
    aws = await startLocalAws();
    sqs = aws.sqs();
  });
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stop()));
  });
  afterAll(async () => {
    await aws.stop();
  });

  async function queue(options: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number } = {}) {
    const created = await createQueueWithDlq(sqs, `q-${randomUUID().slice(0, 8)}`, {
      visibilityTimeoutSeconds: 1,
      ...options,
    });
    return { ...created, jobs: new SqsJobQueue<unknown>({ client: sqs, queueUrl: created.queueUrl }) };
  }

  function runtime(bindings: QueueBinding[], events?: RuntimeEvents): LocalSqsRuntime {
    const r = new LocalSqsRuntime(sqs, bindings, events);
    runtimes.push(r);
    return r;
  }

  async function send(
    jobs: { send(jobs: Job<unknown>[]): Promise<{ failed: unknown[] }> },
    list: Job<unknown>[],
  ) {
    const { failed } = await jobs.send(list);
    expect(failed).toEqual([]);
  }

  async function counts(queueUrl: string): Promise<number[]> {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = out.Attributes ?? {};
    return [
      Number(a.ApproximateNumberOfMessages),
      Number(a.ApproximateNumberOfMessagesNotVisible),
      Number(a.ApproximateNumberOfMessagesDelayed),
    ];
  }

  async function receiveDlq(dlqUrl: string): Promise<Message[]> {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    return out.Messages ?? [];
  }

  it("when a message is delivered, then the handler gets Lambda's SQSRecord and Context shapes", async () => {
    const q = await queue();
    const events: Array<{ event: SQSEvent; context: Context; remaining: number[]; readBy: number }> = [];
    const handler: SqsHandler = async (event, context) => {
      const first = context.getRemainingTimeInMillis();
      const readBy = Date.now();
      await sleep(20);
      events.push({ event, context, remaining: [first, context.getRemainingTimeInMillis()], readBy });
    };
    await send(q.jobs, [{ id: 'archive-c1', body: { conversationId: 'c1' } }]);
    const r = runtime([{ name: 'archive-worker', queueUrl: q.queueUrl, handler, functionTimeoutMs: 5_000 }]);
    const startedAt = Date.now();

    r.start();
    await r.drain();

    expect(events).toHaveLength(1);
    const { event, context, remaining, readBy } = events[0] as (typeof events)[number];
    const record = event.Records[0] as SQSRecord;
    expect(event.Records).toHaveLength(1);
    expect(record).toEqual({
      messageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      receiptHandle: expect.any(String),
      body: '{"conversationId":"c1"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        'job-id': {
          stringValue: 'archive-c1',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'String',
        },
      },
      md5OfBody: createHash('md5').update(record.body).digest('hex'),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: q.queueArn,
      awsRegion: 'us-east-1',
    });
    expect(context.functionName).toBe('archive-worker');
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:archive-worker');
    // The 5 s count down from the invocation, which started after start(): at most the time
    // between start() and the first reading has gone.
    expect(remaining[0]).toBeGreaterThanOrEqual(5_000 - (readBy - startedAt));
    expect(remaining[0]).toBeLessThanOrEqual(5_000);
    expect(remaining[1]).toBeLessThan(remaining[0] as number);
    expect(await counts(q.queueUrl)).toEqual([0, 0, 0]);
  });

  it('when the handler reports some records as failed, then only those come back, with a higher receive count, and succeed later', async () => {
    const q = await queue();
    const seen: Seen[] = [];
    const results: Array<[number, number]> = [];
    const handler: SqsHandler = async (event) => {
      seen.push(...seenOf(event));
      const failures = event.Records.filter(
        (r) => ['b', 'd'].includes(jobIdOf(r)) && r.attributes.ApproximateReceiveCount === '1',
      );
      return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
    };
    await send(
      q.jobs,
      ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, body: id })),
    );
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }], {
      onResult: (_name, failed, ok) => results.push([failed, ok]),
    });

    r.start();
    await r.drain();

    const countsById = (id: string) => seen.filter((s) => s.jobId === id).map((s) => s.receiveCount);
    expect(countsById('a')).toEqual([1]);
    expect(countsById('c')).toEqual([1]);
    expect(countsById('e')).toEqual([1]);
    expect(countsById('b')).toEqual([1, 2]);
    expect(countsById('d')).toEqual([1, 2]);
    expect(results.reduce((sum, [failed]) => sum + failed, 0)).toBe(2);
    expect(results.reduce((sum, [, ok]) => sum + ok, 0)).toBe(5);
    expect(await counts(q.queueUrl)).toEqual([0, 0, 0]);
    expect(await receiveDlq(q.dlqUrl)).toEqual([]);
  });

  it('when a record always fails, then it lands in the DLQ after maxReceiveCount with its body intact', async () => {
    const q = await queue({ maxReceiveCount: 3 });
    const seen: Seen[] = [];
    const poisonBody = { conversationId: 'c-poison', note: 'ünïcødé \u2028 "quoted"' };
    const handler: SqsHandler = async (event) => {
      seen.push(...seenOf(event));
      return {
        batchItemFailures: event.Records.filter((r) => jobIdOf(r) === 'poison').map((r) => ({
          itemIdentifier: r.messageId,
        })),
      };
    };
    await send(q.jobs, [
      { id: 'poison', body: poisonBody },
      { id: 'fine', body: 'ok' },
    ]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }]);

    r.start();
    await r.drain();
    const dead = await receiveDlq(q.dlqUrl);

    expect(seen.filter((s) => s.jobId === 'poison').map((s) => s.receiveCount)).toEqual([1, 2, 3]);
    expect(seen.filter((s) => s.jobId === 'fine').map((s) => s.receiveCount)).toEqual([1]);
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0]?.Body ?? 'null')).toEqual(poisonBody);
    expect(dead[0]?.MessageAttributes?.['job-id']?.StringValue).toBe('poison');
    expect(await counts(q.queueUrl)).toEqual([0, 0, 0]);
  });

  const wholeBatchFailures: Array<
    [string, Partial<QueueBinding>, (event: SQSEvent) => Promise<SQSBatchResponse | undefined>]
  > = [
    [
      'throws',
      {},
      async () => {
        throw new Error('boom');
      },
    ],
    [
      'names an itemIdentifier that is not in the batch',
      {},
      async () => ({ batchItemFailures: [{ itemIdentifier: 'not-a-message-of-this-batch' }] }),
    ],
    ['names an empty itemIdentifier', {}, async () => ({ batchItemFailures: [{ itemIdentifier: '' }] })],
    [
      'runs past the function timeout',
      { functionTimeoutMs: 150 },
      async () => {
        await sleep(400);
        return undefined;
      },
    ],
  ];

  it.each(wholeBatchFailures)(
    'when the handler %s, then the whole batch is redelivered',
    async (_, options, fail) => {
      const q = await queue();
      const invocations: Seen[][] = [];
      const errors: unknown[] = [];
      const handler: SqsHandler = async (event) => {
        invocations.push(seenOf(event));
        if (event.Records.some((r) => r.attributes.ApproximateReceiveCount === '1')) return fail(event);
        return { batchItemFailures: [] };
      };
      await send(
        q.jobs,
        ['x', 'y', 'z'].map((id) => ({ id, body: id })),
      );
      const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler, ...options }], {
        onResult: (_name, _failed, _ok, error) => {
          if (error !== undefined) errors.push(error);
        },
      });

      r.start();
      await r.drain();

      expect(invocations[0]?.map((s) => s.jobId).sort()).toEqual(['x', 'y', 'z']);
      const later = invocations.slice(1).flat();
      expect(later.map((s) => s.jobId).sort()).toEqual(['x', 'y', 'z']);
      expect(later.every((s) => s.receiveCount === 2)).toBe(true);
      expect(errors).toHaveLength(1);
      expect(await counts(q.queueUrl)).toEqual([0, 0, 0]);
    },
  );

  it('when a message is delayed, then drain() resolves only after it has been handled', async () => {
    const q = await queue();
    const handled: Array<[string, number]> = [];
    const startedAt = Date.now();
    const handler: SqsHandler = async (event) => {
      for (const record of event.Records) handled.push([jobIdOf(record), Date.now() - startedAt]);
    };
    await send(q.jobs, [
      { id: 'now', body: 1 },
      { id: 'later', body: 2, delaySeconds: 2 },
    ]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }]);

    r.start();
    await r.drain();
    const drainedAfter = Date.now() - startedAt;

    expect(handled.map(([id]) => id)).toEqual(['now', 'later']);
    expect(handled[1]?.[1]).toBeGreaterThanOrEqual(1_900);
    expect(drainedAfter).toBeGreaterThanOrEqual((handled[1]?.[1] ?? 0) + 300);
    expect(await counts(q.queueUrl)).toEqual([0, 0, 0]);
  });

  it('when work is still running, then drain() rejects at its timeout naming what is left', async () => {
    const q = await queue({ visibilityTimeoutSeconds: 30 });
    const handler: SqsHandler = async () => {
      await sleep(800);
    };
    await send(q.jobs, [{ id: 'slow', body: 1 }]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }]);
    r.start();

    const error = await r.drain({ timeoutMs: 300 }).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'RetryableError', message: expect.stringMatching(/timed out/) });
    expect((error as { context: { runningInvocations: number } }).context.runningInvocations).toBe(1);
  });

  it('when more messages wait than the concurrency, then no more than `concurrency` invocations run at once', async () => {
    const q = await queue({ visibilityTimeoutSeconds: 30 });
    let running = 0;
    let peak = 0;
    let handled = 0;
    const handler: SqsHandler = async (event) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(100);
      handled += event.Records.length;
      running--;
    };
    await send(
      q.jobs,
      Array.from({ length: 12 }, (_, i) => ({ id: `j${i}`, body: i })),
    );
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler, batchSize: 1, concurrency: 3 }]);

    r.start();
    await r.drain();

    expect(peak).toBe(3);
    expect(handled).toBe(12);
  });

  it('when stop() is called during an invocation, then it waits for it, and nothing is polled afterwards', async () => {
    const q = await queue({ visibilityTimeoutSeconds: 30 });
    let finished = false;
    let invocations = 0;
    let invoked: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      invoked = resolve;
    });
    const handler: SqsHandler = async () => {
      invocations++;
      invoked();
      await sleep(500);
      finished = true;
    };
    await send(q.jobs, [{ id: 'in-flight', body: 1 }]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }]);
    r.start();
    await started;

    await r.stop();
    const finishedWhenStopped = finished;
    const afterStop = await counts(q.queueUrl);
    await send(q.jobs, [{ id: 'after-stop', body: 2 }]);
    await sleep(300);

    expect(finishedWhenStopped).toBe(true);
    expect(afterStop).toEqual([0, 0, 0]);
    expect(invocations).toBe(1);
    expect(await counts(q.queueUrl)).toEqual([1, 0, 0]);
  });

  it('when stop() is given a grace period and an invocation outlasts it, then stop returns and the message stays on the queue', async () => {
    const q = await queue({ visibilityTimeoutSeconds: 30 });
    let release: () => void = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    let invoked: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      invoked = resolve;
    });
    let finished = false;
    const handler: SqsHandler = async () => {
      invoked();
      await hung;
      finished = true;
    };
    await send(q.jobs, [{ id: 'stuck', body: 1 }]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler }]);
    r.start();
    await started;

    await r.stop({ graceMs: 100 });

    expect(finished).toBe(false);
    // Not deleted: like a killed process, the message comes back after its visibility timeout.
    expect(await counts(q.queueUrl)).toEqual([0, 1, 0]);
    release();
  });

  it('when stop() is given a grace period, then running invocations see their remaining time end with it', async () => {
    const q = await queue({ visibilityTimeoutSeconds: 30 });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let context: Context | undefined;
    let invoked: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      invoked = resolve;
    });
    const handler: SqsHandler = async (_event, c) => {
      context = c;
      invoked();
      await held;
    };
    await send(q.jobs, [{ id: 'long', body: 1 }]);
    const r = runtime([{ name: 'worker', queueUrl: q.queueUrl, handler, functionTimeoutMs: 600_000 }]);
    r.start();
    await started;
    const before = context?.getRemainingTimeInMillis() ?? 0;

    const stopping = r.stop({ graceMs: 2_000 });
    const during = context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
    release();
    await stopping;

    expect(before).toBeGreaterThan(500_000);
    expect(during).toBeLessThanOrEqual(2_000);
  });

  it('when a binding is misconfigured, then the constructor names the field', () => {
    const handler: SqsHandler = async () => {};

    const build = () =>
      new LocalSqsRuntime(sqs, [{ name: 'w', queueUrl: 'http://x', handler, batchSize: 11 }]);

    expect(build).toThrow(/bindings\[0\]\.batchSize/);
  });
});
