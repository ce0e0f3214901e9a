// Streams a body of unknown length into one S3 object through a fixed set of reused part buffers.
//
// Why not @aws-sdk/lib-storage's Upload (used until issue #12): its chunker keeps the incoming chunks
// of a part, then `Buffer.concat`s them into a fresh part (a second copy), and keeps that part alive
// through the remainder it slices off it: about three parts of memory per part in flight, and a new
// part-sized buffer allocated for every part, garbage that V8 frees late (bench/README.md,
// "archive-rss"). Here a part is copied once into one of (queueSize + 1) buffers allocated per
// upload: one filling, at most queueSize uploading. When every buffer is busy the body is not read
// (backpressure), so memory is (queueSize + 1) x partSize whatever the object's size.
//
// The S3 calls are lib-storage's: one PutObject when the body fits in one part; otherwise
// CreateMultipartUpload (with the CRC32 checksum algorithm when the client computes checksums, as
// lib-storage asks), UploadPart, CompleteMultipartUpload with each part's checksum, and
// AbortMultipartUpload on any failure, so no object and no parts are left behind.
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { PermanentError } from '../errors.ts';

/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;

export interface PartUploadOptions {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string | undefined;
  readonly partSize: number;
  /** Parts uploaded at once; the body is read meanwhile into one more buffer. */
  readonly queueSize: number;
}

export interface PartUploadResult {
  readonly etag: string;
  readonly size: number;
  /** The part buffers this upload allocated (at most queueSize + 1). */
  readonly buffers: number;
}

/**
 * Uploads `body` as one object: PutObject when it fits in one part, else a multipart upload. The
 * body's chunks are copied into the part buffers, so the caller may reuse or drop them at once.
 */
export async function uploadInParts(
  body: AsyncIterable<Uint8Array>,
  options: PartUploadOptions,
): Promise<PartUploadResult> {
  const { client, bucket: Bucket, key: Key, contentType: ContentType, partSize, queueSize } = options;
  const free: Buffer[] = [];
  let buffers = 0;
  const take = (): Buffer => {
    const reused = free.pop();
    if (reused) return reused;
    buffers++;
    // Outside Node's shared pool, and only the pages written become resident: a small object
    // costs its own size, not a whole part.
    return Buffer.allocUnsafeSlow(partSize);
  };

  let current: Buffer | undefined;
  let filled = 0;
  let size = 0;
  let uploadId: string | undefined;
  let partNumber = 0;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;

  const checksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';

  /** Sends the filled buffer as the next part, once fewer than queueSize parts are in flight. */
  const sendPart = async (): Promise<void> => {
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    if (failure) throw failure.error;
    if (uploadId === undefined) {
      const created = await client.send(
        new CreateMultipartUploadCommand({
          Bucket,
          Key,
          ContentType,
          ...(checksums ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}),
        }),
      );
      if (!created.UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
      uploadId = created.UploadId;
    }
    if (++partNumber > MAX_PARTS) {
      throw new PermanentError(
        `The object ${Key} needs more than ${MAX_PARTS} parts of ${partSize} bytes, S3's limit`,
        { context: { bucket: Bucket, key: Key, partSize }, hint: 'Configure a larger partSize' },
      );
    }
    const buffer = current as Buffer;
    const PartNumber = partNumber;
    const UploadId = uploadId;
    const upload = client
      .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: buffer.subarray(0, filled) }))
      .then((out) => {
        if (!out.ETag) throw new Error(`UploadPart ${PartNumber} answered without an ETag`);
        parts.push({
          PartNumber,
          ETag: out.ETag,
          ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
          ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
          ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
          ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
          ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
        });
      })
      // Never rejects: the first failure is kept and thrown by the loop, so none goes unhandled.
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => {
        inFlight.delete(upload);
        free.push(buffer); // only now: the SDK may resend the body until the call settles
      });
    inFlight.add(upload);
    current = undefined;
    filled = 0;
  };

  try {
    for await (const chunk of body) {
      let offset = 0;
      while (offset < chunk.byteLength) {
        // A full buffer is sent only when more bytes follow: a body of exactly one part is one PutObject.
        if (current && filled === partSize) await sendPart();
        current ??= take();
        const n = Math.min(chunk.byteLength - offset, partSize - filled);
        current.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
      }
      size += chunk.byteLength;
      if (failure) throw failure.error;
    }

    if (uploadId === undefined) {
      const Body = current ? current.subarray(0, filled) : Buffer.alloc(0);
      const out = await client.send(
        new PutObjectCommand({ Bucket, Key, Body, ContentLength: Body.byteLength, ContentType }),
      );
      return { etag: out.ETag ?? '', size, buffers };
    }
    if (filled > 0) await sendPart();
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const out = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return { etag: out.ETag ?? '', size, buffers };
  } catch (error) {
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      // Best effort: a lifecycle rule should clean up what an abort that fails leaves.
      await client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw error;
  }
}
