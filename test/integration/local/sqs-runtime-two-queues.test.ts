// One function bound to two queues (the archive worker and its priority queue), as two event source
// mappings in AWS: both are drained, each record names its own queue, and the same queue twice is refused.
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { createQueueWithDlq, LocalSqsRuntime, type SqsHandler } from '../../../local/sqs-runtime.ts';
import { SqsJobQueue } from '../../../shared/adapters/sqs-job-queue.ts';

describe('LocalSqsRuntime with one function on two queues', () => {
  let aws: LocalAws;
  let sqs: SQSClient;

  beforeAll(async () => {
    aws = await startLocalAws();
    sqs = aws.sqs();
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('when a function is bound to two queues, then both are drained and each record carries its own queue ARN and the one function name', async () => {
    const [main, priority] = await Promise.all(
      ['main', 'priority'].map((n) =>
        createQueueWithDlq(sqs, `${n}-${randomUUID().slice(0, 8)}`, { visibilityTimeoutSeconds: 5 }),
      ),
    );
    if (!main || !priority) throw new Error('queues not created');
    const seen: Array<{ job: string; arn: string }> = [];
    const invoked: string[] = [];
    const handler: SqsHandler = async (event) => {
      for (const r of (event as SQSEvent).Records)
        seen.push({ job: r.messageAttributes['job-id']?.stringValue ?? '', arn: r.eventSourceARN });
    };
    for (const [q, id] of [
      [main, 'a'],
      [priority, 'b'],
    ] as const) {
      const { failed } = await new SqsJobQueue<unknown>({ client: sqs, queueUrl: q.queueUrl }).send([
        { id, body: {} },
      ]);
      expect(failed).toEqual([]);
    }
    const runtime = new LocalSqsRuntime(
      sqs,
      [
        { name: 'worker', queueUrl: main.queueUrl, queueArn: main.queueArn, handler, batchSize: 1 },
        { name: 'worker', queueUrl: priority.queueUrl, queueArn: priority.queueArn, handler, batchSize: 1 },
      ],
      { onInvoke: (name) => invoked.push(name) },
    );

    runtime.start();
    await runtime.drain({ timeoutMs: 20_000 });
    await runtime.stop();

    expect(seen.sort((x, y) => x.job.localeCompare(y.job))).toEqual([
      { job: 'a', arn: main.queueArn },
      { job: 'b', arn: priority.queueArn },
    ]);
    expect(invoked).toEqual(['worker', 'worker']);
  });

  it('when a function is bound to the same queue twice, then the constructor refuses it naming the binding', () => {
    const handler: SqsHandler = async () => {};

    const build = () =>
      new LocalSqsRuntime(sqs, [
        { name: 'w', queueUrl: 'http://q', handler },
        { name: 'w', queueUrl: 'http://q', handler },
      ]);

    expect(build).toThrow(/bindings\[1\]\.name/);
  });
});
