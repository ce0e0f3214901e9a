// A faulting HTTP proxy in front of one AWS emulator (S3, SQS, DynamoDB or Secrets Manager), so
// the deployed handlers' own SDK clients meet the faults: their endpoint variables
// (AWS_ENDPOINT_URL_*) point here and nothing in production code knows. Each request is named by
// its API operation (S3: the SDK's `x-id` query or the REST shape; the JSON protocols: the
// `x-amz-target` header) and matched against scripted rules, in order:
//
// - `error`: answer with an AWS error (status, code) instead of forwarding: S3 in XML, the JSON
//   protocols in JSON, as each service answers. With `afterForward`, the request is forwarded
//   first and its answer replaced: the write happened, as when a twin won the race.
// - `reset`: destroy the connection without an answer.
// - `partial-batch` (SendMessageBatch): forward only the entries not named, and answer the named
//   ones as `Failed` (SenderFault false, as SQS does for its own trouble), so nothing reported as
//   failed was sent.
// - `delay`: forward after a pause.
//
// A rule fires on the matching requests after the first `skip`, `times` times (default: forever),
// with probability `rate` (seeded), and only before `untilMs` (epoch) when given. Every request and
// its answer's status is logged for the audit (bodies never are: they carry health data).
import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type AwsService = 's3' | 'sqs' | 'dynamodb' | 'secretsmanager';

export type FaultAction =
  /** With `afterForward`, the request reaches the emulator first: a race the client lost to a twin write. */
  | { kind: 'error'; status: number; code: string; message?: string; afterForward?: boolean }
  | { kind: 'reset' }
  | { kind: 'partial-batch'; failEntries: readonly number[] }
  | { kind: 'delay'; ms: number };

export interface FaultRule {
  /** The API operation, e.g. `UploadPart`, `SendMessageBatch`, `UpdateItem`, `GetSecretValue`. */
  operation: string;
  /** Only requests whose path (S3: `/bucket/key`) matches. */
  path?: RegExp;
  action: FaultAction;
  /** Matching requests let through before the rule starts firing. @default 0 */
  skip?: number;
  /** How many times it fires. @default unlimited */
  times?: number;
  /** Probability of firing per matching request. @default 1 */
  rate?: number;
  /** Epoch ms after which the rule no longer fires. */
  untilMs?: number;
}

export interface ProxiedCall {
  operation: string;
  path: string;
  /** The status answered to the client (0: connection reset). */
  status: number;
  /** Set when a rule answered instead of the emulator. */
  injected?: FaultAction['kind'];
  /** What the emulator answered a request forwarded before its injected error (`afterForward`). */
  landed?: number;
  at: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly service: AwsService;
  /** Every request seen, in arrival order. */
  readonly calls: ProxiedCall[];
  /** Adds rules; earlier rules are tried first. */
  script(...rules: FaultRule[]): void;
  /** Drops every rule. */
  clear(): void;
  /** How many times rules fired, per operation. */
  fired(operation?: string): number;
  stop(): Promise<void>;
}

interface LiveRule extends FaultRule {
  seen: number;
  firedCount: number;
}

