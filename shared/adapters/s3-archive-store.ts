// The archive store over an S3 bucket (optionally under a key prefix).
//
// - Create-only and compare-and-swap writes use S3's conditional PutObject (`If-None-Match: *`,
//   `If-Match`). 412 PreconditionFailed, and 404 NoSuchKey on an If-Match write (S3's answer when the
//   object to compare against is gone), become PreconditionFailedError. 409 ConditionalRequestConflict
//   (a conflicting operation on the key while the conditional write ran) is retried a few times: a
//   conditional write re-evaluates its condition, so resending it is safe; if the conflict persists
//   it is a RetryableError.
// - putStream streams through uploadInParts (./s3-part-upload.ts: multipart, 8 MiB parts, 1 in flight
//   while the next fills: memory stays (queueSize + 1) x partSize whatever the size, in buffers reused
//   part after part), hashing with sha256 as the bytes pass. On any failure the multipart upload is
//   aborted, so no object appears. One part in flight should be enough for one large recording (the
//   download from Amigo's storage is expected to be slower than S3 in-region; not measured in AWS)
//   and saves 8 MiB per recording streamed (issue #12, bench/README.md "archive-rss").
// - Errors name the operation, bucket and key, and never carry the SDK error object itself (its
//   `$response` and, for SignatureDoesNotMatch, the access key id and string to sign): only plain
//   facts. Throttling, 5xx and network faults are RetryableError; access denied, missing bucket and
//   other client errors are PermanentError.
// - Keys are validated like the folder store's (validateArchiveKey), so both accept the same keys.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AmigoQaError, PermanentError, RetryableError, redactText } from '../errors.ts';
import { validateArchiveKey, validateArchivePrefix } from '../ports/archive-keys.ts';
import {
  type ArchiveStore,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
  type StreamedObject,
} from '../ports/archive-store.ts';
import { uploadInParts } from './s3-part-upload.ts';

export interface S3ArchiveStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix inside the bucket ('tenant/archive'); keys are joined under it with '/'. */
  readonly prefix?: string;
  /** Multipart part size for putStream. Default 8 MiB (S3 minimum 5 MiB). */
  readonly partSize?: number;
  /** Parts uploaded concurrently by putStream (one more is filled meanwhile). Default 1. */
  readonly queueSize?: number;
  /** How many times a 409 ConditionalRequestConflict is retried. Default 3. */
  readonly conflictRetries?: number;
}

const MiB = 1024 * 1024;

/**
 * The archive store over an S3 bucket, under an optional key prefix (see the notes at the top of
 * this file).
 *
 * @example
 * ```ts
 * import { createReadStream } from 'node:fs';
 * import { S3Client } from '@aws-sdk/client-s3';
 * import { S3ArchiveStore } from './shared/adapters/s3-archive-store.ts';
 *
 * const store = new S3ArchiveStore({ client: new S3Client({}), bucket: 'my-archive', prefix: 'qa' });
 * // Multipart, hashed as it streams: { key, size, etag, sha256 }
 * const stored = await store.putStream('org/audio/m1.wav', createReadStream('m1.wav'), {
 *   contentType: 'audio/wav',
 * });
 * const current = await store.get('org/manifest.json');
 * if (current) await store.put('org/manifest.json', '{}', { ifMatch: current.etag }); // compare-and-swap
 * ```
 */
