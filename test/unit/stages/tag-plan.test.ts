// The tag plan's ownership and limit policy (docs/rules.md), on evaluations built by hand.
import { describe, expect, it } from 'vitest';
import type { TagsRecord } from '../../../shared/archive-format/documents.ts';
import type { Evaluation } from '../../../shared/rules/index.ts';
import { MAX_TAGS, ownedFromRecord, ownedStillHeld, planTags } from '../../../shared/stages/tag-plan.ts';

type Tags = Record<string, string | null>;

/** An evaluation of matched rules, in file order; the last rule writing a key wins it. */
function evaluation(rules: Array<{ rule: string; set?: Tags; remove?: string[] }>): Evaluation {
  const updates: Tags = {};
  const deletes = new Set<string>();
  for (const r of rules) {
    for (const [k, v] of Object.entries(r.set ?? {})) {
      updates[k] = v;
      deletes.delete(k);
    }
    for (const k of r.remove ?? []) {
      delete updates[k];
      deletes.add(k);
    }
  }
  return {
    results: rules.map((r) => ({
      rule: r.rule,
      matched: true,
      reasons: [],
      set: r.set ?? {},
      remove: r.remove ?? [],
    })),
    updates,
    deletes: [...deletes].sort(),
  };
}

const filled = (n: number): Tags => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, 'v']));

describe('planTags', () => {
  it('when an owned key is set by no rule any more, then it is deleted; a key nobody owns is not', () => {
    // Arrange
    const current = { qa_old: 'yes', person: 'x' };
    const owned = { qa_old: { value: 'yes', rule: 'old rule' } };

    // Act
    const plan = planTags(current, evaluation([{ rule: 'new rule', set: { qa_new: 'yes' } }]), owned);

    // Assert
    expect(plan.deletes).toEqual(['qa_old']);
    expect(plan.updates).toEqual({ qa_new: 'yes' });
    expect(plan.diff.removed).toEqual([
      { key: 'qa_old', value: 'yes', rule: 'old rule', why: 'no-rule-sets' },
    ]);
    expect(plan.owned).toEqual({ qa_new: { value: 'yes', rule: 'new rule' } });
  });

  it('when a rule sets a key someone else holds with another value, then it is left alone and recorded not-owned', () => {
    // Act
    const plan = planTags(
      { channel: 'web' },
      evaluation([{ rule: 'channel', set: { channel: 'phone' } }]),
      {},
    );

    // Assert
    expect(plan.updates).toEqual({});
    expect(plan.diff.leftAlone).toEqual([{ key: 'channel', held: 'web', wanted: 'phone', rule: 'channel' }]);
    expect(plan.dropped).toEqual([
      expect.objectContaining({ key: 'channel', value: 'phone', cause: 'not-owned' }),
    ]);
    expect(plan.owned).toEqual({});
  });

  it('when a rule sets the value someone else already holds, then nothing is sent and amigo-qa does not claim it', () => {
    // Act
    const plan = planTags({ channel: 'web' }, evaluation([{ rule: 'channel', set: { channel: 'web' } }]), {});

    // Assert
    expect([plan.updates, plan.deletes, plan.dropped, plan.owned]).toEqual([{}, [], [], {}]);
  });

  it('when a rule explicitly removes a key someone else set, then it is deleted', () => {
    // Act
    const plan = planTags({ callback: 'needed' }, evaluation([{ rule: 'ticket', remove: ['callback'] }]), {});

    // Assert
    expect(plan.deletes).toEqual(['callback']);
    expect(plan.diff.removed).toEqual([
      { key: 'callback', value: 'needed', rule: 'ticket', why: 'rule-removes' },
    ]);
  });

  it('when an owned key holds another value now, then ownership is lost and the key is neither changed nor removed', () => {
    // Arrange: a person changed qa_review from "yes" to "done" (seen live).
    const owned = { qa_review: { value: 'yes', rule: 'review' } };

    // Act
    const kept = planTags(
      { qa_review: 'done' },
      evaluation([{ rule: 'review', set: { qa_review: 'again' } }]),
      owned,
    );
    const ruleGone = planTags({ qa_review: 'done' }, evaluation([]), owned);

    // Assert
    expect([kept.updates, kept.deletes]).toEqual([{}, []]);
    expect(kept.diff.leftAlone.map((l) => l.key)).toEqual(['qa_review']);
    expect([ruleGone.updates, ruleGone.deletes, ruleGone.owned]).toEqual([{}, [], {}]);
  });

  it('when the conversation is full, then owned stale tags are deleted first and make room for the earliest rules', () => {
    // Arrange: 20 tags, two of them amigo-qa's that no rule sets any more.
    const current = { ...filled(18), qa_x: 'yes', qa_y: 'yes' };
    const owned = { qa_x: { value: 'yes', rule: 'x' }, qa_y: { value: 'yes', rule: 'y' } };
    const rules = evaluation([
      { rule: 'first', set: { zz_first: 'yes' } },
      { rule: 'second', set: { mm_second: 'yes' } },
      { rule: 'third', set: { aa_third: 'yes' } },
    ]);

    // Act
    const plan = planTags(current, rules, owned);

    // Assert
    expect(plan.deletes).toEqual(['qa_x', 'qa_y']);
    expect(Object.keys(plan.updates)).toEqual(['zz_first', 'mm_second']);
    expect(plan.diff.dropped).toEqual([{ key: 'aa_third', value: 'yes', rule: 'third' }]);
    expect(plan.dropped[0]?.cause).toBe('limit');
    expect(plan.resultingCount).toBe(MAX_TAGS);
  });
});

