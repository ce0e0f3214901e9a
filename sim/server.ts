// The HTTP side: routing, the per-request pipeline (faults, organization, authentication, rate limit,
// validation, handler), signed audio downloads and the `/__sim/` control endpoints.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkResponse, type OperationId } from '../shared/openapi/index.ts';
import { readAuthorization } from './auth.ts';
import type { ActiveFault, FaultPlan } from './faults.ts';
import {
  detail,
  handlers,
  issueToken,
  type OpContext,
  type OpResult,
  RECORDINGS_PREFIX,
  signIn,
  validationError,
  WRITE_OPERATIONS,
} from './handlers.ts';
import { matchRoute, type ParsedParameters, parseBody, parseParameters, type Route } from './params.ts';
import { hash32 } from './prng.ts';
import type { RateDecision } from './rate-limiter.ts';
import type { SimState } from './state.ts';
import type { FaultConfig, ScriptedFault } from './types.ts';
import { contentRange, parseRange, WAV_CONTENT_TYPE, type WavSource, wavChunks } from './wav.ts';

const MAX_BODY_BYTES = 1024 * 1024;
const MALFORMED_PAGE =
  '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n';

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  const text =
    body === undefined
      ? ''
      : typeof body === 'string' && headers['content-type']
        ? body
        : JSON.stringify(body);
  const all: Record<string, string | number> = { ...headers, 'content-length': Buffer.byteLength(text) };
  if (text && !headers['content-type']) all['content-type'] = 'application/json';
  res.writeHead(status, all);
  res.end(text);
}

interface Execution {
  result: OpResult;
  userId: string | undefined;
  params: Record<string, unknown>;
  /** Set once the request passed authentication and the rate limit (what counts as a write attempt). */
  admitted: boolean;
  rate: RateDecision | undefined;
}

export class SimServer {
  readonly state: SimState;
  readonly server: Server;
  url = '';

  constructor(state: SimState) {
    this.state = state;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed)
          send(res, 500, { detail: `Simulator error: ${String(error)}` });
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  async listen(): Promise<string> {
    const { host, port } = this.state.options;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `http://${shownHost}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private baseUrl(req: IncomingMessage): string {
    return req.headers.host ? `http://${req.headers.host}` : this.url;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    if (url.pathname === '/__sim' || url.pathname.startsWith('/__sim/'))
      return this.handleControl(req, res, url);
    if (url.pathname.startsWith(RECORDINGS_PREFIX)) return this.handleAudio(req, res, url);
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    if (match.kind === 'none') return send(res, 404, { detail: 'Not Found' });
    if (match.kind === 'method-not-allowed') {
      return send(res, 405, { detail: 'Method Not Allowed' }, { allow: match.allow.join(', ') });
    }
    let bodyText: string;
    try {
      bodyText = await readBody(req);
    } catch (error) {
      if (error instanceof BodyTooLarge) return send(res, 413, { detail: 'Request body too large' });
      throw error;
    }
    const { route, pathParams } = match;
    const op = route.operationId;
    const plan = this.state.faults.decide(op, this.state.now());
    if (plan.delayMs > 0) await sleep(plan.delayMs);
    if (plan.fault)
      return this.applyFault(req, res, op, plan, plan.fault, () =>
        this.execute(route, pathParams, url, req, bodyText, true),
      );
    const exec = this.execute(route, pathParams, url, req, bodyText, false);
    const { result } = exec;
    result.commit?.();
    const nowMs = this.state.now();
    if (exec.admitted && WRITE_OPERATIONS.has(op)) {
      this.state.recordWrite({
        operationId: op,
        conversationId: pathParams.conversation_id ?? '',
        ...(pathParams.interaction_id ? { interactionId: pathParams.interaction_id } : {}),
        body: safeJson(bodyText),
        status: result.status,
        at: nowMs,
      });
    }
    const headers = { ...(result.headers ?? {}), ...this.rateHeaders(op, exec, nowMs) };
    send(res, result.status, result.body, headers);
    if (
      result.status >= 200 &&
      result.status < 300 &&
      result.body !== undefined &&
      this.state.options.validateResponses
    ) {
      const check = checkResponse(op, result.body);
      if (!check.ok)
        this.state.stats.violations.push({ operationId: op, status: result.status, issues: check.issues });
    }
    this.state.record({
      operationId: op,
      status: result.status,
      at: nowMs,
      ...(exec.userId ? { userId: exec.userId } : {}),
      ...(plan.label ? { fault: plan.label } : {}),
    });
  }

