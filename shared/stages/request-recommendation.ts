// Stall stage (the stall worker): asks Amigo for recommended responses for one stalled interaction,
// at most once, and records the answer at stalled/.../interaction=<id>.json.
//
// "At most once" against duplicate deliveries, concurrent workers, crashes and reruns: before the
// call, the stall record is CLAIMED with a create-only write (status `requested`). Whoever creates
// it is the only one who asks; everyone else finds it and asks nothing. The call's answer then
// replaces the claim (plain put: only the claimant writes the key after the claim exists).
// - Amigo answers: status `recommended` with the responses.
// - Amigo answers 400 (the user replied meanwhile, or the conversation finished): status
//   `rejected`, a normal outcome; the job succeeds and is never retried.
// - Amigo certainly did not act (408, 429, 503 after the client's own retries, or the sign-in
//   failed): the claim is released (deleted) and the error rethrown, so the job policy puts the
//   job back or dead-letters it and a later delivery or run may ask.
// - Amigo refused the call for another reason (403, 404, 422): status `failed`, rethrown (the job
//   is dead-lettered); the record keeps later runs from asking again. Delete it to retry.
// - Anything else (a 5xx, a reset connection, a timeout, a crash of this process): the outcome is
//   unknown, Amigo may have generated. The claim stays `requested` (with the error when this
//   process lives to write it) and the interaction is never asked again. This is by design: the
//   pipeline promises one request per interaction, so it prefers a lost recommendation to a
//   second one. The record says so, and an operator may delete it to have it asked again.
//
// The optional stall tag (`stall.tag`) is written after a recommendation, only when the job's
// listed tag keys show it fits under Amigo's 20-tag limit (otherwise, or when unknown, it is
// skipped and the record says why). Tag writes are idempotent: a delivery that finds a record
// whose tag is still `pending` (the first one failed after recording) finishes it.
import { AmigoRequestError, AmigoUnavailableError, AuthenticationError } from '../amigo/errors.ts';
import {
  prettyJson,
  STALL_RECORD_SCHEMA,
  STALL_RECORD_SCHEMA_VERSION,
  type StallRecord,
  StallRecordSchema,
  type StallTagOutcome,
} from '../archive-format/documents.ts';
import { stallKey } from '../archive-format/keys.ts';
import { InvalidDocumentError, readDocument } from '../archive-format/read-document.ts';
import type { TagSpec } from '../config/pipeline-config.ts';
import { AmigoQaError, redactText } from '../errors.ts';
import type { ConversationId, InteractionId, RunId } from '../ids.ts';
import type { LastAgentMessage } from '../jobs/stall.ts';
import type { AmigoApi } from '../ports/amigo-api.ts';
import { type ArchiveStore, PreconditionFailedError } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';

/** Amigo's limit on tags per conversation. */
export const MAX_CONVERSATION_TAGS = 20;

export interface StallJob {
  readonly runId: RunId | null;
  readonly organizationId: string;
  readonly conversationId: ConversationId;
  readonly interactionId: InteractionId;
  readonly conversationCreatedAt: string;
  readonly serviceId: string;
  readonly lastAgentMessage: LastAgentMessage;
  readonly numMessages: number;
  /** The conversation's tag keys when listed; null or absent: unknown (the tag is then skipped). */
  readonly tagKeys?: readonly string[] | null;
}

export interface RequestRecommendationDeps {
  readonly amigo: Pick<AmigoApi, 'recommendResponses' | 'modifyTags'>;
  readonly store: ArchiveStore;
  readonly clock: Clock;
  /** Service id -> context text (`stall.contexts`); a service not listed gets the API's default. */
  readonly contexts: Readonly<Record<string, string>>;
  /** Tag written on the conversation after a recommendation (`stall.tag`); null: none. */
  readonly tag: TagSpec | null;
  readonly signal?: AbortSignal;
}

export type RecommendationOutcome =
  | { readonly status: 'recommended' | 'rejected'; readonly key: string; readonly record: StallRecord }
  | {
      /** Another delivery (or an earlier run) claimed the interaction: no call was made. */
      readonly status: 'already-requested';
      readonly key: string;
      /** The existing record, when readable. */
      readonly record: StallRecord | undefined;
    };

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof AmigoQaError) return { code: error.name, message: error.message };
  if (error instanceof Error) return { code: error.name, message: redactText(error.message) };
  return { code: 'Unknown', message: 'non-error thrown' };
}

/** Errors after which Amigo certainly did not generate anything. */
function certainlyNotProcessed(error: unknown): boolean {
  if (error instanceof AuthenticationError) return true;
  // A failure of another call (the sign-in before it) means the recommend request was never sent.
  const operationId = error instanceof AmigoQaError ? error.context.operationId : undefined;
  if (typeof operationId === 'string' && operationId !== 'recommend-responses-for-interaction') return true;
  return (
    error instanceof AmigoUnavailableError &&
    (error.status === 408 || error.status === 429 || error.status === 503)
  );
}

async function put(store: ArchiveStore, key: string, record: StallRecord, createOnly = false) {
  await store.put(key, prettyJson(record), {
    contentType: 'application/json',
    ...(createOnly ? { ifNoneMatch: '*' as const } : {}),
  });
}

