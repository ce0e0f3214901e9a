// Rules that change (issue 11): `rules apply` (and the nightly tag step) over a real archive, posting
// to the real HTTP simulator. Each case checks the modify-tags calls the simulator received and the
// tags it holds afterwards. "A person" edits tags through the same API, as in Amigo's UI.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyRules, type RulesApplyOptions, testRules } from '../../../cli/commands/rules.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { TagsRecordSchema } from '../../../shared/archive-format/documents.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import { METRIC } from '../../../shared/contract/metric-names.ts';
import { conversationId } from '../../../shared/ids.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import type { Telemetry } from '../../../shared/ports/telemetry.ts';
import { MAX_TAGS } from '../../../shared/stages/apply-tags.ts';
import { archiveConversation } from '../../../shared/stages/archive-conversation.ts';
import { runTagJob } from '../../../shared/stages/tag-job.ts';
import { clientFor } from '../../support/client.ts';
import { scratchFiles } from '../../support/scratch-files.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';
import { useTestSimulator } from '../../support/simulator.ts';

const sim = useTestSimulator({ rateLimits: { enabled: false }, conversations: 40, longConversations: 0 });
const files = scratchFiles('rules-change');
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Tags = Record<string, string | null>;
interface RuleSpec {
  readonly name: string;
  readonly set?: Tags;
  readonly remove?: string[];
}

/** A rules file of rules that match every analyzed conversation. */
function rulesFile(name: string, rules: RuleSpec[]): string {
  const full = rules.map((r) => ({ when: { conversation: { analyzed: true } }, ...r }));
  return files.file(`${name}.json`, JSON.stringify({ rules: full }));
}

let picked = 0;
/** A conversation of its own for each test (they share the simulator), with room for more tags. */
function nextConversation(): ConversationInstance {
  const candidates = sim
    .get()
    .control.conversations()
    .filter((c) => c.is_finished && c.is_analyzed && Object.keys(c.tags).length <= 15);
  const c = candidates[picked++];
  if (!c) throw new Error('the simulator has too few analyzed conversations for these tests');
  return c;
}

