// The seven operations, answering from the dataset at the current sim time plus the live tag state.
// A handler never mutates state directly: it returns a `commit` that the server runs only for a real
// (not dry-run) request, so faults that fake a response leave no trace.
import type {
  ConversationInstance,
  MessageInstance,
  ModifyTagsRequest,
  OperationId,
  RecommendRequest,
} from '../shared/openapi/index.ts';
import type { ConversationHeader, SimMessage } from './dataset.ts';
import type { ValidationIssue } from './params.ts';
import { hash32 } from './prng.ts';
import type { SimState, Tags } from './state.ts';
import type { SimCredential } from './types.ts';

export interface OpContext {
  state: SimState;
  params: Record<string, unknown>;
  body: unknown;
  /** Base URL the client reached us at, for signed URLs. */
  baseUrl: string;
  nowMs: number;
  userId: string;
}

export interface OpResult {
  status: number;
  /** JSON body; undefined for an empty body. */
  body?: unknown;
  headers?: Record<string, string>;
  commit?: () => void;
}

export const MAX_TAGS = 20;

export function detail(status: number, message: string): OpResult {
  return { status, body: { detail: message } };
}

export function validationError(issues: ValidationIssue[]): OpResult {
  return { status: 422, body: { detail: issues } };
}

/** Continuation tokens are opaque integers: offset * 7 + 3 (0 is the start, as the spec's default). */
export function encodeToken(offset: number): number {
  return offset * 7 + 3;
}

export function decodeToken(token: number): number | undefined {
  if (token === 0) return 0;
  if (token < 3 || (token - 3) % 7 !== 0) return undefined;
  return (token - 3) / 7;
}

/**
 * Simulated permission filtering: some pages come back shorter than `limit`. The length depends only on
 * the list, the offset and the limit, and the next token continues after the last item returned, so no
 * item is ever skipped.
 */
export function pageLength(seed: number, list: string, offset: number, limit: number): number {
  if (limit < 3) return limit;
  const h = hash32(seed, 'page', list, offset, limit);
  if (h % 10 >= 3) return limit;
  return Math.max(1, limit - 1 - ((h >>> 8) % Math.max(1, Math.floor(limit / 3))));
}

function paginate<T>(
  state: SimState,
  list: string,
  items: T[],
  limit: number,
  token: number,
): { page: T[]; has_more: boolean; continuation_token: number | null } | ValidationIssue {
  const offset = decodeToken(token);
  if (offset === undefined) {
    return {
      type: 'value_error',
      loc: ['query', 'continuation_token'],
      msg: 'Value error, invalid continuation token',
      input: token,
    };
  }
  const page = items.slice(offset, offset + pageLength(state.options.seed, list, offset, limit));
  const next = offset + page.length;
  const hasMore = next < items.length;
  return { page, has_more: hasMore, continuation_token: hasMore ? encodeToken(next) : null };
}