describe('ownedFromRecord', () => {
  const record = (over: Partial<TagsRecord>): TagsRecord => ({
    schema_version: 1,
    conversation_id: 'c',
    evaluated_at: '2026-11-30T00:00:00.000Z',
    rules_source: 'rules.yaml',
    run_id: null,
    before: {},
    after: {},
    applied: { updates: {}, deletes: [] },
    dropped: [],
    posted: false,
    results: [],
    ...over,
  });

  it('when the record predates ownership, then amigo-qa owns what it posted and what its rules set that was not archived', () => {
    // Arrange: qa_a was posted by this record; qa_b by an earlier one (unchanged since); channel was
    // the person's at archive time with the value a rule also sets; person is only the person's.
    const older = record({
      after: { qa_a: 'yes', qa_b: 'yes', channel: 'web', person: 'x' },
      applied: { updates: { qa_a: 'yes' }, deletes: [] },
      results: [
        { rule: 'a', matched: true, reasons: [], set: { qa_a: 'yes' }, remove: [] },
        { rule: 'b', matched: true, reasons: [], set: { qa_b: 'yes', channel: 'web' }, remove: [] },
      ],
    });

    // Act
    const owned = ownedFromRecord(older, { channel: 'web', person: 'x' });

    // Assert
    expect(owned).toEqual({ qa_a: { value: 'yes', rule: 'a' }, qa_b: { value: 'yes', rule: 'b' } });
  });

  it('when the record has owned, then it is taken as written; without a record nothing is owned', () => {
    // Arrange
    const owned = { k: { value: null, rule: 'r' } };

    // Act / Assert
    expect(ownedFromRecord(record({ owned, after: { k: null } }), {})).toEqual(owned);
    expect(ownedFromRecord(undefined, { k: null })).toEqual({});
  });
});

describe('ownedStillHeld', () => {
  it('when a person deleted or changed an owned tag, then it is no longer owned', () => {
    // Arrange
    const owned = {
      kept: { value: 'yes', rule: 'r' },
      deleted: { value: 'yes', rule: 'r' },
      changed: { value: 'yes', rule: 'r' },
    };

    // Act
    const held = ownedStillHeld(owned, { kept: 'yes', changed: 'no' });

    // Assert
    expect(Object.keys(held)).toEqual(['kept']);
  });
});