  private rateHeaders(op: OperationId, exec: Execution, nowMs: number): Record<string, string> {
    if (!this.state.options.rateLimitsEnabled) return {};
    const { limit, windowMs } = this.state.options.limits[op];
    const decision =
      exec.rate ??
      (exec.userId
        ? this.state.limiter.peek(`${exec.userId}|${op}`, limit, windowMs, nowMs)
        : { allowed: true, limit, remaining: limit, resetMs: nowMs, retryAfterMs: 0 });
    // The reset is stated on the client's wall clock, whatever the sim clock says.
    const resetEpochMs = Date.now() + (decision.resetMs - nowMs);
    return {
      'x-ratelimit-limit': String(decision.limit),
      'x-ratelimit-remaining': String(decision.remaining),
      'x-ratelimit-reset': String(Math.ceil(resetEpochMs / 1000)),
    };
  }

  /** Runs the pipeline. With `dryRun` nothing is consumed or committed (used to fake faulty responses). */
  private execute(
    route: Route,
    pathParams: Record<string, string>,
    url: URL,
    req: IncomingMessage,
    bodyText: string,
    dryRun: boolean,
  ): Execution {
    const { state } = this;
    const op = route.operationId;
    const nowMs = state.now();
    const exec: Execution = {
      result: { status: 500 },
      userId: undefined,
      params: {},
      admitted: false,
      rate: undefined,
    };
    const done = (result: OpResult): Execution => ({ ...exec, result });
    if (pathParams.organization !== state.options.organizationId) {
      return done(detail(404, 'Specified organization is not found.'));
    }
    let parsed: ParsedParameters | undefined;
    if (op === 'sign-in-with-api-key') {
      parsed = parseParameters(route, pathParams, url.searchParams, req.headers);
      if (parsed.issues.length) return done(validationError(parsed.issues));
      const userHeader = parsed.values['x-user-id'];
      exec.userId = typeof userHeader === 'string' ? userHeader : undefined;
      const auth = signIn(state, parsed.values);
      if (!auth.ok) return done(auth.result);
      exec.userId = auth.credential.userId;
    } else {
      const auth = this.authenticate(req.headers.authorization, nowMs);
      if (!auth.ok) return done(auth.result);
      exec.userId = auth.userId;
    }
    const userId = exec.userId as string;
    if (state.options.rateLimitsEnabled) {
      const { limit, windowMs } = state.options.limits[op];
      exec.rate = state.limiter.check(`${userId}|${op}`, limit, windowMs, nowMs, !dryRun);
      if (!exec.rate.allowed) {
        const result = detail(
          429,
          `The user has exceeded the rate limit of ${limit} requests per ${windowMs} ms for this endpoint.`,
        );
        result.headers = { 'retry-after': String(Math.max(1, Math.ceil(exec.rate.retryAfterMs / 1000))) };
        return done(result);
      }
    }
    exec.admitted = true;
    parsed ??= parseParameters(route, pathParams, url.searchParams, req.headers);
    if (parsed.issues.length) return done(validationError(parsed.issues));
    exec.params = parsed.values;
    let body: unknown;
    if (route.requestSchema) {
      const parsedBody = parseBody(route, bodyText);
      if (!parsedBody.ok) return done(validationError(parsedBody.issues));
      body = parsedBody.value;
    }
    const ctx: OpContext = { state, params: parsed.values, body, baseUrl: this.baseUrl(req), nowMs, userId };
    return done(op === 'sign-in-with-api-key' ? issueToken(ctx) : handlers[op](ctx));
  }

  private authenticate(
    header: string | undefined,
    nowMs: number,
  ): { ok: true; userId: string } | { ok: false; result: OpResult } {
    const fail = (message: string): { ok: false; result: OpResult } => ({
      ok: false,
      result: { ...detail(401, message), headers: { 'www-authenticate': 'Bearer' } },
    });
    const credentials = readAuthorization(header);
    if (credentials.kind === 'none') return fail('Missing authorization credentials.');
    if (credentials.kind === 'malformed') return fail('Invalid authorization credentials.');
    const verified = this.state.signer.verifyToken(credentials.token, nowMs);
    if (!verified.ok)
      return fail(
        verified.reason === 'Token has expired' ? 'Token has expired.' : 'Invalid authorization credentials.',
      );
    const { claims } = verified;
    if (claims.org !== this.state.options.organizationId) return fail('Invalid authorization credentials.');
    if (credentials.kind === 'basic' && credentials.username !== `${claims.org}_${claims.sub}`) {
      return fail('Invalid authorization credentials.');
    }
    return { ok: true, userId: claims.sub };
  }

