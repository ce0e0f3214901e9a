// The archive store port: where conversations are archived. Two adapters implement it with the
// same observable behaviour: S3 (shared/adapters/s3-archive-store.ts) and a local folder
// (shared/adapters/fs-archive-store.ts). Keys are relative to the archive root, '/'-separated.
import type { Readable } from 'node:stream';
import { PermanentError } from '../errors.ts';

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** Opaque version tag for compare-and-swap writes (the S3 ETag, quotes included). */
  readonly etag: string;
  /**
   * When the object was last written, in epoch ms (S3 LastModified, the file's mtime), where the
   * store says: listings fill it so a reader can skip what was written before a time unread.
   */
  readonly lastModified?: number;
}

export interface PutOptions {
  readonly contentType?: string;
  /** Create-only: fail with {@link PreconditionFailedError} when the key exists (S3 `If-None-Match: *`). */
  readonly ifNoneMatch?: '*';
  /** Compare-and-swap: fail with {@link PreconditionFailedError} unless the current etag equals this (S3 `If-Match`). */
  readonly ifMatch?: string;
}

export interface StreamedObject extends StoredObject {
  /** Hex sha256 of the bytes written, computed while streaming. */
  readonly sha256: string;
}

export interface ArchiveStore {
  /** Where the archive lives, for people: `s3://bucket/prefix` or an absolute folder path. */
  readonly location: string;
  /** The object's bytes and etag, or undefined when it does not exist. */
  get(key: string): Promise<{ body: Buffer; etag: string } | undefined>;
  /** The object's bytes as a stream, or undefined when it does not exist. */
  getStream(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<StoredObject | undefined>;
  put(key: string, body: string | Uint8Array, options?: PutOptions): Promise<StoredObject>;
  /**
   * Streams `body` into `key` without holding it in memory (S3: multipart upload), hashing as it
   * goes. The object appears whole or not at all.
   */
  putStream(key: string, body: Readable, options?: { contentType?: string }): Promise<StreamedObject>;
  /** Every object under `prefix`, in key order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(key: string): Promise<void>;
}

/** A conditional write's precondition did not hold (HTTP 412). */
export class PreconditionFailedError extends PermanentError {
  constructor(key: string, condition: 'if-none-match' | 'if-match') {
    super(
      `The write of ${key} was refused: ${condition === 'if-none-match' ? 'it already exists' : 'it changed since it was read'}`,
      {
        context: { key, condition },
      },
    );
  }
}
