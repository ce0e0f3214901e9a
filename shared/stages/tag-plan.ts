// The tag plan: what one evaluation of the rules changes on a conversation, given the tags it holds
// and the tags amigo-qa owns there. Pure; shared by the tag stage (which posts it) and `rules test`
// (which only shows it). The policy is stated in docs/rules.md ("Tags amigo-qa owns", "The 20-tag
// limit"):
// - only keys amigo-qa owns (it set them, and they still hold the value it set) are overwritten or
//   removed because no current rule sets them; a key someone else holds is left alone, even when a
//   rule sets it (recorded as dropped, cause `not-owned`);
// - a rule's explicit `remove` names the key in the reviewed rules file, so it deletes whoever set it;
// - deletes go first (they only make room), then new keys in rule order until the limit: rules
//   earlier in the file keep their tags.
import type { DroppedTag, OwnedTags, TagsRecord } from '../archive-format/documents.ts';
import type { Evaluation } from '../rules/index.ts';

export const MAX_TAGS = 20;

export type Tags = Record<string, string | null>;

/** What a plan does to the conversation, key by key, each with the rule it is due to. */
export interface TagDiff {
  readonly added: Array<{ key: string; value: string | null; rule: string }>;
  readonly changed: Array<{ key: string; from: string | null; to: string | null; rule: string }>;
  /** `rule-removes`: a matched rule's `remove`; `no-rule-sets`: amigo-qa's tag that no current rule sets. */
  readonly removed: Array<{
    key: string;
    value: string | null;
    rule: string;
    why: 'rule-removes' | 'no-rule-sets';
  }>;
  /** New keys the 20-tag limit left out. */
  readonly dropped: Array<{ key: string; value: string | null; rule: string }>;
  /** Keys a rule sets that hold someone else's value: never overwritten. */
  readonly leftAlone: Array<{ key: string; held: string | null; wanted: string | null; rule: string }>;
}

export interface TagPlan {
  /** Changes to send: only keys whose value differs from what the conversation holds. */
  readonly updates: Record<string, string | null>;
  readonly deletes: string[];
  /** Tags the rules asked for and did not get: the limit, or a key amigo-qa does not own. */
  readonly dropped: DroppedTag[];
  /** Tag count after the change. */
  readonly resultingCount: number;
  readonly diff: TagDiff;
  /** What amigo-qa owns once the plan is applied. */
  readonly owned: OwnedTags;
}

/** The changes a plan sends (0: nothing to post). */
export function changeCount(plan: Pick<TagPlan, 'updates' | 'deletes'>): number {
  return Object.keys(plan.updates).length + plan.deletes.length;
}

/**
 * What amigo-qa owns according to the previous tags.json. A record written before ownership has no
 * `owned`: a key counts as ours when the record's own post sent it, or when the rule that won it
 * set exactly the value held and the archived conversation did not already hold that value (then a
 * person had set it, and amigo-qa never had to).
 */
export function ownedFromRecord(previous: TagsRecord | undefined, archivedTags: Tags): OwnedTags {
  if (!previous) return {};
  if (previous.owned) return { ...previous.owned };
  const won = new Map<string, { value: string | null; rule: string }>();
  for (const result of previous.results) {
    if (!result.matched) continue;
    for (const [key, value] of Object.entries(result.set)) won.set(key, { value, rule: result.rule });
    for (const key of result.remove) won.delete(key);
  }
  const owned: OwnedTags = {};
  for (const [key, value] of Object.entries(previous.after)) {
    const winner = won.get(key);
    const posted = Object.hasOwn(previous.applied.updates, key);
    const personHadIt = Object.hasOwn(archivedTags, key) && archivedTags[key] === value;
    if (posted || (winner && winner.value === value && !personHadIt)) {
      owned[key] = { value, rule: winner?.rule ?? '(an earlier rules file)' };
    }
  }
  return owned;
}

/**
 * Ownership that still holds on `current`: a key someone deleted is no longer held, and a key whose
 * value someone changed is theirs now (only `--live` or a 400 can see either).
 */
export function ownedStillHeld(owned: OwnedTags, current: Tags): OwnedTags {
  return Object.fromEntries(
    Object.entries(owned).filter(([key, o]) => Object.hasOwn(current, key) && current[key] === o.value),
  );
}

const limitReason = `the conversation would hold more than ${MAX_TAGS} tags (Amigo's limit); rules earlier in the file keep their tags`;

/**
 * Plans the change of one conversation from the tags it holds (`current`), the tags amigo-qa owns
 * there and the rules' evaluation.
 */
export function planTags(current: Tags, evaluation: Evaluation, ownedBefore: OwnedTags = {}): TagPlan {
  const owned = ownedStillHeld(ownedBefore, current);
  // The rule whose write of each key survives (the last matching one), and its place in the file.
  const winner = new Map<string, { rule: string; index: number }>();
  evaluation.results.forEach((result, index) => {
    if (!result.matched) return;
    for (const key of [...Object.keys(result.set), ...result.remove])
      winner.set(key, { rule: result.rule, index });
  });
  const ruleOf = (key: string) => winner.get(key)?.rule ?? '(none)';

  const diff: TagDiff = { added: [], changed: [], removed: [], dropped: [], leftAlone: [] };
  const wanted = (key: string) => Object.hasOwn(evaluation.updates, key) || evaluation.deletes.includes(key);
  for (const key of evaluation.deletes) {
    if (Object.hasOwn(current, key))
      diff.removed.push({ key, value: current[key] ?? null, rule: ruleOf(key), why: 'rule-removes' });
  }
  for (const [key, o] of Object.entries(owned)) {
    if (!wanted(key)) diff.removed.push({ key, value: o.value, rule: o.rule, why: 'no-rule-sets' });
  }
  diff.removed.sort((a, b) => byKey(a.key, b.key));
  const deletes = diff.removed.map((r) => r.key);
  const afterDeletes = new Set(Object.keys(current).filter((k) => !deletes.includes(k)));
  const ownedAfter: OwnedTags = Object.fromEntries(
    Object.entries(owned).filter(([k]) => !deletes.includes(k)),
  );

  const updates: Record<string, string | null> = {};
  const dropped: DroppedTag[] = [];
  let count = afterDeletes.size;
  const ordered = Object.entries(evaluation.updates).sort(
    ([a], [b]) =>
      (winner.get(a)?.index ?? Number.MAX_SAFE_INTEGER) - (winner.get(b)?.index ?? Number.MAX_SAFE_INTEGER),
  );
  for (const [key, value] of ordered) {
    const rule = ruleOf(key);
    if (afterDeletes.has(key)) {
      const held = current[key] ?? null;
      if (owned[key]) {
        if (held !== value) {
          updates[key] = value;
          diff.changed.push({ key, from: held, to: value, rule });
        }
        ownedAfter[key] = { value, rule };
      } else if (held !== value) {
        diff.leftAlone.push({ key, held, wanted: value, rule });
        dropped.push({
          key,
          value,
          cause: 'not-owned',
          reason: `the conversation holds ${key} with a value amigo-qa did not set (a person's or another tool's); amigo-qa never overwrites it`,
        });
      }
      continue;
    }
    if (count >= MAX_TAGS) {
      diff.dropped.push({ key, value, rule });
      dropped.push({ key, value, cause: 'limit', reason: limitReason });
      continue;
    }
    updates[key] = value;
    diff.added.push({ key, value, rule });
    ownedAfter[key] = { value, rule };
    count++;
  }
  return { updates, deletes, dropped, resultingCount: count, diff, owned: sortedKeys(ownedAfter) };
}

function sortedKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => byKey(a, b)));
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
