// The Amigo API client: typed requests through openapi-fetch, one token for all calls, a rate
// budget per operation, retries with capped jittered backoff, responses validated against the spec.
import createClient from 'openapi-fetch';
import {
  type ConversationInstance,
  checkResponse,
  type InteractionInsights,
  type MessageInstance,
  type ModifyTagsRequest,
  type OperationId,
  type paths,
} from '../openapi/index.ts';
import {
  ALL_MESSAGE_TYPES,
  type AudioDownload,
  type ConversationQuery,
  type MessageQuery,
  type Page,
} from '../ports/amigo-api.ts';
import { type Clock, systemClock } from '../ports/clock.ts';
import type { RateBudget } from '../ports/rate-budget.ts';
import type { Log } from '../ports/telemetry.ts';
import { downloadSignedUrl, extractSignedUrl } from './audio.ts';
import { type IssuedToken, TokenCache } from './auth.ts';
import type { AmigoClientConfig } from './config.ts';
import {
  AmigoRequestError,
  AmigoUnavailableError,
  AuthenticationError,
  type CallFacts,
  ResponseValidationError,
  UnsendableRequestError,
} from './errors.ts';
import { rateFeedbackFrom, SlidingWindowRateBudget } from './rate-limit.ts';

export type { AudioDownload, ConversationQuery, MessageQuery, Page } from '../ports/amigo-api.ts';
export { ALL_MESSAGE_TYPES };

/** The client logs call facts at debug and give-ups at warn; never bodies, never the token. */
export type ClientLogger = Pick<Log, 'debug' | 'warn'>;

export interface AmigoClientDeps {
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default the system clock */
  readonly clock?: Clock;
  /** @default an in-process sliding-window budget at the configured limits */
  readonly rateBudget?: RateBudget;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
  readonly logger?: ClientLogger;
  /**
   * Reads the API key again when sign-in is refused: a rotated secret reaches a client that signed
   * in before the rotation (a warm Lambda). Sign-in is retried once with a key that changed.
   * Absent: a refused sign-in fails.
   */
  readonly reloadApiKey?: () => Promise<Pick<AmigoClientConfig, 'apiKey' | 'apiKeyId'>>;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

/**
 * Whether a call may be sent again when its outcome is unknown. `always`: reads and idempotent
 * writes. `unprocessed-only`: only when the server certainly did not act on it (429, 503, 408).
 */
type RetryPolicy = 'always' | 'unprocessed-only';

interface Attempt {
  readonly signal: AbortSignal;
  readonly headers: Record<string, string>;
}

interface RawResult {
  readonly data?: unknown;
  readonly error?: unknown;
  readonly response: Response;
}

interface CallSpec {
  readonly operationId: OperationId;
  readonly send: (attempt: Attempt) => Promise<RawResult>;
  readonly authenticated: boolean;
  readonly retry: RetryPolicy;
  readonly conversationId?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

const NOT_PROCESSED = new Set([408, 429, 503]);

class RetryableFailure extends Error {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status?: number, retryAfterMs?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The Amigo API client: one sign-in shared by every call, each operation kept to its rate limit,
 * transient failures retried, every response checked against the spec.
 *
 * @example
 * ```ts
 * import { AmigoClient, amigoConfigFromEnv } from './shared/amigo/index.ts';
 *
 * // AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and AMIGO_BASE_URL)
 * const amigo = new AmigoClient(amigoConfigFromEnv());
 * for await (const conversation of amigo.conversations({ is_finished: true })) {
 *   const messages = [];
 *   for await (const message of amigo.messages(conversation.id)) messages.push(message);
 *   console.log(conversation.id, messages.length);
 * }
 * await amigo.modifyTags(conversationId, { updates: { reviewed: 'yes' }, deletes: ['needs-review'] });
 * ```
 */
export class AmigoClient {
  readonly config: AmigoClientConfig;
  private readonly api: ReturnType<typeof createClient<paths>>;
  private readonly fetchImpl: typeof fetch;
  private readonly clock: Clock;
  private readonly budget: RateBudget;
  private readonly random: () => number;
  private readonly logger: ClientLogger | undefined;
  private readonly tokens: TokenCache;
  private readonly reloadApiKey: AmigoClientDeps['reloadApiKey'];
  /** The key sign-in sends: the config's until a reload replaced it. */
  private apiKey: Pick<AmigoClientConfig, 'apiKey' | 'apiKeyId'>;
  /** host[:port] of the base URL, for error messages: never credentials, path or query. */
  private readonly host: string;

