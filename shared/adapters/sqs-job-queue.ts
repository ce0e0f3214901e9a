// The job queue over SQS (AWS, or fauxqs in the local runner).
//
// - Bodies are JSON. Every message carries the String attribute `job-id` (the job's id), so a
//   receiver can recognise a duplicate delivery without parsing the body.
// - Jobs go out with SendMessageBatch: at most 10 entries per call, and at most `maxBatchBytes` of
//   payload per call (SQS counts body + attribute names, types and values). The batch entry Id is the
//   job id with everything outside [A-Za-z0-9_-] replaced, prefixed by the entry's position so it is
//   unique within the batch even for equal or colliding ids, and cut to SQS's 80 characters.
// - FIFO queues (URL ending `.fifo`): MessageDeduplicationId is the sha256 of the job id (so resending
//   a job within SQS's 5-minute window is a no-op), MessageGroupId is `messageGroupId(job)` (default:
//   the job id itself when it fits SQS's rules, else its hash: jobs are independent, so every job is its
//   own group and nothing waits behind a failing one). FIFO queues refuse per-message DelaySeconds, so a
//   delayed job on a FIFO queue is reported as failed rather than sent without its delay.
// - Nothing about a single job is thrown: a body that cannot be serialised, is over `maxMessageBytes`
//   (256 KiB by default), or has an invalid delay is reported in `failed` without a call. Entries SQS
//   refuses with SenderFault=false (its side) are sent once more after a short pause; what still fails,
//   and every SenderFault=true entry, is reported with SQS's code and message.
// - A whole call that fails (after the SDK's own retries) reports its entries as failed rather than
//   throwing, so the caller always learns exactly which jobs went out. If the failure cannot pass by
//   itself (missing queue, access denied, a client error), the jobs not yet sent are reported with the
//   same reason instead of being tried one batch after another.
// - Reasons never contain message bodies (they may carry health data), only ids, sizes and SQS codes.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BatchResultErrorEntry,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { redactText } from '../errors.ts';
import type { Job, JobQueue } from '../ports/job-queue.ts';

export interface SqsJobQueueOptions<T> {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** FIFO queues only: the MessageGroupId of a job. Default: the job id (or its hash when it does not fit). */
  readonly messageGroupId?: (job: Job<T>) => string;
  /** Largest message (body + attributes) sent. Default 256 KiB, what every SQS queue accepts. */
  readonly maxMessageBytes?: number;
  /** Largest SendMessageBatch payload. Default 256 KiB (the long-standing SQS limit, still safe today). */
  readonly maxBatchBytes?: number;
  /** Pause before resending entries SQS failed on its side. Default 200 ms. */
  readonly retryDelayMs?: number;
}

export interface SendResult {
  failed: Array<{ id: string; reason: string }>;
}

/** The message attribute naming the job a message belongs to. */
export const JOB_ID_ATTRIBUTE = 'job-id';

const KiB = 1024;
const MAX_ENTRIES = 10;
const MAX_DELAY_SECONDS = 900;
const ENTRY_ID_LENGTH = 80;
const GROUP_ID = /^[\x21-\x7e]{1,128}$/;

interface Prepared<T> {
  readonly job: Job<T>;
  readonly entry: SendMessageBatchRequestEntry;
  readonly bytes: number;
}

export class SqsJobQueue<T> implements JobQueue<T> {
  readonly queueUrl: string;
  readonly fifo: boolean;
  readonly #client: SQSClient;
  readonly #groupId: (job: Job<T>) => string;
  readonly #maxMessageBytes: number;
  readonly #maxBatchBytes: number;
  readonly #retryDelayMs: number;

  constructor(options: SqsJobQueueOptions<T>) {
    this.#client = options.client;
    this.queueUrl = options.queueUrl;
    this.fifo = options.queueUrl.endsWith('.fifo');
    this.#groupId = options.messageGroupId ?? ((job) => (GROUP_ID.test(job.id) ? job.id : sha256(job.id)));
    this.#maxMessageBytes = options.maxMessageBytes ?? 256 * KiB;
    this.#maxBatchBytes = Math.max(options.maxBatchBytes ?? 256 * KiB, this.#maxMessageBytes);
    this.#retryDelayMs = options.retryDelayMs ?? 200;
  }