/** Whether the tag can be written without taking the conversation past the limit. */
function planTag(tag: TagSpec, tagKeys: readonly string[] | null | undefined): StallTagOutcome {
  const base = { key: tag.key, value: tag.value };
  if (tagKeys === null || tagKeys === undefined) {
    return {
      ...base,
      status: 'skipped',
      reason: "the conversation's tag count is unknown, and a tag past Amigo's limit of 20 would be refused",
    };
  }
  if (!tagKeys.includes(tag.key) && tagKeys.length >= MAX_CONVERSATION_TAGS) {
    return {
      ...base,
      status: 'skipped',
      reason: `the conversation already holds ${tagKeys.length} tags (Amigo's limit is ${MAX_CONVERSATION_TAGS})`,
    };
  }
  return { ...base, status: 'pending' };
}

/** Writes a pending tag and records the result. A refusal (4xx) is recorded; other errors rethrow. */
async function applyTag(
  record: StallRecord,
  key: string,
  deps: RequestRecommendationDeps,
): Promise<StallRecord> {
  const tag = record.tag;
  if (tag?.status !== 'pending') return record;
  let outcome: StallTagOutcome;
  try {
    await deps.amigo.modifyTags(
      record.conversation_id,
      { updates: { [tag.key]: tag.value }, deletes: [] },
      { signal: deps.signal },
    );
    outcome = { key: tag.key, value: tag.value, status: 'applied' };
  } catch (error) {
    if (!(error instanceof AmigoRequestError)) throw error; // the record stays pending: a redelivery retries
    outcome = { key: tag.key, value: tag.value, status: 'rejected', reason: error.message };
  }
  const updated: StallRecord = { ...record, tag: outcome };
  await put(deps.store, key, updated);
  return updated;
}

async function readRecord(store: ArchiveStore, key: string): Promise<StallRecord | undefined> {
  try {
    return await readDocument(store, key, StallRecordSchema);
  } catch (error) {
    // Someone else's record, unreadable: it still stands for the claim, so nothing is asked.
    if (error instanceof InvalidDocumentError) return undefined;
    throw error;
  }
}

export async function requestRecommendation(
  job: StallJob,
  deps: RequestRecommendationDeps,
): Promise<RecommendationOutcome> {
  const { store, clock } = deps;
  const key = stallKey(job.organizationId, job.conversationCreatedAt, job.conversationId, job.interactionId);
  const context = deps.contexts[job.serviceId];
  const claim: StallRecord = {
    schema: STALL_RECORD_SCHEMA,
    schema_version: STALL_RECORD_SCHEMA_VERSION,
    status: 'requested',
    organization_id: job.organizationId,
    conversation_id: job.conversationId,
    interaction_id: job.interactionId,
    service_id: job.serviceId,
    conversation_created_at: job.conversationCreatedAt,
    run_id: job.runId,
    requested_at: iso(clock.now()),
    answered_at: null,
    context: context ?? null,
    recommended_responses: [],
    last_agent_message: job.lastAgentMessage,
    num_messages: job.numMessages,
  };

  // 1. Claim: create-only. Losing it means someone else asks (or asked): no call here.
  try {
    await put(store, key, claim, true);
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    let existing = await readRecord(store, key);
    if (existing?.status === 'recommended' && existing.tag?.status === 'pending') {
      existing = await applyTag(existing, key, deps);
    }
    return { status: 'already-requested', key, record: existing };
  }

  // 2. Ask, once.
  let responses: string[];
  try {
    responses = await deps.amigo.recommendResponses(job.conversationId, job.interactionId, context, {
      signal: deps.signal,
    });
  } catch (error) {
    const answeredAt = iso(clock.now());
    if (error instanceof AmigoRequestError && error.status === 400) {
      const record: StallRecord = {
        ...claim,
        status: 'rejected',
        answered_at: answeredAt,
        rejection: { status: 400, detail: error.message },
      };
      await put(store, key, record);
      return { status: 'rejected', key, record };
    }
    if (certainlyNotProcessed(error)) {
      // Nothing was generated: free the interaction for the put-back job or the next run.
      await store.delete(key).catch(() => undefined);
      throw error;
    }
    if (error instanceof AmigoRequestError) {
      await put(store, key, {
        ...claim,
        status: 'failed',
        answered_at: answeredAt,
        rejection: { status: error.status, detail: error.message },
      }).catch(() => undefined);
      throw error;
    }
    // Unknown outcome: keep the claim (never asked again); note why, if the store lets us.
    await put(store, key, { ...claim, error: describe(error) }).catch(() => undefined);
    throw error;
  }

  // 3. Record the answer, then the optional tag.
  let record: StallRecord = {
    ...claim,
    status: 'recommended',
    answered_at: iso(clock.now()),
    recommended_responses: responses,
    ...(deps.tag ? { tag: planTag(deps.tag, job.tagKeys) } : {}),
  };
  await put(store, key, record);
  record = await applyTag(record, key, deps);
  return { status: 'recommended', key, record };
}