  constructor(config: AmigoClientConfig, deps: AmigoClientDeps = {}) {
    this.config = config;
    this.fetchImpl = deps.fetch ?? globalThis.fetch;
    this.clock = deps.clock ?? systemClock;
    this.budget =
      deps.rateBudget ?? new SlidingWindowRateBudget({ limits: config.rateLimits, clock: this.clock });
    this.random = deps.random ?? Math.random;
    this.logger = deps.logger;
    this.reloadApiKey = deps.reloadApiKey;
    this.apiKey = { apiKey: config.apiKey, apiKeyId: config.apiKeyId };
    this.api = createClient<paths>({ baseUrl: config.baseUrl, fetch: (req) => this.fetchImpl(req) });
    this.tokens = new TokenCache(() => this.signIn(), this.clock, config.tokenRefreshSkewMs);
    this.host = hostOf(config.baseUrl);
  }

  private get org(): string {
    return this.config.organizationId;
  }

  /** Signs in now if no valid token is held (the first call does this anyway). */
  async warmUp(): Promise<void> {
    await this.tokens.token();
  }

  // ---- conversations and messages --------------------------------------------------------------

  /** Pages of conversations, following `continuation_token` exactly as the server hands it out. */
  async *conversationPages(
    query: ConversationQuery = {},
    options: CallOptions & { startToken?: number } = {},
  ): AsyncGenerator<Page<ConversationInstance>> {
    yield* this.paginate(
      'get-conversations',
      options.startToken ?? 0,
      async (token, attempt) => {
        const result = await this.api.GET('/v1/{organization}/conversation/', {
          params: { path: { organization: this.org }, query: { ...query, continuation_token: token } },
          parseAs: 'text',
          ...attempt,
        });
        return result;
      },
      (body: { conversations: ConversationInstance[] }) => body.conversations,
      options.signal,
    );
  }

  async *conversations(
    query: ConversationQuery = {},
    options: CallOptions = {},
  ): AsyncGenerator<ConversationInstance> {
    for await (const page of this.conversationPages(query, options)) yield* page.items;
  }

  async *messagePages(
    conversationId: string,
    query: MessageQuery = {},
    options: CallOptions & { startToken?: number } = {},
  ): AsyncGenerator<Page<MessageInstance>> {
    yield* this.paginate(
      'get-conversation-messages',
      options.startToken ?? 0,
      async (token, attempt) => {
        return this.api.GET('/v1/{organization}/conversation/{conversation_id}/messages/', {
          params: {
            path: { organization: this.org, conversation_id: conversationId },
            query: { ...query, continuation_token: token },
          },
          parseAs: 'text',
          ...attempt,
        });
      },
      (body: { messages: MessageInstance[] }) => body.messages,
      options.signal,
      conversationId,
    );
  }

  async *messages(
    conversationId: string,
    query: MessageQuery = {},
    options: CallOptions = {},
  ): AsyncGenerator<MessageInstance> {
    for await (const page of this.messagePages(conversationId, query, options)) yield* page.items;
  }

  async getInteractionInsights(
    conversationId: string,
    interactionId: string,
    options: CallOptions = {},
  ): Promise<InteractionInsights> {
    return this.call('get-interaction-insights', {
      conversationId,
      signal: options.signal,
      send: (attempt) =>
        this.api.GET(
          '/v1/{organization}/conversation/{conversation_id}/interaction/{interaction_id}/insights',
          {
            params: {
              path: {
                organization: this.org,
                conversation_id: conversationId,
                interaction_id: interactionId,
              },
            },
            parseAs: 'text',
            ...attempt,
          },
        ),
    }) as Promise<InteractionInsights>;
  }

  // ---- writes ----------------------------------------------------------------------------------

  /** Sets, overwrites (`updates`) and removes (`deletes`) tags. Idempotent, so retried like a read. */
  async modifyTags(
    conversationId: string,
    request: ModifyTagsRequest,
    options: CallOptions = {},
  ): Promise<void> {
    await this.call('modify-tags-of-conversation', {
      conversationId,
      signal: options.signal,
      send: (attempt) =>
        this.api.POST('/v1/{organization}/conversation/{conversation_id}/tags/', {
          params: { path: { organization: this.org, conversation_id: conversationId } },
          body: request,
          parseAs: 'text',
          ...attempt,
        }),
    });
  }

