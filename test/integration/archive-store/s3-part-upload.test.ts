// uploadInParts against the embedded S3 emulator (fauxqs), through the real SDK. What the archive
// contract does not show: memory is bounded by construction (the body is not read further while
// every part buffer is busy, however slow S3 is), a body of exactly one part is one PutObject, and a
// part S3 refuses aborts the upload.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { uploadInParts } from '../../../shared/adapters/s3-part-upload.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's smallest part
const Bucket = 'part-upload';

let aws: LocalAws;

beforeAll(async () => {
  aws = await startLocalAws();
  await aws.s3().send(new CreateBucketCommand({ Bucket }));
});
afterAll(async () => {
  await aws?.stop();
});

interface Observed {
  readonly commands: string[];
  /** When each UploadPart was sent: body bytes pulled by then, and UploadParts finished by then. */
  readonly atPart: Array<{ pulled: number; finished: number }>;
}

/** A client whose every call is recorded; UploadPart takes `partDelayMs` longer (a slow link) or fails. */
function observedClient(
  source: { pulled: number },
  options: { partDelayMs?: number; failPart?: number } = {},
): { client: S3Client; observed: Observed } {
  const client = aws.s3();
  const observed: Observed = { commands: [], atPart: [] };
  let finished = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName).replace(/Command$/, '');
      observed.commands.push(command);
      if (command === 'UploadPart') {
        observed.atPart.push({ pulled: source.pulled, finished });
        const part = (args.input as { PartNumber?: number }).PartNumber;
        if (part === options.failPart) throw Object.assign(new Error('injected'), { name: 'InternalError' });
        if (options.partDelayMs) await sleep(options.partDelayMs);
        const out = await next(args);
        finished++;
        return out;
      }
      return next(args);
    },
    { step: 'initialize', name: 'observe' },
  );
  return { client, observed };
}

/** `size` bytes of a repeating pattern in 256 KiB chunks, counting what was pulled. */
function counted(size: number): {
  body: AsyncIterable<Uint8Array>;
  source: { pulled: number };
  sha256: string;
} {
  const source = { pulled: 0 };
  const chunk = 256 * 1024;
  const pattern = (n: number, length: number) => Buffer.alloc(length, n % 251);
  const hash = createHash('sha256');
  for (let at = 0, n = 0; at < size; at += chunk, n++) hash.update(pattern(n, Math.min(chunk, size - at)));
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let at = 0, n = 0; at < size; at += chunk, n++) {
      const length = Math.min(chunk, size - at);
      source.pulled += length;
      yield pattern(n, length);
    }
  }
  return { body: body(), source, sha256: hash.digest('hex') };
}

async function storedSha256(client: S3Client, Key: string): Promise<{ sha256: string; bytes: number }> {
  const out = await client.send(new GetObjectCommand({ Bucket, Key }));
  const bytes = await out.Body?.transformToByteArray();
  return {
    sha256: createHash('sha256')
      .update(bytes ?? new Uint8Array())
      .digest('hex'),
    bytes: bytes?.byteLength ?? 0,
  };
}

describe('uploadInParts', () => {
  it('when S3 is slower than the body, then the body is read at most one part ahead of the parts in flight', async () => {
    const size = 6 * PART + 123;
    const { body, source, sha256 } = counted(size);
    const { client, observed } = observedClient(source, { partDelayMs: 150 });

    const result = await uploadInParts(body, {
      client,
      bucket: Bucket,
      key: 'slow.bin',
      contentType: undefined,
      partSize: PART,
      queueSize: 1,
    });

    expect(result).toMatchObject({ size, buffers: 2 });
    expect(observed.atPart).toHaveLength(7);
    // Read ahead of the parts S3 has taken: the one in flight and the one filling, plus the chunk
    // that showed the filled one was not the last; never more, however slow the parts are.
    for (const { pulled, finished } of observed.atPart) {
      expect(pulled).toBeLessThanOrEqual((finished + 2) * PART + 256 * 1024);
    }
    expect(await storedSha256(client, 'slow.bin')).toEqual({ sha256, bytes: size });
    expect(observed.commands).toEqual([
      'CreateMultipartUpload',
      ...Array(7).fill('UploadPart'),
      'CompleteMultipartUpload',
      'GetObject',
    ]);
  });

  it('when two parts may be in flight, then three buffers serve a body of any length', async () => {
    const size = 9 * PART;
    const { body, source, sha256 } = counted(size);
    const { client } = observedClient(source, { partDelayMs: 50 });

    const result = await uploadInParts(body, {
      client,
      bucket: Bucket,
      key: 'two.bin',
      contentType: undefined,
      partSize: PART,
      queueSize: 2,
    });

    expect(result.buffers).toBe(3);
    expect(await storedSha256(client, 'two.bin')).toEqual({ sha256, bytes: size });
  });

  it('when the body is exactly one part long, then it is stored with one PutObject', async () => {
    const { body, source, sha256 } = counted(PART);
    const { client, observed } = observedClient(source);

    const result = await uploadInParts(body, {
      client,
      bucket: Bucket,
      key: 'one.bin',
      contentType: 'audio/wav',
      partSize: PART,
      queueSize: 1,
    });

    expect(result).toMatchObject({ size: PART, buffers: 1 });
    expect(result.etag).not.toMatch(/-\d+"$/); // a single-part etag
    expect(observed.commands).toEqual(['PutObject']);
    expect(await storedSha256(client, 'one.bin')).toEqual({ sha256, bytes: PART });
  });

  it('when S3 refuses a part, then the upload is aborted, the error surfaces and no object appears', async () => {
    const { body, source } = counted(4 * PART);
    const { client, observed } = observedClient(source, { failPart: 2 });

    await expect(
      uploadInParts(body, {
        client,
        bucket: Bucket,
        key: 'refused.bin',
        contentType: undefined,
        partSize: PART,
        queueSize: 1,
      }),
    ).rejects.toThrow('injected');

    expect(observed.commands.at(-1)).toBe('AbortMultipartUpload');
    expect(observed.commands).not.toContain('CompleteMultipartUpload');
    await expect(client.send(new GetObjectCommand({ Bucket, Key: 'refused.bin' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
  });
});