  async send(jobs: readonly Job<T>[]): Promise<SendResult> {
    const failed: SendResult['failed'] = [];
    const ready: Prepared<T>[] = [];
    for (const job of jobs) {
      const prepared = this.#prepare(job);
      if (typeof prepared === 'string') failed.push({ id: job.id, reason: prepared });
      else ready.push(prepared);
    }

    const batches = chunk(ready, this.#maxBatchBytes);
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i] ?? [];
      const outcome = await this.#sendBatch(batch);
      if (outcome.stop !== undefined) {
        // The queue itself cannot be written to: the remaining batches would fail the same way.
        failed.push(...outcome.failed);
        const reason = `${outcome.stop} (not sent: an earlier batch failed the same way)`;
        for (const rest of batches.slice(i + 1)) for (const p of rest) failed.push({ id: p.job.id, reason });
        break;
      }
      failed.push(...outcome.failed);
    }
    return { failed };
  }

  /** The wire entry for a job, or why it cannot be sent. The entry Id is set when batching. */
  #prepare(job: Job<T>): Prepared<T> | string {
    let body: string | undefined;
    try {
      body = JSON.stringify(job.body);
    } catch (error) {
      return `body is not JSON-serialisable (${error instanceof Error ? error.name : 'error'})`;
    }
    if (body === undefined) return 'body is not JSON-serialisable (undefined or a function)';
    // JSON.stringify leaves U+FFFE/U+FFFF as they are, and SQS refuses them; inside JSON they can only
    // occur in strings, where the escaped form means the same.
    body = body.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

    const delay = job.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      return `delaySeconds must be an integer from 0 to ${MAX_DELAY_SECONDS}, got ${delay}`;
    }
    if (this.fifo && delay > 0) {
      return 'delaySeconds is not supported on a FIFO queue (SQS allows only a queue-wide delay there)';
    }

    const attributes: Record<string, MessageAttributeValue> = {
      [JOB_ID_ATTRIBUTE]: { DataType: 'String', StringValue: job.id },
    };
    const bytes =
      Buffer.byteLength(body, 'utf8') +
      JOB_ID_ATTRIBUTE.length +
      'String'.length +
      Buffer.byteLength(job.id, 'utf8');
    if (bytes > this.#maxMessageBytes) {
      return `message too large: ${bytes} bytes (body and attributes) over the ${this.#maxMessageBytes}-byte limit; store the payload elsewhere and send a reference`;
    }

    const entry: SendMessageBatchRequestEntry = {
      Id: '',
      MessageBody: body,
      MessageAttributes: attributes,
    };
    if (this.fifo) {
      entry.MessageDeduplicationId = sha256(job.id);
      entry.MessageGroupId = this.#groupId(job);
    } else if (delay > 0) {
      entry.DelaySeconds = delay;
    }
    return { job, entry, bytes };
  }

  async #sendBatch(batch: Prepared<T>[]): Promise<{ failed: SendResult['failed']; stop?: string }> {
    const first = await this.#call(batch);
    if (first.error !== undefined) {
      return {
        failed: batch.map((p) => ({ id: p.job.id, reason: first.error })),
        ...(first.permanent ? { stop: first.error } : {}),
      };
    }
    const failed: SendResult['failed'] = [];
    const retry: Prepared<T>[] = [];
    for (const [p, f] of first.failures) {
      if (f.SenderFault === false) retry.push(p);
      else failed.push({ id: p.job.id, reason: failureReason(f) });
    }
    if (retry.length === 0) return { failed };

    await sleep(this.#retryDelayMs);
    const second = await this.#call(retry);
    if (second.error !== undefined) {
      for (const p of retry) failed.push({ id: p.job.id, reason: second.error });
    } else {
      for (const [p, f] of second.failures) {
        failed.push({ id: p.job.id, reason: `${failureReason(f)} (after one retry)` });
      }
    }
    return { failed };
  }

  /** One SendMessageBatch call: the entries SQS refused, or the error of the whole call. */
  async #call(
    batch: Prepared<T>[],
  ): Promise<
    | { error?: undefined; failures: Array<[Prepared<T>, BatchResultErrorEntry]> }
    | { error: string; permanent: boolean }
  > {
    const byId = new Map<string, Prepared<T>>();
    const entries = batch.map((p, i) => {
      const Id = entryId(p.job.id, i);
      byId.set(Id, p);
      return { ...p.entry, Id };
    });
    try {
      const out = await this.#client.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
      );
      const failures: Array<[Prepared<T>, BatchResultErrorEntry]> = [];
      const answered = new Set<string>();
      for (const f of out.Failed ?? []) {
        const p = f.Id === undefined ? undefined : byId.get(f.Id);
        if (p === undefined) continue;
        answered.add(f.Id as string);
        failures.push([p, f]);
      }
      for (const s of out.Successful ?? []) if (s.Id !== undefined) answered.add(s.Id);
      // An entry in neither list was not acknowledged: treat it like a failure on SQS's side.
      for (const [Id, p] of byId) {
        if (!answered.has(Id)) {
          failures.push([
            p,
            { Id, SenderFault: false, Code: 'NotAcknowledged', Message: 'missing from the response' },
          ]);
        }
      }
      return { failures };
    } catch (error) {
      return { error: callError(error), permanent: isPermanent(error) };
    }
  }
}

/** `<position>_<job id with [^A-Za-z0-9_-] replaced>`, at most 80 characters: unique within a batch. */
export function entryId(jobId: string, position: number): string {
  const prefix = `${position}_`;
  return prefix + jobId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, ENTRY_ID_LENGTH - prefix.length);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Groups jobs into batches of at most 10 entries and `maxBytes` payload, keeping their order. */
function chunk<T>(items: Prepared<T>[], maxBytes: number): Prepared<T>[][] {
  const batches: Prepared<T>[][] = [];
  let current: Prepared<T>[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length === MAX_ENTRIES || bytes + item.bytes > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function failureReason(f: BatchResultErrorEntry): string {
  const side = f.SenderFault ? 'refused' : 'failed on the SQS side';
  return `SQS ${side}: ${f.Code ?? 'unknown'}${f.Message ? ` (${redactText(f.Message)})` : ''}`;
}

interface SdkErrorLike {
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function callError(error: unknown): string {
  const e = (error ?? {}) as SdkErrorLike;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? redactText(e.message) : '';
  const status = e.$metadata?.httpStatusCode;
  return `SendMessageBatch failed: ${name}${status === undefined ? '' : ` (HTTP ${String(status)})`}${message ? `: ${message}` : ''}`;
}

const TRANSIENT = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
  'KmsThrottled',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'TimeoutError',
]);

/** A client-side error that will not pass by itself (missing queue, access denied, bad parameter). */
function isPermanent(error: unknown): boolean {
  const e = (error ?? {}) as SdkErrorLike;
  if (e.$fault !== 'client' || e.$retryable !== undefined) return false;
  if (typeof e.name === 'string' && TRANSIENT.has(e.name)) return false;
  const status = e.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
}