  /**
   * Asks Amigo to suggest what the user could answer. Not idempotent (each call generates anew and
   * spends model time), so it is retried only when the server certainly did not act: 429, 503, 408.
   * A 400 means the interaction is no longer the latest concluded one (or the conversation ended).
   */
  async recommendResponses(
    conversationId: string,
    interactionId: string,
    context?: string,
    options: CallOptions = {},
  ): Promise<string[]> {
    const body = (await this.call('recommend-responses-for-interaction', {
      conversationId,
      retry: 'unprocessed-only',
      signal: options.signal,
      send: (attempt) =>
        this.api.POST(
          '/v1/{organization}/conversation/{conversation_id}/interaction/{interaction_id}/recommend_responses',
          {
            params: {
              path: {
                organization: this.org,
                conversation_id: conversationId,
                interaction_id: interactionId,
              },
            },
            body: context === undefined ? undefined : { context },
            parseAs: 'text',
            ...attempt,
          },
        ),
    })) as { recommended_responses: string[] };
    return body.recommended_responses;
  }

  // ---- recordings ------------------------------------------------------------------------------

  /** The signed URL of a voice message's source. The spec leaves its shape open: a string or an object holding it. */
  async getMessageSourceUrl(
    conversationId: string,
    messageId: string,
    options: CallOptions & { longLived?: boolean } = {},
  ): Promise<string> {
    const body = await this.call('retrieve-message-source', {
      conversationId,
      signal: options.signal,
      send: (attempt) =>
        this.api.GET('/v1/{organization}/conversation/{conversation_id}/messages/{message_id}/source', {
          params: {
            path: { organization: this.org, conversation_id: conversationId, message_id: messageId },
            query: options.longLived ? { long_lived: true } : {},
          },
          parseAs: 'text',
          ...attempt,
        }),
    });
    const url = extractSignedUrl(body);
    if (!url) {
      throw new ResponseValidationError(
        { operationId: 'retrieve-message-source', attempts: 1, conversationId },
        [{ path: '', message: 'holds no http(s) URL (expected a URL string or an object with one)' }],
      );
    }
    return url;
  }

  /**
   * Streams a voice message's recording. Never buffers it whole; when the signed URL has expired
   * (403) a fresh one is fetched through the source endpoint, and a stream that breaks part-way
   * resumes where it stopped.
   */
  async downloadMessageSource(
    conversationId: string,
    messageId: string,
    options: CallOptions = {},
  ): Promise<AudioDownload> {
    return downloadSignedUrl({
      fetch: this.fetchImpl,
      freshUrl: () => this.getMessageSourceUrl(conversationId, messageId, options),
      maxResumes: this.config.maxDownloadResumes,
      timeoutMs: this.config.timeoutMs,
      backoff: (n) => this.backoffMs(n),
      clock: this.clock,
      conversationId,
      signal: options.signal,
      logger: this.logger,
    });
  }

  // ---- machinery -------------------------------------------------------------------------------

  private async signIn(): Promise<IssuedToken> {
    try {
      return await this.signInWith(this.apiKey);
    } catch (error) {
      if (!(error instanceof AuthenticationError) || !this.reloadApiKey) throw error;
      const fresh = await this.reloadApiKey();
      if (fresh.apiKey === this.apiKey.apiKey && fresh.apiKeyId === this.apiKey.apiKeyId) throw error;
      this.apiKey = { apiKey: fresh.apiKey, apiKeyId: fresh.apiKeyId };
      this.logger?.warn('Amigo refused the API key; signing in with the one now stored (rotated)');
      return this.signInWith(this.apiKey);
    }
  }

  private async signInWith(key: Pick<AmigoClientConfig, 'apiKey' | 'apiKeyId'>): Promise<IssuedToken> {
    const body = (await this.call('sign-in-with-api-key', {
      authenticated: false,
      send: (attempt) =>
        this.api.POST('/v1/{organization}/user/signin_with_api_key', {
          params: {
            path: { organization: this.org },
            header: {
              'x-api-key': key.apiKey,
              'x-api-key-id': key.apiKeyId,
              'x-user-id': this.config.userId,
            },
          },
          parseAs: 'text',
          ...attempt,
        }),
    })) as { id_token: string; expires_at: string };
    return { token: body.id_token, expiresAt: Date.parse(body.expires_at) };
  }

