// Tag stage: evaluates the rules over one archived conversation, plans the tag changes
// (shared/stages/tag-plan.ts: only tags amigo-qa owns are changed or removed, within Amigo's 20-tag
// limit), posts them (or nothing, when nothing would change) and records the whole decision, with
// what amigo-qa now owns, in tags.json beside the archive. Idempotent: the same rules over the same
// archive post nothing the second time.
import { AmigoRequestError } from '../amigo/errors.ts';
import { type ArchivedConversationRecord, readArchivedConversation } from '../archive/read.ts';
import {
  type OwnedTags,
  prettyJson,
  type TagsRecord,
  TagsRecordSchema,
} from '../archive-format/documents.ts';
import { conversationPrefix, tagsKey as tagsKeyOf } from '../archive-format/keys.ts';
import { readDocument } from '../archive-format/read-document.ts';
import type { ConversationId, RunId } from '../ids.ts';
import type { AmigoApi } from '../ports/amigo-api.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import type { Clock } from '../ports/clock.ts';
import { type Evaluation, evaluateRules, type RuleSet } from '../rules/index.ts';
import { readLiveTags } from './live-tags.ts';
import {
  changeCount,
  MAX_TAGS,
  ownedFromRecord,
  ownedStillHeld,
  planTags,
  type TagPlan,
  type Tags,
} from './tag-plan.ts';

export { MAX_TAGS, planTags, type TagPlan };

export interface TagJob {
  readonly runId: RunId | null;
  readonly organizationId: string;
  readonly conversationId: ConversationId;
  readonly createdAt: string;
}

export interface TagDeps {
  readonly amigo: Pick<AmigoApi, 'modifyTags' | 'conversationPages'>;
  readonly store: ArchiveStore;
  readonly rules: RuleSet;
  readonly clock: Clock;
  /** Evaluate and plan, but post nothing and write no tags.json (`rules apply --dry-run`). @default false */
  readonly dryRun?: boolean;
  /**
   * The tags the conversation holds in Amigo now (`rules apply --live`): planned from these instead
   * of the previous tags.json, so that a tag a person deleted or changed is seen.
   */
  readonly liveTags?: Tags | undefined;
}

export type TagOutcome = {
  readonly status: 'posted' | 'unchanged' | 'rejected' | 'dry-run';
  readonly record: TagsRecord;
  /** The changes planned (sent unless dry-run, rejected or empty). */
  readonly plan: TagPlan;
};

/** Everything a plan is made from, read from the archive (and `liveTags` when given). */
export interface TagGround {
  readonly archived: ArchivedConversationRecord;
  readonly evaluation: Evaluation;
  /** The previous tags.json, if any. */
  readonly previous: TagsRecord | undefined;
  /** The tags the conversation holds as far as amigo-qa knows. */
  readonly current: Tags;
  /** What amigo-qa owns on it (before this evaluation). */
  readonly owned: OwnedTags;
  readonly plannedFrom: 'archive' | 'record' | 'live';
  readonly tagsKey: string;
}

/**
 * Reads what one conversation's plan starts from: its archive evaluated against the rules, and the
 * tags it holds: `liveTags` when given, else where the previous tags.json left them, else the
 * archived tags. Reads the archive only.
 */
export async function tagGround(
  job: Pick<TagJob, 'organizationId' | 'conversationId' | 'createdAt'>,
  deps: Pick<TagDeps, 'store' | 'rules' | 'liveTags'>,
): Promise<TagGround> {
  const prefix = conversationPrefix(job.organizationId, job.createdAt, job.conversationId);
  const archived = await readArchivedConversation(deps.store, prefix);
  const evaluation = evaluateRules(deps.rules, archived);
  const tagsKey = tagsKeyOf(job.organizationId, job.createdAt, job.conversationId);
  const previous = await readDocument(deps.store, tagsKey, TagsRecordSchema);
  const archivedTags: Tags = { ...archived.conversation.tags };
  const plannedFrom = deps.liveTags ? 'live' : previous ? 'record' : 'archive';
  const current: Tags = { ...(deps.liveTags ?? previous?.after ?? archivedTags) };
  const owned = ownedFromRecord(previous, archivedTags);
  return { archived, evaluation, previous, current, owned, plannedFrom, tagsKey };
}

export async function applyTags(job: TagJob, deps: TagDeps): Promise<TagOutcome> {
  const ground = await tagGround(job, deps);
  const { evaluation } = ground;
  let { current, plannedFrom } = ground;
  let owned = ownedStillHeld(ground.owned, current);
  let plan = planTags(current, evaluation, owned);

  let posted = false;
  let rejected: string | undefined;
  if (changeCount(plan) > 0 && !deps.dryRun) {
    try {
      await deps.amigo.modifyTags(job.conversationId, { updates: plan.updates, deletes: plan.deletes });
      posted = true;
    } catch (error) {
      if (!(error instanceof AmigoRequestError && error.status === 400)) throw error;
      // The conversation holds tags we did not know of (someone added them since we last looked):
      // read what it holds now (one call), keep only the ownership that still holds, and plan once
      // more within the limit. A second refusal is recorded; the next `rules apply` tries again.
      const live = (await readLiveTags(deps.amigo, [job.conversationId])).tags.get(job.conversationId);
      if (live) {
        current = live;
        plannedFrom = 'live';
        owned = ownedStillHeld(owned, current);
        plan = planTags(current, evaluation, owned);
        try {
          if (changeCount(plan) > 0) {
            await deps.amigo.modifyTags(job.conversationId, { updates: plan.updates, deletes: plan.deletes });
            posted = true;
          }
        } catch (again) {
          if (!(again instanceof AmigoRequestError && again.status === 400)) throw again;
          rejected = again.message;
        }
      } else rejected = error.message;
    }
  }
  const after = { ...current };
  if (posted) {
    Object.assign(after, plan.updates);
    for (const key of plan.deletes) delete after[key];
  }
  // Nothing sent and nothing to send: the plan's ownership holds too (it renames the winning rules).
  const settled = posted || (changeCount(plan) === 0 && !rejected);
  const record: TagsRecord = {
    schema_version: 1,
    conversation_id: job.conversationId,
    evaluated_at: new Date(deps.clock.now()).toISOString(),
    rules_source: deps.rules.source,
    run_id: job.runId,
    before: current,
    after,
    applied: posted ? { updates: plan.updates, deletes: plan.deletes } : { updates: {}, deletes: [] },
    dropped: plan.dropped,
    posted,
    ...(rejected ? { rejected } : {}),
    results: evaluation.results,
    owned: settled ? plan.owned : owned,
    planned_from: plannedFrom,
  };
  if (!deps.dryRun) {
    await deps.store.put(ground.tagsKey, prettyJson(record), {
      contentType: 'application/json',
    });
  }
  const status = deps.dryRun ? 'dry-run' : rejected ? 'rejected' : posted ? 'posted' : 'unchanged';
  return { status, record, plan };
}
