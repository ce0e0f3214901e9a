// The tag stage over archives written by the real archive stage, posting to the simulator (real
// HTTP), into a folder store.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import { conversationId } from '../../../shared/ids.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { parseRules } from '../../../shared/rules/index.ts';
import { applyTags, MAX_TAGS, planTags, type TagJob } from '../../../shared/stages/apply-tags.ts';
import { archiveConversation } from '../../../shared/stages/archive-conversation.ts';
import { clientFor } from '../../support/client.ts';
import { startTestSimulator } from '../../support/simulator.ts';

type TestSim = Awaited<ReturnType<typeof startTestSimulator>>;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const sim = await startTestSimulator({
    rateLimits: { enabled: false },
    conversations: 40,
    longConversations: 0,
  });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'tags-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const amigo = clientFor(sim);
  const archive = async (c: ConversationInstance): Promise<TagJob> => {
    await archiveConversation(
      {
        runId: null,
        organizationId: sim.organizationId,
        conversationId: conversationId(c.id),
        conversation: c,
      },
      { amigo, store, clock: systemClock },
    );
    return {
      runId: null,
      organizationId: sim.organizationId,
      conversationId: conversationId(c.id),
      createdAt: c.created_at,
    };
  };
  return { sim, store, amigo, archive };
}

const tagWrites = (sim: TestSim) =>
  sim.control.stats().writes.filter((w) => w.operationId === 'modify-tags-of-conversation');

const everyConversation = parseRules(
  {
    rules: [
      { name: 'reviewed', when: { conversation: { analyzed: true } }, set: { qa_reviewed: 'yes' } },
      { name: 'state', when: { states: { visits: { gte: 1 } } }, set: { qa_state: '{state}' } },
    ],
  },
  'inline',
);

describe('applyTags', () => {
  it('when rules match, then the tags land in Amigo and tags.json says which rule matched and why', async () => {
    const { sim, store, amigo, archive } = await setup();
    const conversation = sim.control
      .conversations()
      .find((c) => c.is_finished && c.is_analyzed) as ConversationInstance;
    const job = await archive(conversation);

    const outcome = await applyTags(job, { amigo, store, rules: everyConversation, clock: systemClock });

    expect(outcome.status).toBe('posted');
    expect(sim.control.conversation(conversation.id)?.tags.qa_reviewed).toBe('yes');
    expect(sim.control.conversation(conversation.id)?.tags.qa_state).toBeTruthy();
    const record = JSON.parse(String((await store.get(`${prefixOf(sim, conversation)}tags.json`))?.body));
    expect(record.results.map((r: { rule: string; matched: boolean }) => [r.rule, r.matched])).toEqual([
      ['reviewed', true],
      ['state', true],
    ]);
    expect(record.results[0].reasons.length).toBeGreaterThan(0);
  });

  it('when the same rules run again over the same archive, then nothing is posted', async () => {
    const { sim, store, amigo, archive } = await setup();
    const conversation = sim.control
      .conversations()
      .find((c) => c.is_finished && c.is_analyzed) as ConversationInstance;
    const job = await archive(conversation);
    await applyTags(job, { amigo, store, rules: everyConversation, clock: systemClock });
    const before = tagWrites(sim).length;

    const again = await applyTags(job, { amigo, store, rules: everyConversation, clock: systemClock });

    expect(again.status).toBe('unchanged');
    expect(tagWrites(sim).length).toBe(before);
  });

  it('when no rule matches, then nothing is posted', async () => {
    const { sim, store, amigo, archive } = await setup();
    const conversation = sim.control
      .conversations()
      .find((c) => c.is_finished && c.is_analyzed) as ConversationInstance;
    const job = await archive(conversation);
    const nothing = parseRules(
      {
        rules: [
          {
            name: 'never',
            when: { messages: { contains: 'zzzz-no-such-text-zzzz' } },
            set: { never: 'yes' },
          },
        ],
      },
      'inline',
    );

    const outcome = await applyTags(job, { amigo, store, rules: nothing, clock: systemClock });

    expect(outcome.status).toBe('unchanged');
    expect(tagWrites(sim)).toHaveLength(0);
  });

  it('when the conversation is near the 20-tag limit, then the extra tags are dropped with a reason and Amigo never answers 400', async () => {
    const { sim, store, amigo, archive } = await setup();
    const crowded = sim.control
      .conversations()
      .find(
        (c) => c.is_finished && c.is_analyzed && Object.keys(c.tags).length >= 18,
      ) as ConversationInstance;
    expect(crowded).toBeDefined();
    const job = await archive(crowded);
    const many = parseRules(
      {
        rules: [
          {
            name: 'many',
            when: { conversation: { analyzed: true } },
            set: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`extra_${i}`, 'yes'])),
          },
        ],
      },
      'inline',
    );

    const outcome = await applyTags(job, { amigo, store, rules: many, clock: systemClock });

    const held = Object.keys(sim.control.conversation(crowded.id)?.tags ?? {}).length;
    expect(held).toBe(MAX_TAGS);
    expect(outcome.record.dropped.length).toBe(Object.keys(crowded.tags).length + 5 - MAX_TAGS);
    expect(outcome.record.dropped[0]?.reason).toMatch(/more than 20 tags/);
    expect(sim.control.stats().calls['modify-tags-of-conversation']?.['400'] ?? 0).toBe(0);
  });

  it('when someone added tags since the archive and the post is refused, then the live tags are read once and the plan fits', async () => {
    const { sim, store, amigo, archive } = await setup();
    const crowded = sim.control.conversations().find((c) => {
      const n = Object.keys(c.tags).length;
      return c.is_finished && c.is_analyzed && n >= 10 && n < MAX_TAGS;
    }) as ConversationInstance;
    expect(crowded).toBeDefined();
    const job = await archive(crowded);
    // Another tool fills the conversation to the limit after the archive.
    const room = MAX_TAGS - Object.keys(crowded.tags).length;
    const others = Object.fromEntries(Array.from({ length: room }, (_, i) => [`other_${i}`, 'x']));
    await amigo.modifyTags(crowded.id, { updates: others, deletes: [] });
    const two = parseRules(
      {
        rules: [
          { name: 'two', when: { conversation: { analyzed: true } }, set: { qa_one: 'yes', qa_two: 'yes' } },
        ],
      },
      'inline',
    );

    const outcome = await applyTags(job, { amigo, store, rules: two, clock: systemClock });

    expect(Object.keys(sim.control.conversation(crowded.id)?.tags ?? {})).toHaveLength(MAX_TAGS);
    expect(outcome.record.dropped.map((d) => d.key)).toEqual(['qa_one', 'qa_two']);
    expect(outcome.record.after).toEqual(sim.control.conversation(crowded.id)?.tags);
    expect(sim.control.stats().calls['modify-tags-of-conversation']?.['400']).toBe(1);
  });

  it('when the example rules file runs over archived conversations, then it loads and tags without errors', async () => {
    const { sim, store, amigo, archive } = await setup();
    const rules = loadRules('examples/rules.yaml');
    const finished = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);

    const outcomes = [];
    for (const c of finished)
      outcomes.push(await applyTags(await archive(c), { amigo, store, rules, clock: systemClock }));

    expect(outcomes.some((o) => o.record.results.some((r) => r.matched))).toBe(true);
    expect(sim.control.stats().calls['modify-tags-of-conversation']?.['400'] ?? 0).toBe(0);
  });
});