/** One conversation archived into a fresh folder, before any rule ran. */
async function archived(options: { personTags?: Tags } = {}) {
  const s = sim.get();
  const amigo = clientFor(s);
  const id = nextConversation().id;
  if (options.personTags) await amigo.modifyTags(id, { updates: options.personTags, deletes: [] });
  const conversation = s.control.conversation(id) as ConversationInstance;
  const root = await mkdtemp(join(tmpdir(), 'rules-change-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const job = {
    runId: null,
    organizationId: s.organizationId,
    conversationId: conversationId(id),
    createdAt: conversation.created_at,
  };
  await archiveConversation({ ...job, conversation }, { amigo, store, clock: systemClock });
  const day = conversation.created_at.slice(0, 10);
  const tagsJson = join(
    root,
    `conversations/org=${s.organizationId}/date=${day}/conversation=${id}/tags.json`,
  );
  return {
    id,
    job,
    store,
    amigo,
    root,
    /** The tags the conversation held when it was archived. */
    archivedTags: { ...conversation.tags },
    /** `rules apply` over this conversation alone. */
    apply: async (rules: string, extra: Partial<RulesApplyOptions> = {}) => {
      const lines: string[] = [];
      const code = await applyRules(
        rules,
        { archive: root, since: '2000-01-01', conversation: id, ...extra },
        { amigo, out: (l) => lines.push(l), err: (l) => lines.push(l) },
      );
      return { code, lines };
    },
    /** The bodies of the modify-tags calls the simulator took for this conversation, in order. */
    writes: () =>
      s.control
        .stats()
        .writes.filter((w) => w.operationId === 'modify-tags-of-conversation' && w.conversationId === id)
        .map((w) => w.body),
    live: () => s.control.conversation(id)?.tags,
    record: async () => TagsRecordSchema.parse(JSON.parse(await readFile(tagsJson, 'utf8'))),
    tagsJson,
  };
}

const getConversationsCalls = () => sim.get().control.stats().calls['get-conversations']?.['200'] ?? 0;

describe('rules apply after the rules file changed', () => {
  it('when a rule renames its tag key, then the old key is removed and the new one set in one call', async () => {
    // Arrange
    const t = await archived();
    expect((await t.apply(rulesFile('rename-v1', [{ name: 'handoff', set: { handoff: 'yes' } }]))).code).toBe(
      0,
    );
    const before = t.writes().length;

    // Act
    const { code, lines } = await t.apply(
      rulesFile('rename-v2', [{ name: 'handoff', set: { hand_off: 'yes' } }]),
    );

    // Assert
    expect(code).toBe(0);
    expect(t.writes().slice(before)).toEqual([{ updates: { hand_off: 'yes' }, deletes: ['handoff'] }]);
    expect(t.live()).toEqual({ ...t.archivedTags, hand_off: 'yes' });
    expect(lines).toContain('  + hand_off="yes"  (rule "handoff")');
    expect(lines).toContain(
      '  - handoff="yes"  (no rule sets it any more; amigo-qa set it by rule "handoff")',
    );
    expect((await t.record()).owned).toEqual({ hand_off: { value: 'yes', rule: 'handoff' } });
  });

  it('when a rule is deleted, then its tag is removed and the other rules’ tags stay', async () => {
    // Arrange
    const t = await archived();
    await t.apply(
      rulesFile('delete-v1', [
        { name: 'keep', set: { qa_keep: 'yes' } },
        { name: 'gone', set: { qa_gone: 'yes' } },
      ]),
    );
    const before = t.writes().length;

    // Act
    const { code, lines } = await t.apply(
      rulesFile('delete-v2', [{ name: 'keep', set: { qa_keep: 'yes' } }]),
    );

    // Assert
    expect(code).toBe(0);
    expect(t.writes().slice(before)).toEqual([{ updates: {}, deletes: ['qa_gone'] }]);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_keep: 'yes' });
    expect(lines.join('\n')).toMatch(
      /gone \(not in the rules file\) +matched 0: 0 added, 0 changed, 1 removed, 0 dropped at the limit, 0 left alone/,
    );
  });

  it('when a rule changes its value, then the tag is updated in place', async () => {
    // Arrange
    const t = await archived();
    await t.apply(rulesFile('value-v1', [{ name: 'priority', set: { qa_priority: 'low' } }]));
    const before = t.writes().length;

    // Act
    const { code, lines } = await t.apply(
      rulesFile('value-v2', [{ name: 'priority', set: { qa_priority: 'high' } }]),
    );

    // Assert
    expect(code).toBe(0);
    expect(t.writes().slice(before)).toEqual([{ updates: { qa_priority: 'high' }, deletes: [] }]);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_priority: 'high' });
    expect(lines).toContain('  ~ qa_priority: "low" -> "high"  (rule "priority")');
  });

  it('when a person’s tag has a rule’s key, then amigo-qa neither overwrites it nor removes it when the rule goes', async () => {
    // Arrange: a person set qa_channel before the conversation was archived.
    const t = await archived({ personTags: { qa_channel: 'web' } });

    // Act
    const first = await t.apply(
      rulesFile('person-v1', [{ name: 'channel', set: { qa_channel: 'phone', qa_seen: 'yes' } }]),
    );
    const afterFirst = t.writes().length;
    const second = await t.apply(rulesFile('person-v2', []));

    // Assert
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(t.writes()).toEqual([
      { updates: { qa_channel: 'web' }, deletes: [] }, // the person's own call
      { updates: { qa_seen: 'yes' }, deletes: [] },
      { updates: {}, deletes: ['qa_seen'] },
    ]);
    expect(afterFirst).toBe(2);
    expect(t.live()).toEqual(t.archivedTags);
    expect(t.live()?.qa_channel).toBe('web');
    expect(first.lines).toContain(
      '  = qa_channel left alone: holds "web", which amigo-qa did not set (rule "channel" wants "phone")',
    );
  });

  it('when a rule explicitly removes a key someone else set, then it is removed (the rules file names it)', async () => {
    // Arrange
    const t = await archived({ personTags: { qa_callback: 'needed' } });

    // Act
    const { code } = await t.apply(rulesFile('remove-v1', [{ name: 'ticket', remove: ['qa_callback'] }]));

    // Assert
    expect(code).toBe(0);
    expect(t.writes().at(-1)).toEqual({ updates: {}, deletes: ['qa_callback'] });
    expect(t.live()).not.toHaveProperty('qa_callback');
  });

  it('when tags.json was written before ownership was recorded, then a renamed key is still removed', async () => {
    // Arrange: the v1 record as an older amigo-qa wrote it, without owned or planned_from.
    const t = await archived();
    await t.apply(rulesFile('legacy-v1', [{ name: 'handoff', set: { handoff: 'yes' } }]));
    const { owned: _owned, planned_from: _from, ...older } = await t.record();
    await writeFile(t.tagsJson, JSON.stringify(older));
    const before = t.writes().length;

    // Act
    const { code } = await t.apply(rulesFile('legacy-v2', [{ name: 'handoff', set: { hand_off: 'yes' } }]));

    // Assert
    expect(code).toBe(0);
    expect(t.writes().slice(before)).toEqual([{ updates: { hand_off: 'yes' }, deletes: ['handoff'] }]);
    expect(t.live()).toEqual({ ...t.archivedTags, hand_off: 'yes' });
  });
});