export async function startFaultProxy(
  service: AwsService,
  upstream: string,
  options: { seed?: number } = {},
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const rules: LiveRule[] = [];
  const calls: ProxiedCall[] = [];
  let random = mulberry32(options.seed ?? 1);

  const choose = (operation: string, path: string): LiveRule | undefined => {
    for (const rule of rules) {
      if (rule.operation !== operation) continue;
      if (rule.path && !rule.path.test(path)) continue;
      if (rule.untilMs !== undefined && Date.now() >= rule.untilMs) continue;
      rule.seen += 1;
      if (rule.seen <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && rule.firedCount >= rule.times) continue;
      if (rule.rate !== undefined && random() >= rule.rate) continue;
      rule.firedCount += 1;
      return rule;
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, service, 502, 'FaultProxyError', String(error));
      else res.destroy();
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const operation = operationOf(service, req, url);
    const call: ProxiedCall = { operation, path: url.pathname, status: 0, at: Date.now() };
    calls.push(call);
    const rule = choose(operation, url.pathname);
    const action = rule?.action;
    if (action) call.injected = action.kind;
    if (action?.kind === 'error') {
      const body = await drain(req);
      if (action.afterForward) call.landed = (await forwardBuffered(req, body)).status;
      call.status = action.status;
      sendError(res, service, action.status, action.code, action.message ?? 'Injected by the fault proxy');
      return;
    }
    if (action?.kind === 'reset') {
      await drain(req);
      req.socket.destroy();
      return;
    }
    if (action?.kind === 'delay') await sleep(action.ms);
    if (action?.kind === 'partial-batch') {
      const body = JSON.parse((await drain(req)).toString('utf8')) as { Entries?: Array<{ Id: string }> };
      const entries = body.Entries ?? [];
      const failing = new Set(action.failEntries.map((i) => entries[i]?.Id).filter(Boolean));
      const sent = entries.filter((e) => !failing.has(e.Id));
      const upstreamAnswer =
        sent.length === 0
          ? { status: 200, body: '{}' }
          : await forwardBuffered(req, Buffer.from(JSON.stringify({ ...body, Entries: sent })));
      const answer = JSON.parse(upstreamAnswer.body || '{}') as {
        Successful?: unknown[];
        Failed?: unknown[];
      };
      const merged = {
        Successful: answer.Successful ?? [],
        Failed: [
          ...(answer.Failed ?? []),
          ...[...failing].map((Id) => ({
            Id,
            SenderFault: false,
            Code: 'InternalError',
            Message: 'Injected by the fault proxy',
          })),
        ],
      };
      call.status = upstreamAnswer.status;
      const text = JSON.stringify(merged);
      res.writeHead(upstreamAnswer.status, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': randomUUID(),
      });
      res.end(text);
      return;
    }
    await forwardStreaming(req, res, call);
  };

  const forwardStreaming = (req: IncomingMessage, res: ServerResponse, call: ProxiedCall): Promise<void> =>
    new Promise((resolve) => {
      const headers = { ...req.headers, host: target.host };
      delete headers.expect;
      const upstreamReq = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        (upstreamRes) => {
          call.status = upstreamRes.statusCode ?? 502;
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
        if (!res.headersSent) sendError(res, service, 502, 'FaultProxyUpstreamError', error.message);
        else res.destroy();
        resolve();
      });
      req.once('close', () => {
        if (!req.complete) upstreamReq.destroy();
      });
      req.pipe(upstreamReq);
    });

  const forwardBuffered = (req: IncomingMessage, body: Buffer): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      delete headers.expect;
      const upstreamReq = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        (upstreamRes) => {
          const chunks: Buffer[] = [];
          upstreamRes.on('data', (c: Buffer) => chunks.push(c));
          upstreamRes.once('end', () => {
            resolve({ status: upstreamRes.statusCode ?? 502, body: Buffer.concat(chunks).toString('utf8') });
          });
          upstreamRes.once('error', reject);
        },
      );
      upstreamReq.once('error', reject);
      upstreamReq.end(body);
    });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    service,
    calls,
    script: (...added) => {
      for (const rule of added) rules.push({ ...rule, seen: 0, firedCount: 0 });
    },
    clear: () => {
      rules.splice(0);
      random = mulberry32(options.seed ?? 1);
    },
    fired: (operation) =>
      calls.filter((c) => c.injected !== undefined && (operation === undefined || c.operation === operation))
        .length,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** The API operation a request calls. */
export function operationOf(service: AwsService, req: IncomingMessage, url: URL): string {
  if (service !== 's3') {
    const target = String(req.headers['x-amz-target'] ?? '');
    return target.slice(target.lastIndexOf('.') + 1) || `${req.method} ${url.pathname}`;
  }
  const xid = url.searchParams.get('x-id');
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (xid) return xid;
  const hasKey = url.pathname.indexOf('/', 1) > 0 && !url.pathname.endsWith('/');
  if (method === 'GET' && q.has('uploads')) return 'ListMultipartUploads';
  if (method === 'GET' && !hasKey) return 'ListObjectsV2';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'PUT') return req.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
  if (method === 'DELETE') return 'DeleteObject';
  return `${method} ${url.pathname}`;
}

function drain(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function sendError(
  res: ServerResponse,
  service: AwsService,
  status: number,
  code: string,
  message: string,
): void {
  const requestId = randomUUID();
  if (service === 's3') {
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
      `<Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`;
    res.writeHead(status, {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
      'x-amz-request-id': requestId,
    });
    res.end(body);
    return;
  }
  // The JSON protocols (SQS, DynamoDB, Secrets Manager) name the error in `__type`.
  const prefix = service === 'dynamodb' ? 'com.amazonaws.dynamodb.v20120810#' : '';
  const body = JSON.stringify({ __type: `${prefix}${code}`, message });
  res.writeHead(status, {
    'content-type':
      service === 'secretsmanager' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': code,
  });
  res.end(body);
}

/** A small seeded PRNG, so a rate-based fault fires on the same requests in every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
