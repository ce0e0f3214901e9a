import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../local/fauxqs.ts';

/** Resolves with the connect error code, or 'connected'. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function nonLoopbackIpv4(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => i?.address ?? '');
}

describe('embedded local AWS (fauxqs)', () => {
  let aws: LocalAws;
  beforeAll(async () => {
    aws = await startLocalAws();
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('when started, then it listens on 127.0.0.1 only', async () => {
    const address = aws.address();

    expect(aws.endpoint).toBe(`http://127.0.0.1:${address.port}`);
    expect(address.address).toBe('127.0.0.1');
    expect(address.family).toBe('IPv4');
    expect(await tryConnect('127.0.0.1', aws.port)).toBe('connected');
  });

  it('when reached through a non-loopback address of this machine, then the connection is refused', async () => {
    // This machine has at least one external IPv4 (checked here so the test cannot pass vacuously).
    const external = nonLoopbackIpv4();
    expect(external.length).toBeGreaterThan(0);

    const results = await Promise.all(external.map((host) => tryConnect(host, aws.port)));

    expect(results.every((r) => r === 'ECONNREFUSED')).toBe(true);
  });

  it('when an object is put and got through the S3 SDK, then the bytes and content type round-trip', async () => {
    const s3 = aws.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'local-aws-smoke' }));

    await s3.send(
      new PutObjectCommand({
        Bucket: 'local-aws-smoke',
        Key: 'a/b.json',
        Body: '{"ok":true}',
        ContentType: 'application/json',
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: 'local-aws-smoke', Key: 'a/b.json' }));

    expect(await got.Body?.transformToString()).toBe('{"ok":true}');
    expect(got.ContentType).toBe('application/json');
  });

  it('when a message is sent and received through the SQS SDK, then it arrives once and can be deleted', async () => {
    const sqs = aws.sqs();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'local-aws-smoke' }));

    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const message = received.Messages?.[0];
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message?.ReceiptHandle }));
    const after = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));

    expect(received.Messages).toHaveLength(1);
    expect(message?.Body).toBe('hello');
    expect(after.Messages ?? []).toEqual([]);
  });

  it('when started with s3StorageDir, then objects survive a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-aws-'));
    try {
      const first = await startLocalAws({ s3StorageDir: dir });
      const s3a = first.s3();
      await s3a.send(new CreateBucketCommand({ Bucket: 'persisted' }));
      await s3a.send(new PutObjectCommand({ Bucket: 'persisted', Key: 'k', Body: 'kept' }));
      await first.stop();

      const second = await startLocalAws({ s3StorageDir: dir });
      const bound = second.address().address;
      const got = await second.s3().send(new GetObjectCommand({ Bucket: 'persisted', Key: 'k' }));
      const body = await got.Body?.transformToString();
      await second.stop();

      expect(bound).toBe('127.0.0.1');
      expect(body).toBe('kept');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when keys differ in letter case, then they list in S3`s order in one page and paged, and again after a restart from s3StorageDir', async () => {
    // fauxqs 2.4.1 alone sorts by locale (a, B, c) and, paged one at a time, skips B; local/fauxqs.ts
    // answers LIST from its own sorted index (test/unit/local/fauxqs-sorted-listing.test.ts).
    const dir = await mkdtemp(join(tmpdir(), 'local-aws-'));
    const listAll = async (client: S3Client, maxKeys?: number) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page: ListObjectsV2CommandOutput = await client.send(
          new ListObjectsV2Command({
            Bucket: 'ordered',
            Prefix: 'order/',
            ContinuationToken: token,
            ...(maxKeys ? { MaxKeys: maxKeys } : {}),
          }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    };
    try {
      const first = await startLocalAws({ s3StorageDir: dir });
      const s3a = first.s3();
      await s3a.send(new CreateBucketCommand({ Bucket: 'ordered' }));
      for (const key of ['order/c', 'order/a', 'order/B', 'other/x']) {
        await s3a.send(new PutObjectCommand({ Bucket: 'ordered', Key: key, Body: key }));
      }
      const onePage = await listAll(s3a);
      const paged = await listAll(s3a, 1);
      await first.stop();

      const second = await startLocalAws({ s3StorageDir: dir });
      const reloaded = await listAll(second.s3(), 1);
      await second.stop();

      expect(onePage).toEqual(['order/B', 'order/a', 'order/c']);
      expect(paged).toEqual(['order/B', 'order/a', 'order/c']);
      expect(reloaded).toEqual(['order/B', 'order/a', 'order/c']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