describe('rules apply --dry-run and rules test', () => {
  it('when a renamed key is applied with --dry-run, then the diff is shown and nothing is written to Amigo or the archive', async () => {
    // Arrange
    const t = await archived();
    await t.apply(rulesFile('dry-v1', [{ name: 'handoff', set: { handoff: 'yes' } }]));
    const recordBefore = await readFile(t.tagsJson, 'utf8');
    const writesBefore = t.writes().length;
    const liveBefore = t.live();
    const v2 = rulesFile('dry-v2', [{ name: 'handoff', set: { hand_off: 'yes' } }]);

    // Act
    const { code, lines } = await t.apply(v2, { dryRun: true });
    const tested: string[] = [];
    const testCode = await testRules(v2, { archive: t.root, conversation: t.id }, (l) => tested.push(l));
    const json: string[] = [];
    await testRules(v2, { archive: t.root, conversation: t.id, json: true }, (l) => json.push(l));

    // Assert
    expect([code, testCode]).toEqual([0, 0]);
    expect(t.writes()).toHaveLength(writesBefore);
    expect(t.live()).toEqual(liveBefore);
    expect(await readFile(t.tagsJson, 'utf8')).toBe(recordBefore);
    expect(lines).toContain('  + hand_off="yes"  (rule "handoff")');
    expect(lines).toContain(
      '  - handoff="yes"  (no rule sets it any more; amigo-qa set it by rule "handoff")',
    );
    expect(lines.join('\n')).toMatch(/handoff +matched 1: 1 added, 0 changed, 1 removed/);
    expect(lines.at(-1)).toMatch(/1 would be tagged \(dry run: nothing posted\)/);
    expect(tested.join('\n')).toMatch(/tag diff against tags\.json of \S+:/);
    expect(tested).toContain('    + hand_off="yes"  (rule "handoff")');
    const [row] = JSON.parse(json.join('\n')) as Array<{
      tag_plan: { planned_from: string; updates: unknown; deletes: unknown };
    }>;
    expect(row?.tag_plan).toMatchObject({
      planned_from: 'record',
      updates: { hand_off: 'yes' },
      deletes: ['handoff'],
    });
    expect(tested).toContain(
      '    - handoff="yes"  (no rule sets it any more; amigo-qa set it by rule "handoff")',
    );
  });
});

