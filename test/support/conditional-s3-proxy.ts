// A thin HTTP proxy in front of fauxqs that ENFORCES S3 conditional writes.
//
// fauxqs 2.4.1 ignores `If-None-Match: *` and `If-Match` on writes (it answers 200 and overwrites),
// so a test of create-only or compare-and-swap writes run straight against it passes falsely (see
// test/integration/archive-store/emulator-gap.test.ts). Every test of those paths must send its S3
// traffic through this proxy.
//
// What it does, like S3:
// - PutObject / CopyObject (PUT on an object, no sub-resource) and CompleteMultipartUpload (POST
//   ?uploadId=) carrying `If-None-Match: *` answer 412 PreconditionFailed when the key exists;
//   carrying `If-Match: <etag>` answer 412 when the etag differs and 404 NoSuchKey when the key does
//   not exist (what S3 documents for If-Match on a missing object).
// - Writes (those above and DeleteObject) are serialised per key, from the upstream HEAD to the end of
//   the upstream response, so the check and the write are one atomic step as seen by other writers.
// - Everything else (reads, listings, UploadPart, SQS) is passed through unchanged and streamed.
// - `injectErrors` answers the next N object writes with a given S3 error, to test error handling
//   (409 ConditionalRequestConflict, 503 SlowDown) over real HTTP.
import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ConditionalS3Proxy {
  /** `http://127.0.0.1:PORT`: give this to the S3 client instead of the emulator's endpoint. */
  readonly endpoint: string;
  /** Counters, to prove the proxy actually saw (and refused) conditional writes. */
  readonly stats: ProxyStats;
  /** Answers the next `count` object writes (PUT/POST/DELETE on a key) with this S3 error. */
  injectErrors(count: number, status: number, code: string): void;
  stop(): Promise<void>;
}

export interface ProxyStats {
  conditionalWrites: number;
  refused: number;
  injected: number;
  /** Successful multipart calls seen: created - completed - aborted = uploads left open. */
  multipart: { created: number; completed: number; aborted: number };
}

interface Injection {
  remaining: number;
  status: number;
  code: string;
}

export async function startConditionalS3Proxy(upstream: string): Promise<ConditionalS3Proxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const locks = new Map<string, Promise<void>>();
  const stats: ProxyStats = {
    conditionalWrites: 0,
    refused: 0,
    injected: 0,
    multipart: { created: 0, completed: 0, aborted: 0 },
  };
  let injection: Injection | undefined;

  const forward = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    new Promise((resolve) => {
      const headers = { ...req.headers };
      delete headers.expect; // this server already answered 100-continue; stream the body straight on
      const upstreamReq = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        },
        (upstreamRes) => {
          const kind = multipartCall(req);
          if (kind && (upstreamRes.statusCode ?? 500) < 300) stats.multipart[kind] += 1;
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
          upstreamRes.once('end', resolve);
          upstreamRes.once('error', () => {
            res.destroy();
            resolve();
          });
        },
      );
      upstreamReq.once('error', (error) => {
        if (!res.headersSent) sendError(res, 502, 'ProxyUpstreamError', error.message);
        else res.destroy();
        resolve();
      });
      req.once('error', () => {
        upstreamReq.destroy();
        resolve();
      });
      // A client that gives up mid-body (an aborted upload) must abort the upstream request too.
      req.once('close', () => {
        if (!req.complete) upstreamReq.destroy();
      });
      req.pipe(upstreamReq);
    });

  const headUpstream = (path: string, headers: IncomingMessage['headers']): Promise<string | undefined> =>
    new Promise((resolve, reject) => {
      const head = request(
        {
          host: target.hostname,
          port: target.port,
          method: 'HEAD',
          path,
          agent,
          headers: { host: headers.host ?? target.host, authorization: headers.authorization ?? '' },
        },
        (res) => {
          res.resume();
          if (res.statusCode === 404) resolve(undefined);
          else if (res.statusCode === 200) resolve(String(res.headers.etag ?? ''));
          else reject(new Error(`HEAD ${path} answered ${res.statusCode}`));
        },
      );
      head.once('error', reject);
      head.end();
    });

  const handleWrite = async (
    req: IncomingMessage,
    res: ServerResponse,
    objectPath: string,
  ): Promise<void> => {
    if (injection && injection.remaining > 0) {
      injection.remaining -= 1;
      stats.injected += 1;
      req.resume();
      sendError(res, injection.status, injection.code, 'Injected by the conditional S3 proxy');
      return;
    }
    const ifNoneMatch = header(req, 'if-none-match');
    const ifMatch = header(req, 'if-match');
    const conditional = req.method !== 'DELETE' && (ifNoneMatch !== undefined || ifMatch !== undefined);
    if (!conditional) return forward(req, res);

    stats.conditionalWrites += 1;
    const current = await headUpstream(objectPath, req.headers);
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() === '*' && current !== undefined) {
      stats.refused += 1;
      req.resume();
      sendError(
        res,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        {
          Condition: 'If-None-Match',
        },
      );
      return;
    }
    if (ifMatch !== undefined) {
      if (current === undefined) {
        stats.refused += 1;
        req.resume();
        sendError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        return;
      }
      if (ifMatch.trim() !== '*' && unquote(ifMatch) !== unquote(current)) {
        stats.refused += 1;
        req.resume();
        sendError(
          res,
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
          {
            Condition: 'If-Match',
          },
        );
        return;
      }
    }
    return forward(req, res);
  };

  const server = createServer((req, res) => {
    const objectPath = objectWritePath(req);
    if (objectPath === undefined) {
      void forward(req, res);
      return;
    }
    // Per-key queue: each write waits for the previous one on the same key to finish.
    const previous = locks.get(objectPath) ?? Promise.resolve();
    const mine = previous.then(() =>
      handleWrite(req, res, objectPath).catch((error: unknown) => {
        req.resume();
        if (!res.headersSent) sendError(res, 502, 'ProxyError', String(error));
      }),
    );
    locks.set(objectPath, mine);
    void mine.finally(() => {
      if (locks.get(objectPath) === mine) locks.delete(objectPath);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    injectErrors: (count, status, code) => {
      injection = { remaining: count, status, code };
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/**
 * The path (`/bucket/key`, no query) when the request writes or deletes an object: PutObject and
 * CopyObject (PUT without a sub-resource; the SDK adds `x-id`), CompleteMultipartUpload (POST with
 * `uploadId`), DeleteObject. Otherwise undefined.
 */
function objectWritePath(req: IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const slash = url.pathname.indexOf('/', 1);
  if (slash < 0 || slash === url.pathname.length - 1) return undefined; // no key: a bucket request
  const params = [...url.searchParams.keys()].filter((k) => k !== 'x-id');
  if (req.method === 'PUT' && params.length === 0) return url.pathname;
  if (req.method === 'DELETE' && params.length === 0) return url.pathname;
  if (req.method === 'POST' && params.length === 1 && params[0] === 'uploadId') return url.pathname;
  return undefined;
}

function multipartCall(req: IncomingMessage): keyof ProxyStats['multipart'] | undefined {
  const params = new URL(req.url ?? '/', 'http://proxy').searchParams;
  if (req.method === 'POST' && params.has('uploads')) return 'created';
  if (req.method === 'POST' && params.has('uploadId')) return 'completed';
  if (req.method === 'DELETE' && params.has('uploadId')) return 'aborted';
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function unquote(etag: string): string {
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const requestId = randomUUID().replaceAll('-', '').slice(0, 16).toUpperCase();
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
    .join('');
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message>${fields}<RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(body);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