function sortIssues(fields: string[], allowed: string[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  fields.forEach((field, i) => {
    if (!allowed.includes(field.replace(/^[+-]/, ''))) {
      issues.push({
        type: 'value_error',
        loc: ['query', 'sort_by', i],
        msg: `Value error, unsupported sort field; supported: ${allowed.join(', ')}`,
        input: field,
      });
    }
  });
  return issues;
}

export function signIn(
  state: SimState,
  params: Record<string, unknown>,
): { ok: true; credential: SimCredential } | { ok: false; result: OpResult } {
  const key = params['x-api-key'];
  const keyId = params['x-api-key-id'];
  const user = params['x-user-id'];
  const credential = state.options.credentials.find((c) => c.apiKey === key && c.apiKeyId === keyId);
  if (!credential) return { ok: false, result: detail(401, 'API key not found or incorrect.') };
  if (credential.userId !== user)
    return { ok: false, result: detail(401, 'The requested user is not found.') };
  return { ok: true, credential };
}

export function issueToken(ctx: OpContext): OpResult {
  const { state } = ctx;
  const { token, claims } = state.signer.issueToken(
    state.options.organizationId,
    ctx.userId,
    ctx.nowMs,
    state.options.tokenTtlMs,
  );
  return {
    status: 200,
    body: { id_token: token, expires_at: new Date(claims.exp).toISOString() },
    commit: () => {
      state.stats.tokensIssued++;
    },
  };
}

function matchesTag(tags: Tags, filter: string): boolean {
  const colon = filter.indexOf(':');
  const key = filter.slice(0, colon);
  const value = filter.slice(colon + 1);
  if (!Object.hasOwn(tags, key)) return false;
  if (value === '*') return true;
  if (value === '') return tags[key] === null;
  return tags[key] === value;
}

function getConversations(ctx: OpContext): OpResult {
  const { state, params, nowMs } = ctx;
  const { dataset } = state;
  const sortBy = (params.sort_by as string[]).length ? (params.sort_by as string[]) : ['-created_at'];
  const tagFilters = params.tag as string[];
  const issues = sortIssues(sortBy, ['created_at']);
  tagFilters.forEach((t, i) => {
    if (!t.includes(':')) {
      issues.push({
        type: 'value_error',
        loc: ['query', 'tag', i],
        msg: 'Value error, tags must be given as key:value',
        input: t,
      });
    }
  });
  if (issues.length) return validationError(issues);
  const isFinished = params.is_finished as boolean | null;
  const ids = new Set(params.id as string[]);
  const services = new Set(params.service_id as string[]);
  const users = new Set(params.user_id as string[]);
  const ordered = sortBy[0]?.startsWith('-') ? dataset.headers : [...dataset.headers].reverse();
  const filtered = ordered.filter(
    (h) =>
      // A conversation does not exist before it is created (arrivals datasets create them as time goes).
      h.createdMs <= nowMs &&
      (isFinished === null || dataset.isFinished(h, nowMs) === isFinished) &&
      (ids.size === 0 || ids.has(h.id)) &&
      (services.size === 0 || services.has(h.service.id)) &&
      (users.size === 0 || users.has(h.userId)) &&
      (tagFilters.length === 0 || tagFilters.some((t) => matchesTag(state.tagsOf(h), t))),
  );
  const paged = paginate(
    state,
    'conversations',
    filtered,
    params.limit as number,
    params.continuation_token as number,
  );
  if (!('page' in paged)) return validationError([paged]);
  const conversations: ConversationInstance[] = paged.page.map((h) =>
    dataset.instance(h, nowMs, state.tagsOf(h)),
  );
  return {
    status: 200,
    body: { conversations, has_more: paged.has_more, continuation_token: paged.continuation_token },
  };
}

function conversationOr404(ctx: OpContext): ConversationHeader | OpResult {
  const h = ctx.state.dataset.header(ctx.params.conversation_id as string);
  return h ?? detail(404, 'Specified organization or conversation is not found.');
}

function isResult(value: unknown): value is OpResult {
  return typeof value === 'object' && value !== null && 'status' in value;
}

type Comparator = (a: SimMessage, b: SimMessage) => number;

function messageComparator(fields: string[]): Comparator {
  const parts: Comparator[] = fields.map((field) => {
    const sign = field.startsWith('-') ? -1 : 1;
    const name = field.replace(/^[+-]/, '');
    if (name === 'interaction_id') {
      return (a, b) => sign * compareStrings(a.instance.interaction_id, b.instance.interaction_id);
    }
    return (a, b) => sign * (a.createdMs - b.createdMs);
  });
  const first = fields[0]?.startsWith('-') ? -1 : 1;
  parts.push((a, b) => first * (a.createdMs - b.createdMs));
  parts.push((a, b) => first * compareStrings(a.instance.id, b.instance.id));
  return (a, b) => {
    for (const p of parts) {
      const r = p(a, b);
      if (r !== 0) return r;
    }
    return 0;
  };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function getMessages(ctx: OpContext): OpResult {
  const { state, params, nowMs } = ctx;
  const h = conversationOr404(ctx);
  if (isResult(h)) return h;
  const sortBy = (params.sort_by as string[]).length ? (params.sort_by as string[]) : ['-created_at'];
  const issues = sortIssues(sortBy, ['created_at', 'interaction_id']);
  if (issues.length) return validationError(issues);
  const types = new Set(params.message_type as string[]);
  const ids = new Set(params.id as string[]);
  const interactions = new Set(params.interaction_id as string[]);
  const selected = state.dataset
    .visibleMessages(h, nowMs)
    .filter(
      (m) =>
        types.has(m.instance.message_type) &&
        (ids.size === 0 || ids.has(m.instance.id)) &&
        (interactions.size === 0 || interactions.has(m.instance.interaction_id)),
    )
    .sort(messageComparator(sortBy));
  const paged = paginate(
    state,
    `messages:${h.id}`,
    selected,
    params.limit as number,
    params.continuation_token as number,
  );
  if (!('page' in paged)) return validationError([paged]);
  const messages: MessageInstance[] = paged.page.map((m) => ({ ...m.instance }));
  return {
    status: 200,
    body: { messages, has_more: paged.has_more, continuation_token: paged.continuation_token },
  };
}

export const RECORDINGS_PREFIX = '/recordings/';

function retrieveMessageSource(ctx: OpContext): OpResult {
  const { state, params, nowMs } = ctx;
  const h = conversationOr404(ctx);
  if (isResult(h)) return h;
  const message = state.dataset.body(h).messageById.get(params.message_id as string);
  if (!message || message.createdMs > nowMs)
    return detail(404, 'Specified organization or message is not found.');
  if (message.instance.format === 'text' || message.audioBytes === undefined) {
    return detail(400, 'The message is a text message.');
  }
  const ttl = params.long_lived === true ? state.options.longLivedUrlTtlMs : state.options.signedUrlTtlMs;
  const expires = Math.ceil((nowMs + ttl) / 1000);
  const signature = state.signer.signAudio(h.id, message.instance.id, expires);
  const url = `${ctx.baseUrl}${RECORDINGS_PREFIX}${h.id}/${message.instance.id}.wav?expires=${expires}&signature=${signature}`;
  const asObject = (hash32(state.options.seed, 'url-shape', message.instance.id) & 1) === 1;
  return { status: 200, body: asObject ? { url } : url };
}

function getInsights(ctx: OpContext): OpResult {
  const { state, params, nowMs } = ctx;
  const h = conversationOr404(ctx);
  if (isResult(h)) return h;
  const insights = state.dataset.insights(h, params.interaction_id as string, nowMs);
  if (!insights) return detail(404, 'Specified organization, conversation, or interaction is not found.');
  return { status: 200, body: insights };
}

function modifyTags(ctx: OpContext): OpResult {
  const { state } = ctx;
  const h = conversationOr404(ctx);
  if (isResult(h)) return h;
  const request = (ctx.body ?? {}) as ModifyTagsRequest;
  const next: Tags = { ...state.tagsOf(h) };
  for (const [key, value] of Object.entries(request.updates ?? {})) next[key] = value ?? null;
  for (const key of request.deletes ?? []) delete next[key];
  if (Object.keys(next).length > MAX_TAGS) {
    return detail(400, `The conversation cannot contain more than ${MAX_TAGS} tags.`);
  }
  return {
    status: 204,
    commit: () => {
      state.liveTags.set(h.id, next);
    },
  };
}

function recommend(ctx: OpContext): OpResult {
  const { state, params, nowMs } = ctx;
  const h = conversationOr404(ctx);
  if (isResult(h)) return h;
  const { dataset } = state;
  const interactionId = params.interaction_id as string;
  const interaction = dataset.visibleInteraction(h, interactionId, nowMs);
  if (!interaction) return detail(404, 'Specified organization or conversation is not found.');
  if (dataset.isFinished(h, nowMs)) return detail(400, 'The conversation is finished.');
  const latest = dataset.latestInteraction(h, nowMs);
  if (latest?.id !== interaction.id || !dataset.isCompleted(h, interaction, nowMs)) {
    return detail(
      400,
      "The supplied interaction ID doesn't correspond to the latest, completed interaction.",
    );
  }
  const context = (ctx.body as RecommendRequest | undefined)?.context ?? '';
  return {
    status: 200,
    body: { recommended_responses: dataset.recommendations(h, interaction, context) },
  };
}

export const handlers: Record<Exclude<OperationId, 'sign-in-with-api-key'>, (ctx: OpContext) => OpResult> = {
  'get-conversations': getConversations,
  'get-conversation-messages': getMessages,
  'retrieve-message-source': retrieveMessageSource,
  'get-interaction-insights': getInsights,
  'modify-tags-of-conversation': modifyTags,
  'recommend-responses-for-interaction': recommend,
};

export const WRITE_OPERATIONS = new Set<OperationId>([
  'modify-tags-of-conversation',
  'recommend-responses-for-interaction',
]);
