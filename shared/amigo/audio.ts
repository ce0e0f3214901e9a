// Voice recordings: the signed URL from retrieve-message-source, and a streaming download that
// survives an expired URL (403: ask for a fresh one) and a connection that breaks part-way (resume
// with a Range request from the last byte received). Memory stays at one chunk whatever the size.
import { Readable } from 'node:stream';
import { streamGcPacer } from '../gc-pacer.ts';
import type { AudioDownload } from '../ports/amigo-api.ts';
import type { Clock } from '../ports/clock.ts';
import type { Log } from '../ports/telemetry.ts';
import { AmigoRequestError, DownloadError } from './errors.ts';

const URL_KEYS = [
  'url',
  'signed_url',
  'source_url',
  'presigned_url',
  'download_url',
  'source',
  'href',
  'link',
];

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Finds the signed URL in a source answer: a plain URL string, or an object holding one. */
export function extractSignedUrl(body: unknown, depth = 0): string | undefined {
  if (isHttpUrl(body)) return body;
  if (body === null || typeof body !== 'object' || depth > 3) return undefined;
  const record = body as Record<string, unknown>;
  for (const key of URL_KEYS) {
    const found = extractSignedUrl(record[key], depth + 1);
    if (found) return found;
  }
  for (const value of Object.values(record)) {
    const found = extractSignedUrl(value, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** host[:port] of a signed URL: never its path or query (the signature). */
function storageHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(not a valid URL)';
  }
}

function networkCode(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}

class IdleTimeout {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  private readonly ms: number;
  readonly signal: AbortSignal;

  constructor(ms: number, outer: AbortSignal | undefined) {
    this.ms = ms;
    this.signal = outer ? AbortSignal.any([outer, this.controller.signal]) : this.controller.signal;
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    const timer = setTimeout(() => this.controller.abort(new Error(`no data for ${this.ms} ms`)), this.ms);
    timer.unref();
    return timer;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = this.arm();
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

export interface DownloadOptions {
  readonly fetch: typeof fetch;
  readonly freshUrl: () => Promise<string>;
  readonly maxResumes: number;
  readonly timeoutMs: number;
  readonly backoff: (failures: number) => number;
  readonly clock: Clock;
  readonly conversationId: string;
  readonly signal: AbortSignal | undefined;
  readonly logger: Pick<Log, 'debug' | 'warn'> | undefined;
}

interface Opened {
  response: Response;
  /** Bytes at the start of this body that were already delivered (the server ignored Range). */
  skip: number;
}

export async function downloadSignedUrl(options: DownloadOptions): Promise<AudioDownload> {
  const { conversationId } = options;
  let url = await options.freshUrl();
  let failures = 0;
  let received = 0;
  let total: number | undefined;

  const fail = (status: number | undefined, detail: string, cause?: unknown): never => {
    throw new DownloadError(
      {
        operationId: 'download',
        attempts: failures + 1,
        status,
        conversationId,
        detail,
        host: storageHost(url),
      },
      cause,
    );
  };

  // Aborts an attempt that receives nothing for timeoutMs (headers or body): a stalled connection
  // is treated like a broken one and resumed.
  let attempt: IdleTimeout | undefined;
  const open = async (): Promise<Opened> => {
    for (;;) {
      let response: Response;
      try {
        attempt?.clear();
        attempt = new IdleTimeout(options.timeoutMs, options.signal);
        response = await options.fetch(url, {
          headers: received > 0 ? { Range: `bytes=${received}-` } : {},
          signal: attempt.signal,
        });
      } catch (cause) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (++failures > options.maxResumes) {
          fail(
            undefined,
            `the storage at ${storageHost(url)} could not be reached${networkCode(cause)}`,
            cause,
          );
        }
        await options.clock.sleep(options.backoff(failures), options.signal);
        continue;
      }
      if (response.status === 200 || response.status === 206) {
        const skip = response.status === 206 ? 0 : received;
        if (response.status === 206) {
          const start = Number(/bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1]);
          if (start !== received) fail(206, `resumed at byte ${start}, expected ${received}`);
        }
        const length = Number(response.headers.get('content-length'));
        if (total === undefined && Number.isFinite(length) && response.headers.has('content-length')) {
          total = response.status === 206 ? received + length : length;
        }
        return { response, skip };
      }
      await response.body?.cancel();
      if (response.status === 403 || response.status === 401) {
        // Signed URLs expire: ask Amigo for a fresh one (this costs a retrieve-message-source call).
        if (++failures > options.maxResumes) fail(response.status, 'the signed URL kept being refused');
        options.logger?.debug('Signed URL refused; fetching a fresh one', { conversationId });
        url = await options.freshUrl();
        continue;
      }
      if (response.status === 404) {
        throw new AmigoRequestError({
          operationId: 'download',
          attempts: failures + 1,
          status: 404,
          conversationId,
        });
      }
      if (response.status === 416 && total !== undefined && received >= total) {
        return { response: new Response(new Uint8Array(0)), skip: 0 };
      }
      if (++failures > options.maxResumes) fail(response.status, 'the storage kept failing');
      await options.clock.sleep(options.backoff(failures), options.signal);
    }
  };

  let current = await open();
  const contentType = current.response.headers.get('content-type') ?? 'application/octet-stream';

  async function* bytes(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const body = current.response.body;
      let skip = current.skip;
      try {
        if (body) {
          for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
            let part = chunk;
            if (skip > 0) {
              const drop = Math.min(skip, part.byteLength);
              skip -= drop;
              part = part.subarray(drop);
              if (part.byteLength === 0) continue;
            }
            received += part.byteLength;
            streamGcPacer.count(part.byteLength);
            attempt?.touch();
            yield part;
          }
        }
        if (total === undefined || received === total) {
          attempt?.clear();
          return;
        }
        if (received > total) fail(current.response.status, `received ${received} bytes of ${total}`);
        throw new Error(`the body ended after ${received} of ${total} bytes`);
      } catch (error) {
        attempt?.clear();
        if (error instanceof DownloadError || options.signal?.aborted) throw error;
        if (++failures > options.maxResumes) fail(undefined, 'the recording stream kept breaking', error);
        options.logger?.warn('Recording stream broke; resuming', { conversationId, receivedBytes: received });
        await options.clock.sleep(options.backoff(failures), options.signal);
        current = await open();
      }
    }
  }

  return {
    contentType,
    get contentLength() {
      return total;
    },
    stream: Readable.from(bytes(), { objectMode: false, highWaterMark: 1 << 16 }),
  };
}