  private async *paginate<T, B>(
    operationId: OperationId,
    startToken: number,
    fetchPage: (token: number, attempt: Attempt) => Promise<RawResult>,
    itemsOf: (body: B) => T[],
    signal: AbortSignal | undefined,
    conversationId?: string,
  ): AsyncGenerator<Page<T>> {
    const seen = new Set<number>();
    let token: number | null = startToken;
    while (token !== null) {
      const requested: number = token;
      seen.add(requested);
      const body = (await this.call(operationId, {
        conversationId,
        signal,
        send: (attempt) => fetchPage(requested, attempt),
      })) as B & { has_more: boolean; continuation_token: number | null };
      const facts: CallFacts = { operationId, attempts: 1, conversationId };
      if (body.has_more && body.continuation_token === null) {
        throw new ResponseValidationError(facts, [
          { path: '/continuation_token', message: 'is null although has_more is true' },
        ]);
      }
      const next = body.has_more ? body.continuation_token : null;
      if (next !== null && seen.has(next)) {
        throw new ResponseValidationError(facts, [
          {
            path: '/continuation_token',
            message: `repeats an earlier token (${next}); paging would never end`,
          },
        ]);
      }
      yield { items: itemsOf(body), token: requested, nextToken: next };
      token = next;
    }
  }

  private backoffMs(failures: number): number {
    const ceiling = Math.min(this.config.retryMaxDelayMs, this.config.retryBaseDelayMs * 2 ** (failures - 1));
    return Math.round(this.random() * ceiling);
  }

  private async call(
    operationId: OperationId,
    spec: Omit<CallSpec, 'operationId' | 'authenticated' | 'retry'> &
      Partial<Pick<CallSpec, 'authenticated' | 'retry'>>,
  ): Promise<unknown> {
    const { send, conversationId, signal } = spec;
    const authenticated = spec.authenticated ?? true;
    const retry = spec.retry ?? 'always';
    let attempts = 0;
    let failures = 0;
    let throttled = 0;
    let reauthenticated = false;
    for (;;) {
      attempts++;
      const facts = (status?: number, detail?: string): CallFacts => ({
        operationId,
        attempts,
        status,
        conversationId,
        detail,
      });
      const token = authenticated ? await this.tokens.token() : undefined;
      const grantedAt = await this.budget.acquire(operationId, signal);
      const timeout = AbortSignal.timeout(this.config.timeoutMs);
      const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
      try {
        const result = await send({
          signal: attemptSignal,
          headers: token ? { Authorization: `Bearer ${token}` } : {},
        });
        const { response } = result;
        const now = this.clock.now();
        const feedback = { ...rateFeedbackFrom(response.status, response.headers, now), grantedAt };
        this.budget.observe(operationId, feedback);
        const status = response.status;
        if (response.ok) return this.parseBody(operationId, result.data, facts(status));
        if (status === 401 && authenticated && token && !reauthenticated) {
          reauthenticated = true;
          this.tokens.invalidate(token);
          this.logger?.debug('Amigo refused the token; signing in again', { operationId });
          continue;
        }
        if (status === 401) throw new AuthenticationError(facts(status, errorDetail(result.error)));
        if (status === 429 || status === 503 || status === 408 || status >= 500) {
          throw new RetryableFailure(`HTTP ${status}`, status, feedback.retryAfterMs);
        }
        throw new AmigoRequestError({ ...facts(status, errorDetail(result.error)), status });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const unsendable = unsendableReason(error);
        if (unsendable) {
          // Nothing left this machine: give the budget its turn back as a lost call, and stop.
          this.budget.observe(operationId, { status: 0, grantedAt, lost: true });
          throw new UnsendableRequestError(
            { operationId, attempts, conversationId, host: this.host, detail: unsendable.detail },
            unsendable.hint,
          );
        }
        if (isTransportError(error)) this.budget.observe(operationId, { status: 0, grantedAt, lost: true });
        if (!(error instanceof RetryableFailure) && !isTransportError(error)) throw error;
        const status = error instanceof RetryableFailure ? error.status : undefined;
        const throttle = status === 429;
        if (throttle) throttled++;
        else failures++;
        const allowed = retry === 'always' || (status !== undefined && NOT_PROCESSED.has(status));
        const exhausted = throttle
          ? throttled >= this.config.maxThrottledAttempts
          : failures >= this.config.maxAttempts;
        const cause = error instanceof RetryableFailure ? error.cause : error;
        const reason = describeFailure(error, timeout, this.host);
        if (!allowed || exhausted) {
          throw new AmigoUnavailableError(
            { ...facts(status, reason), ...(status === undefined ? { host: this.host } : {}) },
            cause,
            error instanceof RetryableFailure ? error.retryAfterMs : undefined,
          );
        }
        // A 429 has already blocked the budget until the server's Retry-After; other failures
        // back off here, never sooner than the server asked.
        const wait = throttle
          ? 0
          : Math.max(this.backoffMs(failures), (error as RetryableFailure).retryAfterMs ?? 0);
        this.logger?.warn('Amigo call failed; retrying', {
          operationId,
          status,
          host: this.host,
          attempt: attempts,
          reason,
          retryInMs: wait,
        });
        if (wait > 0) await this.clock.sleep(wait, signal);
      }
    }
  }

