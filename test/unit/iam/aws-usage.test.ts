import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Client } from '@smithy/core/client';
import { type HttpRequest, HttpResponse } from '@smithy/core/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { uploadInParts } from '../../../shared/adapters/s3-part-upload.ts';
import { type AwsRecorder, DROPPED, recordAwsCalls } from '../../support/iam/aws-usage.ts';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A request handler answering from memory: no socket is ever opened. */
function fakeHttp(answer: (request: HttpRequest) => Answer | Promise<Answer>) {
  return {
    async handle(request: HttpRequest) {
      // Drain a streamed request body (multipart parts), as a real handler would.
      const body: unknown = request.body;
      if (body instanceof Readable) for await (const _ of body);
      const a = await answer(request);
      return {
        response: new HttpResponse({
          statusCode: a.status,
          headers: a.headers ?? {},
          body: Readable.from([Buffer.from(a.body ?? '')]),
        }),
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
}

const base = {
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
  maxAttempts: 1,
};

/** The archive store's multipart uploader with 5 MiB parts (S3's smallest), one in flight. */
const parts = (client: S3Client, key: string) => ({
  client,
  bucket: 'b',
  key,
  contentType: undefined,
  partSize: 5 * 1024 * 1024,
  queueSize: 1,
});

const xml = (inner: string) => `<?xml version="1.0" encoding="UTF-8"?>${inner}`;

/** A tiny S3: objects named "missing..." do not exist, everything else succeeds. */
function s3(options: { failParts?: boolean } = {}): S3Client {
  return new S3Client({
    ...base,
    endpoint: 'http://s3.test',
    forcePathStyle: true,
    requestHandler: fakeHttp((request) => {
      const query = request.query ?? {};
      const missing = request.path.includes('/missing');
      if (request.method === 'POST' && 'uploads' in query) {
        return {
          status: 200,
          body: xml(
            '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
          ),
        };
      }
      if (request.method === 'PUT' && 'partNumber' in query) {
        if (options.failParts) {
          return { status: 500, body: xml('<Error><Code>InternalError</Code><Message>no</Message></Error>') };
        }
        return { status: 200, headers: { etag: `"p${String(query.partNumber)}"` } };
      }
      if (request.method === 'POST' && 'uploadId' in query) {
        return {
          status: 200,
          body: xml(
            '<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>',
          ),
        };
      }
      if (request.method === 'DELETE' && 'uploadId' in query) return { status: 204 };
      if (request.method === 'PUT') return { status: 200, headers: { etag: '"e"' } };
      if (request.method === 'HEAD')
        return missing ? { status: 404 } : { status: 200, headers: { etag: '"e"' } };
      if (request.method === 'GET' && 'list-type' in query) {
        return {
          status: 200,
          body: xml('<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount></ListBucketResult>'),
        };
      }
      if (request.method === 'GET') {
        return missing
          ? {
              status: 404,
              body: xml(
                '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
              ),
            }
          : { status: 200, body: 'object text' };
      }
      return { status: 400, body: xml('<Error><Code>Unexpected</Code><Message>test fake</Message></Error>') };
    }),
  });
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

function sqs(): SQSClient {
  return new SQSClient({
    ...base,
    endpoint: 'http://sqs.test',
    requestHandler: fakeHttp(async (request) => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const raw: unknown = request.body;
      const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw as Uint8Array);
      const input = JSON.parse(text) as {
        MessageBody?: string;
        Entries?: Array<{ Id: string; MessageBody: string }>;
      };
      const json = { 'content-type': 'application/x-amz-json-1.0' };
      if (target.endsWith('.SendMessageBatch')) {
        const Successful = (input.Entries ?? []).map((e) => ({
          Id: e.Id,
          MessageId: `m-${e.Id}`,
          MD5OfMessageBody: md5(e.MessageBody),
        }));
        return { status: 200, headers: json, body: JSON.stringify({ Successful, Failed: [] }) };
      }
      return {
        status: 200,
        headers: json,
        body: JSON.stringify({ MessageId: 'm1', MD5OfMessageBody: md5(input.MessageBody ?? '') }),
      };
    }),
  });
}

function dynamodb(): DynamoDBClient {
  return new DynamoDBClient({
    ...base,
    endpoint: 'http://dynamodb.test',
    requestHandler: fakeHttp(() => ({
      status: 400,
      headers: { 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
        message: 'The conditional request failed',
      }),
    })),
  });
}

function secrets(): SecretsManagerClient {
  return new SecretsManagerClient({
    ...base,
    endpoint: 'http://secrets.test',
    requestHandler: fakeHttp(() => ({
      status: 200,
      headers: { 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({
        ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:s',
        Name: 's',
        SecretString: 'hunter2',
      }),
    })),
  });
}

let recorder: AwsRecorder | undefined;
afterEach(() => {
  recorder?.stop();
  recorder = undefined;
});

describe('recordAwsCalls', () => {
  it('when a client is built, then it extends the one Client class whose send is patched', () => {
    for (const client of [s3(), sqs(), dynamodb(), secrets()]) expect(client).toBeInstanceOf(Client);
  });

  it('when each client sends, then the service is its lower-case, dashed serviceId', async () => {
    recorder = recordAwsCalls();
    await s3().send(new ListObjectsV2Command({ Bucket: 'b' }));
    await sqs().send(new SendMessageCommand({ QueueUrl: 'http://sqs.test/1/q', MessageBody: 'hi' }));
    await dynamodb()
      .send(new PutItemCommand({ TableName: 't', Item: { pk: { S: 'a' } } }))
      .catch(() => {});
    await secrets().send(new GetSecretValueCommand({ SecretId: 's' }));
    expect(recorder.calls.map((c) => `${c.service}:${c.command}`)).toEqual([
      's3:ListObjectsV2',
      'sqs:SendMessage',
      'dynamodb:PutItem',
      'secrets-manager:GetSecretValue',
    ]);
  });

  it('when two functions run concurrently with awaits and timers, then each call is attributed to its own function', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const rec = recorder;
    let background: Promise<unknown> | undefined;
    await Promise.all([
      rec.as('archive', async () => {
        await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'a/1' }));
        await sleep(5);
        // A background write started from a timer, not awaited by the function.
        setTimeout(() => {
          background = client.send(new PutObjectCommand({ Bucket: 'b', Key: 'a/late', Body: 'x' }));
        }, 1);
        await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'a/2', Body: 'x' }));
      }),
      rec.as('tagger', async () => {
        await sleep(1);
        await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 't/1' }));
        await Promise.resolve().then(() =>
          client.send(new PutObjectCommand({ Bucket: 'b', Key: 't/2', Body: 'y' })),
        );
      }),
    ]);
    await sleep(10);
    await background;
    await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'outside' }));

    const byKey = Object.fromEntries(rec.calls.map((c) => [String(c.input.Key), c.fn]));
    expect(byKey).toEqual({
      'a/1': 'archive',
      'a/2': 'archive',
      'a/late': 'archive',
      't/1': 'tagger',
      't/2': 'tagger',
      outside: undefined,
    });
    expect(rec.calls.every((c) => c.error === undefined && c.status === 200)).toBe(true);
  });

  it('when a handler is wrapped, then each of its invocations runs as that function and returns its result', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const handler = recorder.wrap('stall', async (key: string) => {
      await client.send(new HeadObjectCommand({ Bucket: 'b', Key: key }));
      return `done ${key}`;
    });
    await expect(handler('k1')).resolves.toBe('done k1');
    expect(recorder.calls).toMatchObject([{ fn: 'stall', command: 'HeadObject', input: { Key: 'k1' } }]);
  });

  it('when a call fails, then its error name and status are recorded and the same error is thrown', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const rec = recorder;
    await rec.as('archive', async () => {
      await expect(
        client.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing/1' })),
      ).rejects.toBeInstanceOf(NoSuchKey);
      await expect(
        client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'missing/2' })),
      ).rejects.toMatchObject({
        name: 'NotFound',
      });
      await expect(
        dynamodb().send(
          new PutItemCommand({
            TableName: 't',
            Item: { pk: { S: 'a' } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    });
    expect(rec.calls.map(({ command, error, status }) => ({ command, error, status }))).toEqual([
      { command: 'GetObject', error: 'NoSuchKey', status: 404 },
      { command: 'HeadObject', error: 'NotFound', status: 404 },
      { command: 'PutItem', error: 'ConditionalCheckFailedException', status: 400 },
    ]);
  });

  it('when the send pipeline answers or throws, then the patched send resolves or rejects with that very value', async () => {
    const output = { $metadata: { httpStatusCode: 204 }, marker: 'same object' };
    const failure = Object.assign(new Error('412'), {
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: 412 },
    });
    const client = s3();
    client.middlewareStack.add(
      (_next, context) => async () => {
        if (context.commandName === 'PutObjectCommand') throw failure;
        return { output, response: {} };
      },
      { step: 'initialize', name: 'shortCircuit' },
    );
    recorder = recordAwsCalls();
    await expect(client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }))).resolves.toBe(output);
    await expect(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }))).rejects.toBe(
      failure,
    );
    expect(recorder.calls).toMatchObject([
      { command: 'HeadObject', status: 204 },
      { command: 'PutObject', error: 'PreconditionFailed', status: 412 },
    ]);
    expect(recorder.calls[0]).not.toHaveProperty('error');
  });

  it('when send is called with a callback, then the call is recorded and the callback gets the answer', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const answer = await new Promise<unknown>((resolve) =>
      client.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing/cb' }), (error) => resolve(error)),
    );
    expect(answer).toBeInstanceOf(NoSuchKey);
    expect(recorder.calls).toMatchObject([{ command: 'GetObject', error: 'NoSuchKey', status: 404 }]);
  });

  it('when inputs carry bodies, items, attributes or secrets, then only ids, keys, urls and names are kept', async () => {
    recorder = recordAwsCalls();
    const queue = sqs();
    const url = 'http://sqs.test/123/jobs';
    await s3().send(
      new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'SECRET-BODY', ContentType: 'text/plain' }),
    );
    await queue.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: 'SECRET-MESSAGE',
        MessageAttributes: { 'failure-reason': { DataType: 'String', StringValue: 'SECRET-REASON' } },
      }),
    );
    await queue.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'SECRET-A' },
          { Id: 'b', MessageBody: 'SECRET-B', DelaySeconds: 3 },
        ],
      }),
    );
    await dynamodb()
      .send(
        new PutItemCommand({
          TableName: 'budget',
          Item: { pk: { S: 'SECRET-PK' }, text: { S: 'SECRET-TEXT' } },
          ConditionExpression: 'v = :v',
          ExpressionAttributeValues: { ':v': { S: 'SECRET-V' } },
        }),
      )
      .catch(() => {});
    await secrets().send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'SECRET-STRING' }));
    await secrets().send(new GetSecretValueCommand({ SecretId: 's' }));

    const [put, send, batch, item, putSecret, getSecret] = recorder.calls;
    expect(put?.input).toEqual({ Bucket: 'b', Key: 'k', ContentType: 'text/plain' });
    expect(send?.input).toEqual({ QueueUrl: url, MessageAttributes: { 'failure-reason': DROPPED } });
    expect(batch?.input).toEqual({ QueueUrl: url, Entries: [{ Id: 'a' }, { Id: 'b', DelaySeconds: 3 }] });
    expect(item?.input).toEqual({
      TableName: 'budget',
      Item: { pk: DROPPED, text: DROPPED },
      ConditionExpression: 'v = :v',
      ExpressionAttributeValues: { ':v': DROPPED },
    });
    expect(putSecret?.input).toEqual({ SecretId: 's' });
    expect(getSecret?.input).toEqual({ SecretId: 's' });
    expect(JSON.stringify(recorder.calls)).not.toMatch(/SECRET|hunter2|object text/);
  });

  it('when the part uploader sends a small body, then its single PutObject is recorded', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const rec = recorder;
    await rec.as('archive', () =>
      uploadInParts(Readable.from([Buffer.from('tiny')]), parts(client, 'small')),
    );
    expect(rec.calls.map((c) => [c.fn, c.command, c.input.Key])).toEqual([['archive', 'PutObject', 'small']]);
  });

  it('when the part uploader sends a body over one part, then every multipart call is recorded', async () => {
    recorder = recordAwsCalls();
    const client = s3();
    const rec = recorder;
    const body = Readable.from([Buffer.alloc(5 * 1024 * 1024 + 10, 1)]);
    await rec.as('archive', () => uploadInParts(body, parts(client, 'big')));
    expect(rec.calls.map((c) => [c.fn, c.command, c.input.Key])).toEqual([
      ['archive', 'CreateMultipartUpload', 'big'],
      ['archive', 'UploadPart', 'big'],
      ['archive', 'UploadPart', 'big'],
      ['archive', 'CompleteMultipartUpload', 'big'],
    ]);
    expect(rec.calls.map((c) => c.input)).not.toContainEqual(
      expect.objectContaining({ Body: expect.anything() }),
    );
  });

  it('when a multipart upload fails, then the failed parts and the AbortMultipartUpload are recorded', async () => {
    recorder = recordAwsCalls();
    const client = s3({ failParts: true });
    const rec = recorder;
    const body = Readable.from([Buffer.alloc(5 * 1024 * 1024 + 10, 1)]);
    await expect(rec.as('archive', () => uploadInParts(body, parts(client, 'big')))).rejects.toThrow();
    const commands = rec.calls.map((c) => c.command);
    expect(commands[0]).toBe('CreateMultipartUpload');
    expect(commands).toContain('AbortMultipartUpload');
    expect(rec.calls.find((c) => c.command === 'UploadPart')).toMatchObject({
      error: 'InternalError',
      status: 500,
    });
    expect(rec.calls.every((c) => c.fn === 'archive')).toBe(true);
  });

  it('when stop() is called, then the original send is back and later calls are not recorded', async () => {
    const original = Client.prototype.send;
    const first = recordAwsCalls();
    expect(Client.prototype.send).not.toBe(original);
    expect(() => recordAwsCalls()).toThrow(/already active/);
    first.stop();
    expect(Client.prototype.send).toBe(original);
    first.stop(); // a second stop does nothing
    await s3().send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    expect(first.calls).toEqual([]);

    recorder = recordAwsCalls(); // a new recorder may start once the first stopped
    await s3().send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    expect(recorder.calls).toHaveLength(1);
  });
});