describe('rules apply --live', () => {
  it('when a person deleted a tag amigo-qa set, then only --live sees it and sets it again', async () => {
    // Arrange
    const t = await archived();
    const rules = rulesFile('live-delete', [{ name: 'flag', set: { qa_flag: 'yes' } }]);
    await t.apply(rules);
    await t.amigo.modifyTags(t.id, { updates: {}, deletes: ['qa_flag'] });
    const before = t.writes().length;

    // Act
    const fromRecord = await t.apply(rules);
    const afterRecord = t.writes().length;
    const callsBefore = getConversationsCalls();
    const live = await t.apply(rules, { live: true });

    // Assert
    expect([fromRecord.code, live.code]).toEqual([0, 0]);
    expect(afterRecord).toBe(before);
    expect(t.writes().slice(afterRecord)).toEqual([{ updates: { qa_flag: 'yes' }, deletes: [] }]);
    expect(getConversationsCalls() - callsBefore).toBe(1);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_flag: 'yes' });
    expect(live.lines[0]).toMatch(/--live: 1 get-conversations call\)/);
    expect((await t.record()).planned_from).toBe('live');
  });

  it('when a person changed a tag amigo-qa set and its rule is deleted, then --live leaves the person’s value', async () => {
    // Arrange
    const t = await archived();
    await t.apply(rulesFile('live-change-v1', [{ name: 'review', set: { qa_review: 'yes' } }]));
    await t.amigo.modifyTags(t.id, { updates: { qa_review: 'done' }, deletes: [] });
    const before = t.writes().length;

    // Act
    const { code } = await t.apply(rulesFile('live-change-v2', []), { live: true });

    // Assert
    expect(code).toBe(0);
    expect(t.writes()).toHaveLength(before);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_review: 'done' });
    expect((await t.record()).owned).toEqual({});
  });

  it('when a person added a tag after the record and a new rule sets that key, then --live leaves it alone', async () => {
    // Arrange
    const t = await archived();
    await t.apply(rulesFile('live-add-v1', [{ name: 'one', set: { qa_one: 'yes' } }]));
    await t.amigo.modifyTags(t.id, { updates: { qa_note: 'mine' }, deletes: [] });
    const before = t.writes().length;

    // Act
    const { code, lines } = await t.apply(
      rulesFile('live-add-v2', [
        { name: 'one', set: { qa_one: 'yes' } },
        { name: 'note', set: { qa_note: 'theirs' } },
      ]),
      { live: true },
    );

    // Assert
    expect(code).toBe(0);
    expect(t.writes()).toHaveLength(before);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_one: 'yes', qa_note: 'mine' });
    expect((await t.record()).dropped).toEqual([
      expect.objectContaining({ key: 'qa_note', cause: 'not-owned' }),
    ]);
    expect(lines.join('\n')).toMatch(
      /note +matched 1: 0 added, 0 changed, 0 removed, 0 dropped at the limit, 1 left alone/,
    );
  });
});