  private parseBody(operationId: OperationId, data: unknown, facts: CallFacts): unknown {
    if (data === undefined || data === '') {
      if (operationId === 'modify-tags-of-conversation') return undefined;
      throw new RetryableFailure('empty body', facts.status);
    }
    let body: unknown;
    try {
      body = JSON.parse(String(data));
    } catch (cause) {
      throw new RetryableFailure('the body is not valid JSON', facts.status, undefined, cause);
    }
    const check = checkResponse(operationId, body);
    if (!check.ok) throw new ResponseValidationError(facts, check.issues);
    return body;
  }
}

function errorDetail(error: unknown): string | undefined {
  if (error === undefined || error === null || error === '') return undefined;
  const detail = (error as { detail?: unknown }).detail ?? error;
  if (typeof detail === 'string') return detail.slice(0, 300);
  if (Array.isArray(detail)) {
    // FastAPI validation detail: keep where and what, never the rejected input value.
    return detail
      .slice(0, 5)
      .map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join('.')}: ${d.msg ?? 'invalid'}`)
      .join('; ');
  }
  return undefined;
}

/** host[:port] of a URL, without credentials, path or query; a placeholder when it is not a URL. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || '(no host)';
  } catch {
    return '(not a valid URL)';
  }
}

const BASE_URL_HINT =
  'Fix AMIGO_BASE_URL: an https URL like https://api-eu-central-1.amigo.ai (http only for localhost), without user name, password or query';

/**
 * Why a request could not be sent, when no retry can change it; undefined for anything else. These
 * are the errors fetch (undici) throws while building the request, plus a port the Fetch standard
 * forbids. Their own messages may quote the URL or the header value, so they are replaced here.
 */
function unsendableReason(error: unknown): { detail: string; hint: string } | undefined {
  if (!(error instanceof TypeError)) return undefined;
  const cause = error.cause as { message?: unknown; code?: unknown } | undefined;
  if (error.message === 'fetch failed') {
    if (cause?.message === 'bad port') {
      return {
        detail: 'its port is one the Fetch standard never connects to (a "bad port")',
        hint: `${BASE_URL_HINT}; use another port`,
      };
    }
    if (cause?.code === 'ERR_INVALID_URL')
      return { detail: 'the URL is not a valid URL', hint: BASE_URL_HINT };
    return undefined;
  }
  const text = error.message;
  if (/includes credentials/i.test(text)) {
    return { detail: 'the URL contains a user name or password', hint: BASE_URL_HINT };
  }
  if (cause?.code === 'ERR_INVALID_URL' || /Invalid URL|Failed to parse URL/i.test(text)) {
    return { detail: 'the URL is not a valid URL', hint: BASE_URL_HINT };
  }
  if (/header|ByteString/i.test(text)) {
    return {
      detail: 'a header value holds a character HTTP cannot carry',
      hint: 'Check AMIGO_API_KEY, AMIGO_API_KEY_ID and AMIGO_USER_ID for a line break or a stray character; copy them again',
    };
  }
  return undefined;
}

function isTransportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'TypeError' || // fetch failed (refused, reset, DNS), terminated (a cut body)
    error.name === 'TimeoutError' ||
    error.name === 'AbortError' ||
    error.name === 'SocketError' ||
    (error as { code?: string }).code === 'UND_ERR_SOCKET' ||
    (error as { code?: string }).code === 'ECONNRESET'
  );
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

function describeFailure(error: unknown, timeout: AbortSignal, host: string): string {
  if (timeout.aborted) return `no answer from ${host} in time (timed out)`;
  if (error instanceof RetryableFailure) return error.message;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  if (code) return `${code}${NETWORK_CODES[code] ? ` (${NETWORK_CODES[code]})` : ''} reaching ${host}`;
  return `${cause?.message ?? (error as Error).message} reaching ${host}`;
}
