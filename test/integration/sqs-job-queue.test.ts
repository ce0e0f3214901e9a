import { createHash, randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../local/fauxqs.ts';
import { entryId, SqsJobQueue } from '../../shared/adapters/sqs-job-queue.ts';
import type { Job } from '../../shared/ports/job-queue.ts';

const KiB = 1024;

/** Counts the entries of every SendMessageBatch call the client makes (instrumentation, not a mock). */
function recordBatches(client: SQSClient): number[] {
  const sizes: number[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendMessageBatchCommand') {
        sizes.push((args.input as { Entries?: unknown[] }).Entries?.length ?? 0);
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordBatches' },
  );
  return sizes;
}

async function receiveAll(sqs: SQSClient, queueUrl: string, expected: number): Promise<Message[]> {
  const messages: Message[] = [];
  for (let polls = 0; messages.length < expected && polls < 20; polls++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        VisibilityTimeout: 60,
      }),
    );
    messages.push(...(out.Messages ?? []));
  }
  return messages;
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string> = {},
): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-${randomUUID().slice(0, 8)}`, Attributes: attributes }),
  );
  return out.QueueUrl ?? '';
}

/**
 * An HTTP proxy in front of fauxqs (which never fails an entry on its side) that, for the next
 * `failures` SendMessageBatch calls, keeps the entries matching `pick` from the emulator and answers
 * them as `Failed` with SenderFault=false, the way SQS reports an internal error for an entry.
 */
async function faultyProxy(upstream: string) {
  const state = { failures: 0, pick: (_id: string) => false, injected: 0, calls: 0 };
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      let held: string[] = [];
      const isBatch = req.headers['x-amz-target'] === 'AmazonSQS.SendMessageBatch';
      if (isBatch) state.calls++;
      if (isBatch && state.failures > 0) {
        state.failures--;
        const input = JSON.parse(body.toString('utf8')) as { Entries: Array<{ Id: string }> };
        held = input.Entries.filter((e) => state.pick(e.Id)).map((e) => e.Id);
        input.Entries = input.Entries.filter((e) => !held.includes(e.Id));
        body = Buffer.from(JSON.stringify(input));
        if (input.Entries.length === 0) {
          // Nothing left for the emulator (it would refuse an empty batch): answer for it.
          state.injected += held.length;
          const failed = held.map((Id) => ({
            Id,
            SenderFault: false,
            Code: 'InternalError',
            Message: 'injected',
          }));
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({ Successful: [], Failed: failed }));
          return;
        }
      }
      const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      const upstreamReq = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (upstreamRes) => {
          const out: Buffer[] = [];
          upstreamRes.on('data', (c: Buffer) => out.push(c));
          upstreamRes.on('end', () => {
            let answer = Buffer.concat(out);
            if (held.length > 0) {
              const parsed = JSON.parse(answer.toString('utf8')) as { Failed?: unknown[] };
              parsed.Failed = [
                ...(parsed.Failed ?? []),
                ...held.map((Id) => ({ Id, SenderFault: false, Code: 'InternalError', Message: 'injected' })),
              ];
              state.injected += held.length;
              answer = Buffer.from(JSON.stringify(parsed));
            }
            res.writeHead(upstreamRes.statusCode ?? 500, {
              ...upstreamRes.headers,
              'content-length': String(answer.length),
            });
            res.end(answer);
          });
        },
      );
      upstreamReq.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    state,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SqsJobQueue (against fauxqs over the SQS wire protocol)', () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  beforeAll(async () => {
    aws = await startLocalAws();
    sqs = aws.sqs();
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('when 25 jobs are sent, then they go out in 3 batches and all arrive with their job-id attribute', async () => {
    const client = aws.sqs();
    const batches = recordBatches(client);
    const queueUrl = await createQueue(sqs, 'jobs');
    const queue = new SqsJobQueue<{ n: number }>({ client, queueUrl });
    const jobs = Array.from({ length: 25 }, (_, n) => ({ id: `archive-conv-${n}`, body: { n } }));

    const result = await queue.send(jobs);
    const messages = await receiveAll(sqs, queueUrl, 25);

    expect(result.failed).toEqual([]);
    expect(batches).toEqual([10, 10, 5]);
    expect(messages).toHaveLength(25);
    const byJob = new Map(messages.map((m) => [m.MessageAttributes?.['job-id']?.StringValue, m]));
    for (const job of jobs) {
      const message = byJob.get(job.id);
      expect(message?.MessageAttributes?.['job-id']?.DataType).toBe('String');
      expect(JSON.parse(message?.Body ?? 'null')).toEqual(job.body);
    }
  });

  it('when job ids have characters SQS refuses in entry ids, are long, or collide once sanitised, then all are sent', async () => {
    const queueUrl = await createQueue(sqs, 'odd-ids');
    const queue = new SqsJobQueue<string>({ client: sqs, queueUrl });
    const ids = ['a/b', 'a:b', 'a b', 'ünïcødé', 'x'.repeat(200), 'x'.repeat(200), ''];
    const jobs = ids.map((id, i) => ({ id, body: `job ${i}` }));

    const result = await queue.send(jobs);
    const messages = await receiveAll(sqs, queueUrl, ids.length);

    expect(result.failed).toEqual([]);
    expect(messages.map((m) => m.MessageAttributes?.['job-id']?.StringValue ?? '').sort()).toEqual(
      [...ids].sort(),
    );
    expect(ids.map((id, i) => entryId(id, i))).toSatisfy((entryIds: string[]) =>
      entryIds.every((e) => /^[A-Za-z0-9_-]{1,80}$/.test(e)),
    );
  });

  it('when a job has delaySeconds, then it is invisible until the delay passes', async () => {
    const queueUrl = await createQueue(sqs, 'delayed');
    const queue = new SqsJobQueue<string>({ client: sqs, queueUrl });
    const sentAt = Date.now();

    const result = await queue.send([{ id: 'later', body: 'x', delaySeconds: 1 }]);
    const right = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const later = await receiveAll(sqs, queueUrl, 1);
    const elapsed = Date.now() - sentAt;

    expect(result.failed).toEqual([]);
    expect(right.Messages ?? []).toEqual([]);
    expect(attributes.Attributes?.ApproximateNumberOfMessagesDelayed).toBe('1');
    expect(later).toHaveLength(1);
    expect(elapsed).toBeGreaterThanOrEqual(950);
  });

  it('when a body is over 256 KiB, then that job is reported failed with the reason and the others are sent', async () => {
    const queueUrl = await createQueue(sqs, 'oversized');
    const queue = new SqsJobQueue<string>({ client: sqs, queueUrl });

    const result = await queue.send([
      { id: 'small-1', body: 'ok' },
      { id: 'huge', body: 'h'.repeat(256 * KiB) },
      { id: 'small-2', body: 'ok' },
    ]);
    const messages = await receiveAll(sqs, queueUrl, 2);

    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]?.id).toBe('huge');
    expect(result.failed[0]?.reason).toMatch(/too large: \d+ bytes .* over the 262144-byte limit/);
    expect(result.failed[0]?.reason).not.toContain('hhhh');
    expect(messages.map((m) => m.MessageAttributes?.['job-id']?.StringValue).sort()).toEqual([
      'small-1',
      'small-2',
    ]);
  });

  it('when jobs together exceed one batch request payload, then they are split by size and all sent', async () => {
    // fauxqs (like SQS) refuses a whole SendMessageBatch over 1 MiB: six 200 KiB jobs need several calls.
    const client = aws.sqs();
    const batches = recordBatches(client);
    const queueUrl = await createQueue(sqs, 'big-jobs');
    const queue = new SqsJobQueue<string>({ client, queueUrl });
    const jobs = Array.from({ length: 6 }, (_, i) => ({ id: `big-${i}`, body: 'b'.repeat(200 * KiB) }));

    const result = await queue.send(jobs);
    const messages = await receiveAll(sqs, queueUrl, 6);

    expect(result.failed).toEqual([]);
    expect(batches).toEqual([1, 1, 1, 1, 1, 1]);
    expect(messages).toHaveLength(6);
  });

  it('when the same job id is sent twice to a FIFO queue, then it is delivered once', async () => {
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: `jobs-${randomUUID().slice(0, 8)}.fifo`,
        Attributes: { FifoQueue: 'true' },
      }),
    );
    const queueUrl = created.QueueUrl ?? '';
    const queue = new SqsJobQueue<{ v: number }>({ client: sqs, queueUrl });

    const first = await queue.send([
      { id: 'archive-c1', body: { v: 1 } },
      { id: 'archive-c2', body: { v: 1 } },
    ]);
    const second = await queue.send([{ id: 'archive-c1', body: { v: 2 } }]);
    const counts = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    const messages = await receiveAll(sqs, queueUrl, 2);

    expect(queue.fifo).toBe(true);
    expect(first.failed).toEqual([]);
    expect(second.failed).toEqual([]);
    expect(counts.Attributes?.ApproximateNumberOfMessages).toBe('2');
    expect(messages).toHaveLength(2);
    const c1 = messages.find((m) => m.MessageAttributes?.['job-id']?.StringValue === 'archive-c1');
    expect(JSON.parse(c1?.Body ?? 'null')).toEqual({ v: 1 });
    expect(c1?.Attributes?.MessageDeduplicationId).toBe(
      createHash('sha256').update('archive-c1').digest('hex'),
    );
    expect(c1?.Attributes?.MessageGroupId).toBe('archive-c1');
  });

  it('when a delayed job is sent to a FIFO queue, then it is reported failed instead of sent without its delay', async () => {
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: `fifo-delay-${randomUUID().slice(0, 8)}.fifo`,
        Attributes: { FifoQueue: 'true' },
      }),
    );
    const queue = new SqsJobQueue<string>({ client: sqs, queueUrl: created.QueueUrl ?? '' });

    const result = await queue.send([{ id: 'later', body: 'x', delaySeconds: 5 }]);

    expect(result.failed).toEqual([{ id: 'later', reason: expect.stringMatching(/FIFO/) }]);
  });

  it('when SQS fails an entry on its side once, then it is sent again and nothing is reported', async () => {
    const proxy = await faultyProxy(aws.endpoint);
    try {
      const client = aws.sqs({ endpoint: proxy.endpoint });
      const queueUrl = await createQueue(sqs, 'retried');
      const queue = new SqsJobQueue<number>({ client, queueUrl, retryDelayMs: 10 });
      proxy.state.failures = 1;
      proxy.state.pick = (id) => id.endsWith('_job-3');
      const jobs: Job<number>[] = Array.from({ length: 5 }, (_, i) => ({ id: `job-${i}`, body: i }));

      const result = await queue.send(jobs);
      const messages = await receiveAll(sqs, queueUrl, 5);

      expect(result.failed).toEqual([]);
      expect(proxy.state.injected).toBe(1);
      expect(proxy.state.calls).toBe(2);
      expect(messages.map((m) => m.MessageAttributes?.['job-id']?.StringValue).sort()).toEqual(
        jobs.map((j) => j.id),
      );
    } finally {
      await proxy.stop();
    }
  });

  it('when SQS fails an entry on its side twice, then that job alone is reported with the reason', async () => {
    const proxy = await faultyProxy(aws.endpoint);
    try {
      const client = aws.sqs({ endpoint: proxy.endpoint });
      const queueUrl = await createQueue(sqs, 'failing');
      const queue = new SqsJobQueue<number>({ client, queueUrl, retryDelayMs: 10 });
      proxy.state.failures = 2;
      proxy.state.pick = (id) => id.endsWith('_job-1');

      const result = await queue.send([
        { id: 'job-0', body: 0 },
        { id: 'job-1', body: 1 },
      ]);
      const messages = await receiveAll(sqs, queueUrl, 1);

      expect(result.failed).toEqual([
        { id: 'job-1', reason: expect.stringMatching(/InternalError.*after one retry/) },
      ]);
      expect(messages.map((m) => m.MessageAttributes?.['job-id']?.StringValue)).toEqual(['job-0']);
    } finally {
      await proxy.stop();
    }
  });

  it('when the queue does not exist, then every job is reported failed and only one call is made', async () => {
    const client = aws.sqs();
    const batches = recordBatches(client);
    const queue = new SqsJobQueue<number>({ client, queueUrl: `${aws.endpoint}/000000000000/no-such-queue` });
    const jobs = Array.from({ length: 15 }, (_, i) => ({ id: `job-${i}`, body: i }));

    const result = await queue.send(jobs);

    expect(result.failed.map((f) => f.id)).toEqual(jobs.map((j) => j.id));
    expect(result.failed[0]?.reason).toMatch(/SendMessageBatch failed: .*QueueDoesNotExist/);
    expect(batches).toEqual([10]);
  });
});
