// Tag stage: evaluates the rules over one archived conversation, plans the tag changes within
// Amigo's 20-tag limit, posts them (or nothing, when nothing would change) and records the whole
// decision in tags.json beside the archive. Idempotent: the same rules over the same archive post
// nothing the second time.
import { AmigoRequestError } from '../amigo/errors.ts';
import { readArchivedConversation } from '../archive/read.ts';
import {
  type DroppedTag,
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

export const MAX_TAGS = 20;

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
  /** Evaluate and record, but post nothing (`rules test`, dry runs). @default false */
  readonly dryRun?: boolean;
}

export interface TagPlan {
  /** Changes to send: only keys whose value differs from what the conversation holds. */
  readonly updates: Record<string, string | null>;
  readonly deletes: string[];
  /** Tags the rules asked for that would take the conversation past the limit. */
  readonly dropped: DroppedTag[];
  /** Tag count after the change. */
  readonly resultingCount: number;
}

export type TagOutcome = {
  readonly status: 'posted' | 'unchanged' | 'rejected' | 'dry-run';
  readonly record: TagsRecord;
  /** The changes planned (sent unless dry-run, rejected or empty). */
  readonly plan: TagPlan;
};

/**
 * Plans the change: sets only what differs, deletes only what exists, and keeps the result within
 * the limit by dropping the rules' later additions first (file order is priority). Deletes always
 * go through: they only make room.
 */
export function planTags(current: Record<string, string | null>, evaluation: Evaluation): TagPlan {
  const deletes = evaluation.deletes.filter((key) => Object.hasOwn(current, key));
  const afterDeletes = new Set(Object.keys(current).filter((k) => !deletes.includes(k)));
  const updates: Record<string, string | null> = {};
  const dropped: DroppedTag[] = [];
  let count = afterDeletes.size;
  // Rules earlier in the file come first when room runs out: order keys by the rule that set them.
  const ruleOf = new Map<string, number>();
  evaluation.results.forEach((result, index) => {
    if (result.matched) for (const key of Object.keys(result.set)) ruleOf.set(key, index);
  });
  const ordered = Object.entries(evaluation.updates).sort(
    ([a], [b]) => (ruleOf.get(a) ?? Number.MAX_SAFE_INTEGER) - (ruleOf.get(b) ?? Number.MAX_SAFE_INTEGER),
  );
  for (const [key, value] of ordered) {
    if (afterDeletes.has(key)) {
      if (current[key] !== value) updates[key] = value;
      continue;
    }
    if (count >= MAX_TAGS) {
      dropped.push({
        key,
        value,
        reason: `the conversation would hold more than ${MAX_TAGS} tags (Amigo's limit); rules earlier in the file keep their tags`,
      });
      continue;
    }
    updates[key] = value;
    count++;
  }
  return { updates, deletes, dropped, resultingCount: count };
}

async function currentTags(
  amigo: Pick<AmigoApi, 'conversationPages'>,
  id: string,
): Promise<Record<string, string | null> | undefined> {
  for await (const page of amigo.conversationPages({ id: [id], limit: 1 })) {
    return page.items[0] ? { ...page.items[0].tags } : undefined;
  }
  return undefined;
}

export async function applyTags(job: TagJob, deps: TagDeps): Promise<TagOutcome> {
  const prefix = conversationPrefix(job.organizationId, job.createdAt, job.conversationId);
  const archived = await readArchivedConversation(deps.store, prefix);
  const evaluation = evaluateRules(deps.rules, archived);

  // What the conversation holds: the archived tags, or where our last evaluation left them.
  const tagsKey = tagsKeyOf(job.organizationId, job.createdAt, job.conversationId);
  const previous = await readDocument(deps.store, tagsKey, TagsRecordSchema);
  let current: Record<string, string | null> = { ...(previous?.after ?? archived.conversation.tags) };
  let plan = planTags(current, evaluation);
  const changes = (p: TagPlan) => Object.keys(p.updates).length + p.deletes.length;

  let posted = false;
  let rejected: string | undefined;
  if (changes(plan) > 0 && !deps.dryRun) {
    try {
      await deps.amigo.modifyTags(job.conversationId, { updates: plan.updates, deletes: plan.deletes });
      posted = true;
    } catch (error) {
      if (!(error instanceof AmigoRequestError && error.status === 400)) throw error;
      // The conversation holds tags we did not know of (someone added them since the archive):
      // read what it holds now (one call) and plan once more within the limit.
      const live = await currentTags(deps.amigo, job.conversationId);
      if (live) {
        current = live;
        plan = planTags(current, evaluation);
        try {
          if (changes(plan) > 0) {
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
  };
  if (!deps.dryRun) {
    await deps.store.put(tagsKey, prettyJson(record), {
      contentType: 'application/json',
    });
  }
  const status = deps.dryRun ? 'dry-run' : rejected ? 'rejected' : posted ? 'posted' : 'unchanged';
  return { status, record, plan };
}