  private applyFault(
    req: IncomingMessage,
    res: ServerResponse,
    target: OperationId | 'audio',
    plan: FaultPlan,
    fault: ActiveFault,
    dryRun: () => Execution,
  ): void {
    const at = this.state.now();
    let status: number;
    switch (fault.kind) {
      case 'status': {
        status = fault.status;
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) {
          // An HTTP date is on the client's wall clock (like X-RateLimit-Reset), whatever the sim clock says.
          headers['retry-after'] =
            fault.retryAfterAs === 'http-date'
              ? new Date(Date.now() + fault.retryAfterSeconds * 1000).toUTCString()
              : String(fault.retryAfterSeconds);
        }
        const message =
          plan.label === 'maintenance'
            ? 'The service is going through temporary maintenance.'
            : `Simulated fault: HTTP ${status}`;
        send(res, status, { detail: message }, headers);
        break;
      }
      case 'reset':
        status = 0;
        req.socket.destroy();
        break;
      case 'malformed':
        status = 200;
        send(res, 200, MALFORMED_PAGE, { 'content-type': 'text/html; charset=utf-8' });
        break;
      default: {
        // truncate (audio-fail never reaches an API operation)
        status = 200;
        const exec = dryRun();
        const text = JSON.stringify(exec.result.body ?? { detail: 'ok' });
        send(res, 200, text.slice(0, Math.floor(text.length / 2)), { 'content-type': 'application/json' });
        break;
      }
    }
    this.state.record({ operationId: target, status, at, ...(plan.label ? { fault: plan.label } : {}) });
  }

  private async handleAudio(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { state } = this;
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { detail: 'Method Not Allowed' }, { allow: 'GET, HEAD' });
    const plan = state.faults.decide('audio', state.now());
    if (plan.delayMs > 0) await sleep(plan.delayMs);
    const at = state.now();
    const record = (status: number): void =>
      state.record({ operationId: 'audio', status, at, ...(plan.label ? { fault: plan.label } : {}) });
    let failAfter: number | undefined;
    let failFraction: number | undefined;
    let expireUrl = false;
    if (plan.fault) {
      const f = plan.fault;
      if (f.kind === 'audio-fail') {
        failAfter = f.afterBytes;
        failFraction = f.fraction;
        expireUrl = f.expireUrl === true;
      } else if (f.kind === 'truncate') {
        failFraction = 0.5;
      } else {
        return this.applyFault(req, res, 'audio', plan, f, () => {
          throw new Error('unreachable');
        });
      }
    }
    const match = /^\/recordings\/([a-f0-9]{24})\/([a-f0-9]{24})\.wav$/.exec(url.pathname);
    const expires = Number(url.searchParams.get('expires'));
    const signature = url.searchParams.get('signature') ?? '';
    if (
      !match ||
      !Number.isInteger(expires) ||
      !state.signer.verifyAudio(match[1] as string, match[2] as string, expires, signature)
    ) {
      send(res, 403, { detail: 'Invalid signature.' });
      return record(403);
    }
    if (at > expires * 1000 || state.expiredUrls.has(signature)) {
      send(res, 403, { detail: 'Request has expired.' });
      return record(403);
    }
    const header = state.dataset.header(match[1] as string);
    const message = header ? state.dataset.body(header).messageById.get(match[2] as string) : undefined;
    if (!message || message.audioBytes === undefined) {
      send(res, 404, { detail: 'Not Found' });
      return record(404);
    }
    const source: WavSource = {
      totalBytes: message.audioBytes,
      seed: hash32(state.options.seed, 'audio', message.instance.id),
    };
    const total = source.totalBytes;
    const range = parseRange(req.headers.range, total);
    if (range.kind === 'unsatisfiable') {
      send(res, 416, undefined, { 'content-range': `bytes */${total}` });
      return record(416);
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end + 1 : total;
    const status = range.kind === 'partial' ? 206 : 200;
    res.writeHead(status, {
      'content-type': WAV_CONTENT_TYPE,
      'content-length': end - start,
      'accept-ranges': 'bytes',
      etag: `"${message.instance.id}-${total}"`,
      ...(range.kind === 'partial' ? { 'content-range': contentRange(start, end - 1, total) } : {}),
    });
    record(status);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const failing = failAfter !== undefined || failFraction !== undefined;
    // The URL expires while its download runs: resuming with it is refused, a fresh one works.
    if (expireUrl) state.expiredUrls.add(signature);
    const cut = failAfter ?? Math.floor((end - start) * (failFraction ?? 1));
    await pump(res, source, start, failing ? Math.min(end, start + cut) : end, failing);
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { state } = this;
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    let body: unknown;
    if (method === 'POST' || method === 'PUT') {
      const text = await readBody(req).catch(() => '');
      try {
        body = text.trim() ? JSON.parse(text) : undefined;
      } catch {
        return send(res, 400, { detail: 'Body is not JSON' });
      }
    }
    const route = `${method} ${path}`;
    if (route === 'GET /__sim/stats') return send(res, 200, structuredClone(state.stats));
    if (route === 'POST /__sim/stats/reset') {
      state.resetStats();
      return send(res, 204, undefined);
    }
    if (route === 'GET /__sim/clock') {
      return send(res, 200, {
        now: new Date(state.now()).toISOString(),
        startedAt: new Date(state.clock.startMs).toISOString(),
        offsetMs: state.clock.offset(),
      });
    }
    if (route === 'POST /__sim/clock') {
      const advanceMs = (body as { advanceMs?: unknown } | undefined)?.advanceMs;
      if (typeof advanceMs !== 'number' || !Number.isFinite(advanceMs) || advanceMs < 0) {
        return send(res, 400, { detail: 'Expected {"advanceMs": <non-negative number>}' });
      }
      state.clock.advance(advanceMs);
      return send(res, 200, { now: new Date(state.now()).toISOString(), offsetMs: state.clock.offset() });
    }
    if (route === 'PUT /__sim/faults') {
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        return send(res, 400, { detail: 'Expected a FaultConfig object' });
      state.faults.setConfig(body as FaultConfig);
      return send(res, 204, undefined);
    }
    if (route === 'POST /__sim/faults/queue') {
      const list = Array.isArray(body) ? body : body && typeof body === 'object' ? [body] : undefined;
      if (
        !list?.every((f) => f && typeof f === 'object' && typeof (f as { kind?: unknown }).kind === 'string')
      ) {
        return send(res, 400, { detail: 'Expected a ScriptedFault or an array of them' });
      }
      state.faults.enqueue(list as ScriptedFault[]);
      return send(res, 204, undefined);
    }
    if (route === 'GET /__sim/conversations') {
      const now = state.now();
      return send(
        res,
        200,
        state.dataset.headers.map((h) => ({
          id: h.id,
          scenario: h.kind,
          format: h.format,
          is_finished: state.dataset.isFinished(h, now),
          created_at: new Date(h.createdMs).toISOString(),
        })),
      );
    }
    const one = /^GET \/__sim\/conversations\/([^/]+)$/.exec(route);
    if (one) {
      const h = state.dataset.header(one[1] as string);
      if (!h) return send(res, 404, { detail: 'Unknown conversation' });
      const now = state.now();
      const visible = state.dataset.visibleMessages(h, now);
      const body = state.dataset.body(h);
      return send(res, 200, {
        scenario: h.kind,
        format: h.format,
        conversation: state.dataset.instance(h, now, state.tagsOf(h)),
        messages: visible.map((m) => m.instance),
        interactions: body.interactions
          .filter((i) => state.dataset.visibleInteraction(h, i.id, now))
          .map((i) => ({ id: i.id, completed: state.dataset.isCompleted(h, i, now) })),
        finishes_at: h.finishMs === undefined ? null : new Date(h.finishMs).toISOString(),
        analyzed_at: h.analyzedMs === undefined ? null : new Date(h.analyzedMs).toISOString(),
      });
    }
    return send(res, 404, { detail: 'Unknown simulator control endpoint' });
  }
}

function safeJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Streams bytes [start, end) with back-pressure; when `fail`, kills the connection after the last byte. */
async function pump(
  res: ServerResponse,
  source: WavSource,
  start: number,
  end: number,
  fail: boolean,
): Promise<void> {
  const chunks = wavChunks(source, start, end);
  let current = chunks.next();
  while (!current.done) {
    if (res.destroyed) return;
    const chunk = current.value;
    current = chunks.next();
    if (current.done && fail) {
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      res.destroy();
      return;
    }
    if (!res.write(chunk)) await waitForDrain(res);
  }
  if (fail) {
    res.destroy();
    return;
  }
  res.end();
}