export class S3ArchiveStore implements ArchiveStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #conflictRetries: number;

  constructor(options: S3ArchiveStoreOptions) {
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix !== '') validateArchiveKey(prefix);
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.#partSize = options.partSize ?? 8 * MiB;
    this.#queueSize = options.queueSize ?? 1;
    this.#conflictRetries = options.conflictRetries ?? 3;
    this.location = `s3://${options.bucket}${prefix === '' ? '' : `/${prefix}`}`;
  }

  async get(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    const Key = this.#key(key);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key }));
      const body = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
      return { body, etag: out.ETag ?? '' };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#error(error, 'GetObject', Key);
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const Key = this.#key(key);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key }));
      return out.Body as Readable | undefined; // a Node Readable (IncomingMessage) in Node runtimes
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#error(error, 'GetObject', Key);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const Key = this.#key(key);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key }));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '' };
    } catch (error) {
      // A HEAD 404 has no body: S3 cannot say whether the key or the bucket is missing.
      if (isNotFound(error)) return undefined;
      throw this.#error(error, 'HeadObject', Key);
    }
  }

  async put(key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<StoredObject> {
    const Key = this.#key(key);
    if (options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
      throw new PermanentError(`The write of ${key} names both ifMatch and ifNoneMatch: use one`, {
        context: { key },
      });
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch !== undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: options.contentType,
            IfNoneMatch: options.ifNoneMatch,
            IfMatch: options.ifMatch,
          }),
        );
        return { key, size: bytes.byteLength, etag: out.ETag ?? '' };
      } catch (error) {
        const { status, code } = facts(error);
        if (status === 412 || code === 'PreconditionFailed') {
          throw new PreconditionFailedError(
            key,
            options.ifMatch !== undefined ? 'if-match' : 'if-none-match',
          );
        }
        if (options.ifMatch !== undefined && isNotFound(error)) {
          throw new PreconditionFailedError(key, 'if-match'); // nothing to compare with: it was deleted
        }
        if (conditional && code === 'ConditionalRequestConflict' && attempt < this.#conflictRetries) {
          await sleep(25 * 2 ** attempt * (0.5 + Math.random()));
          continue;
        }
        throw this.#error(error, 'PutObject', Key);
      }
    }
  }

  async putStream(
    key: string,
    body: Readable,
    options: { contentType?: string } = {},
  ): Promise<StreamedObject> {
    const Key = this.#key(key);
    const sha256 = createHash('sha256');
    let sourceError: unknown;
    async function* hashed(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of body) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
          sha256.update(buffer);
          yield buffer;
        }
      } catch (error) {
        sourceError = error;
        throw error;
      }
    }
    try {
      const out = await uploadInParts(hashed(), {
        client: this.#client,
        bucket: this.#bucket,
        key: Key,
        contentType: options.contentType,
        partSize: this.#partSize,
        queueSize: this.#queueSize,
      });
      return { key, size: out.size, etag: out.etag, sha256: sha256.digest('hex') };
    } catch (error) {
      body.destroy();
      if (sourceError !== undefined) throw sourceError; // the caller's own stream failed: show that error
      if (error instanceof AmigoQaError) throw error;
      throw this.#error(error, 'PutObject (multipart upload)', Key);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    validateArchivePrefix(prefix);
    const Prefix = `${this.#prefix}${prefix}`;
    let ContinuationToken: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix, ContinuationToken }),
        );
      } catch (error) {
        throw this.#error(error, 'ListObjectsV2', Prefix);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key.slice(this.#prefix.length),
          size: object.Size ?? 0,
          etag: object.ETag ?? '',
          ...(object.LastModified ? { lastModified: object.LastModified.getTime() } : {}),
        };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    const Key = this.#key(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.#error(error, 'DeleteObject', Key);
    }
  }

  #key(key: string): string {
    return `${this.#prefix}${validateArchiveKey(key)}`;
  }

  #error(error: unknown, operation: string, key: string): AmigoQaError {
    return s3Error(error, { operation, bucket: this.#bucket, key });
  }
}

interface ErrorFacts {
  readonly status: number | undefined;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly message: string;
  readonly retryableBySdk: boolean;
}

function facts(error: unknown): ErrorFacts {
  const e = (error ?? {}) as {
    name?: unknown;
    Code?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string };
    $retryable?: unknown;
  };
  const code = [e.Code, e.code, e.name].find((c) => typeof c === 'string' && c !== '' && c !== 'Error');
  return {
    status: e.$metadata?.httpStatusCode,
    code: typeof code === 'string' ? code : 'UnknownError',
    requestId: e.$metadata?.requestId,
    message: typeof e.message === 'string' ? e.message : String(error),
    retryableBySdk: e.$retryable !== undefined,
  };
}

function isNotFound(error: unknown): boolean {
  const { status, code } = facts(error);
  return code === 'NoSuchKey' || (code === 'NotFound' && status === 404);
}

const RETRYABLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'ConditionalRequestConflict',
  'OperationAborted',
  // network faults from the HTTP handler
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'NetworkingError',
]);

const HINTS: Record<string, string> = {
  AccessDenied: 'Check that the role may perform this action on the bucket (and its KMS key, if any).',
  NoSuchBucket: 'Check the bucket name and region in the configuration; create the bucket if it is new.',
  InvalidAccessKeyId: 'The credentials are not valid for this account or endpoint.',
  SignatureDoesNotMatch: 'The secret key does not match the access key id, or the clock is far off.',
  SlowDown: 'S3 is throttling this prefix: retry later with backoff.',
  ConditionalRequestConflict:
    'A conflicting write or delete ran at the same time: read the object again and retry.',
};

/** An S3 SDK error as an AmigoQaError naming the operation, bucket and key, without the SDK object. */
export function s3Error(
  error: unknown,
  where: { readonly operation: string; readonly bucket: string; readonly key: string },
): AmigoQaError {
  const f = facts(error);
  const context = {
    operation: where.operation,
    bucket: where.bucket,
    key: where.key,
    code: f.code,
    ...(f.status !== undefined ? { status: f.status } : {}),
    ...(f.requestId !== undefined ? { requestId: f.requestId } : {}),
  };
  const message =
    `S3 ${where.operation} of s3://${where.bucket}/${where.key} failed: ${f.code}` +
    `${f.status !== undefined ? ` (HTTP ${f.status})` : ''}: ${redactText(f.message)}`;
  // A plain Error as the cause: the SDK's own object carries the raw response (and, for a signature
  // mismatch, the access key id and the string to sign).
  const cause = new Error(redactText(f.message));
  cause.name = f.code;
  const options = { context, cause, ...(HINTS[f.code] ? { hint: HINTS[f.code] } : {}) };
  const retryable =
    RETRYABLE_CODES.has(f.code) ||
    f.status === 429 ||
    (f.status !== undefined && f.status >= 500) ||
    (f.status === undefined && f.retryableBySdk);
  return retryable ? new RetryableError(message, options) : new PermanentError(message, options);
}