describe('the 20-tag limit', () => {
  it('when someone filled the conversation after the record, then the 400 is answered by a live re-plan, the new tag waits, and --live sets it once there is room', async () => {
    // Arrange: amigo-qa set qa_a; then another tool filled the conversation to the limit.
    const t = await archived();
    await t.apply(rulesFile('limit-v1', [{ name: 'a', set: { qa_a: 'yes' } }]));
    const room = MAX_TAGS - Object.keys(t.live() ?? {}).length;
    const others = Object.fromEntries(Array.from({ length: room }, (_, i) => [`other_${i}`, 'x']));
    await t.amigo.modifyTags(t.id, { updates: others, deletes: [] });
    const v2 = rulesFile('limit-v2', [
      { name: 'a', set: { qa_a: 'yes' } },
      { name: 'b', set: { qa_b: 'yes' } },
    ]);
    const before = t.writes().length;
    const refusedBefore = sim.get().control.stats().calls['modify-tags-of-conversation']?.['400'] ?? 0;

    // Act
    const refused = await t.apply(v2);
    const record = await t.record();
    await t.amigo.modifyTags(t.id, { updates: {}, deletes: ['other_0'] });
    const fromRecord = await t.apply(v2);
    const afterRecord = t.writes().length;
    const live = await t.apply(v2, { live: true });

    // Assert
    expect([refused.code, fromRecord.code, live.code]).toEqual([0, 0, 0]);
    expect(t.writes().slice(before, before + 1)).toEqual([{ updates: { qa_b: 'yes' }, deletes: [] }]);
    expect(
      (sim.get().control.stats().calls['modify-tags-of-conversation']?.['400'] ?? 0) - refusedBefore,
    ).toBe(1);
    expect(record.planned_from).toBe('live');
    expect(record.dropped).toEqual([expect.objectContaining({ key: 'qa_b', cause: 'limit' })]);
    expect(record.owned).toEqual({ qa_a: { value: 'yes', rule: 'a' } });
    expect(record.after).toEqual({ ...t.archivedTags, qa_a: 'yes', ...others });
    expect(afterRecord).toBe(before + 2); // the refused post, then the person's delete; nothing from the record
    expect(t.writes().slice(afterRecord)).toEqual([{ updates: { qa_b: 'yes' }, deletes: [] }]);
    expect(Object.keys(t.live() ?? {})).toHaveLength(MAX_TAGS);
    expect(t.live()).toMatchObject({ qa_a: 'yes', qa_b: 'yes' });
  });
});

describe('the nightly tag step', () => {
  it('when the tag job runs again after the rules file changed, then a tag no rule sets any more is removed', async () => {
    // Arrange
    const t = await archived();
    const deps = { amigo: t.amigo, store: t.store, clock: systemClock, telemetry: silentTelemetry };
    const job = { kind: 'tag' as const, v: 1 as const, deferrals: 0, ...t.job };
    await runTagJob(job, {
      ...deps,
      rules: loadRules(rulesFile('nightly-v1', [{ name: 'a', set: { qa_a: 'yes' } }])),
    });
    const before = t.writes().length;

    // Act
    const outcome = await runTagJob(job, {
      ...deps,
      rules: loadRules(rulesFile('nightly-v2', [{ name: 'b', set: { qa_b: 'yes' } }])),
    });

    // Assert
    expect(outcome.status).toBe('posted');
    expect(t.writes().slice(before)).toEqual([{ updates: { qa_b: 'yes' }, deletes: ['qa_a'] }]);
    expect(t.live()).toEqual({ ...t.archivedTags, qa_b: 'yes' });
  });
  it('when a rule’s key holds a person’s tag, then the job leaves it, and the dropped-at-limit metric does not count it', async () => {
    // Arrange
    const t = await archived({ personTags: { qa_channel: 'web' } });
    const metrics: Array<[string, number]> = [];
    const logged: unknown[] = [];
    const telemetry: Telemetry = {
      log: {
        ...silentTelemetry.log,
        info: (_message, ...fields) => {
          logged.push(...fields);
        },
      },
      metrics: {
        addMetric: (name, _unit, value) => {
          metrics.push([name, value]);
        },
      },
    };
    const rules = loadRules(rulesFile('nightly-person', [{ name: 'channel', set: { qa_channel: 'phone' } }]));
    const job = { kind: 'tag' as const, v: 1 as const, deferrals: 0, ...t.job };

    // Act
    const outcome = await runTagJob(job, {
      amigo: t.amigo,
      store: t.store,
      clock: systemClock,
      telemetry,
      rules,
    });

    // Assert
    expect(outcome.status).toBe('unchanged');
    expect(t.live()?.qa_channel).toBe('web');
    expect(metrics).toEqual([[METRIC.tagsPosted, 0]]);
    expect(logged).toEqual([expect.objectContaining({ dropped: 0, leftAlone: 1, removed: 0 })]);
  });
});