function prefixOf(sim: TestSim, c: ConversationInstance): string {
  const day = new Date(c.created_at).toISOString().slice(0, 10);
  return `conversations/org=${sim.organizationId}/date=${day}/conversation=${c.id}/`;
}

describe('planTags', () => {
  const evaluation = (updates: Record<string, string | null>, deletes: string[] = []) => ({
    results: [],
    updates,
    deletes,
  });

  it('when a key already holds the value, then it is not sent', () => {
    expect(planTags({ a: 'x' }, evaluation({ a: 'x', b: 'y' })).updates).toEqual({ b: 'y' });
  });

  it('when deletes make room, then as many new tags fit as were deleted', () => {
    const current = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t${i}`, 'v']));
    const plan = planTags(current, evaluation({ n1: 'a', n2: 'b', n3: 'c' }, ['t0', 't1']));
    expect(plan.deletes).toEqual(['t0', 't1']);
    expect(Object.keys(plan.updates)).toEqual(['n1', 'n2']);
    expect(plan.dropped.map((d) => d.key)).toEqual(['n3']);
    expect(plan.resultingCount).toBe(20);
  });

  it('when the conversation is full, then changing a tag amigo-qa owns still goes through', () => {
    const current = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t${i}`, 'v']));
    const owned = { t3: { value: 'v', rule: 'r' } };
    expect(planTags(current, evaluation({ t3: 'changed' }), owned).updates).toEqual({ t3: 'changed' });
  });

  it('when room runs out, then the tags of rules earlier in the file are kept, whatever the keys', () => {
    const current = Object.fromEntries(Array.from({ length: 19 }, (_, i) => [`t${i}`, 'v']));
    const result = (rule: string, set: Record<string, string>) => ({
      rule,
      matched: true,
      reasons: [],
      set,
      remove: [],
    });
    const plan = planTags(current, {
      results: [result('first', { zzz_first: 'yes' }), result('last', { aaa_last: 'yes' })],
      updates: { aaa_last: 'yes', zzz_first: 'yes' },
      deletes: [],
    });

    expect(Object.keys(plan.updates)).toEqual(['zzz_first']);
    expect(plan.dropped.map((d) => d.key)).toEqual(['aaa_last']);
  });

  it('when a delete names a tag the conversation lacks, then it is not sent', () => {
    expect(planTags({ a: 'x' }, evaluation({}, ['missing'])).deletes).toEqual([]);
  });
});
