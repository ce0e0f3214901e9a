// Reading committed archive folders back (shared/archive/read.ts) from a real folder store, and the
// `rules check` / `rules test` commands on top of it. Folders are written two ways: by hand with
// a manifest of correct sha256s, and by the archive stage itself against the simulator.

import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRules, testRules } from '../../../cli/commands/rules.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import {
  ArchiveReadError,
  listArchivedConversations,
  readArchivedConversation,
} from '../../../shared/archive/read.ts';
import {
  MANIFEST_SCHEMA,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  prettyJson,
} from '../../../shared/archive-format/documents.ts';
import { conversationPrefix, FILES } from '../../../shared/archive-format/keys.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import { conversationId } from '../../../shared/ids.ts';
import type {
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
} from '../../../shared/openapi/index.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { evaluateRules } from '../../../shared/rules/index.ts';
import { archiveConversation } from '../../../shared/stages/archive-conversation.ts';
import { clientFor } from '../../support/client.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempStore() {
  const root = await mkdtemp(join(tmpdir(), 'read-archive-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return { root, store: new FsArchiveStore(root) };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function fixture(id: string, createdAt: string) {
  const conversation: ConversationInstance = {
    id,
    user_id: '6650f0c1a2b3c4d5e6f70001',
    created_at: createdAt,
    is_finished: true,
    is_analyzed: true,
    completed_post_processings: [],
    final_message: 'Could you confirm your date of birth?',
    service_id: '6650f0c1a2b3c4d5e6f70000',
    version_set_info: null,
    num_messages: 2,
    tags: {},
  };
  const at = (s: number) => new Date(Date.parse(createdAt) + s * 1000).toISOString();
  const messages: MessageInstance[] = [
    {
      id: `${id.slice(0, 20)}0001`,
      interaction_id: `${id.slice(0, 20)}1001`,
      created_at: at(1),
      sender: 'Maria',
      message: 'I want to speak to a human',
      format: 'voice',
      message_type: 'user-message',
    },
    {
      id: `${id.slice(0, 20)}0002`,
      interaction_id: `${id.slice(0, 20)}1001`,
      created_at: at(5),
      sender: 'Nova',
      message: 'Could you confirm your date of birth?',
      format: 'voice',
      message_type: 'agent-message',
    },
  ];
  const insights: InteractionInsights = {
    current_state_name: 'verify_identity',
    current_state_action: 'Confirm identity details',
    current_state_objective: 'Verify the user',
    state_transition_logs: [],
    working_memory: [],
    reflections: [],
    triggered_dynamic_behavior_set_version_info: null,
    select_next_action_tool_call_logs: [
      [
        {
          tool_name: 'lookup_appointment',
          tool_id: 't',
          tool_version: '1.0.0',
          input: {},
          output: null,
          duration: 12.25,
        },
      ],
    ],
    engage_user_tool_call_logs: [],
  };
  return { conversation, messages, insights: [{ interaction_id: `${id.slice(0, 20)}1001`, insights }] };
}

/** Writes a folder the way the archive stage does: data files, then the manifest. */
async function writeFolder(
  store: FsArchiveStore,
  org: string,
  data: ReturnType<typeof fixture>,
  options: { manifest?: boolean } = {},
): Promise<string> {
  const prefix = conversationPrefix(org, data.conversation.created_at, data.conversation.id);
  const bodies: Record<string, string> = {
    [FILES.conversation]: `${JSON.stringify(data.conversation, null, 2)}\n`,
    [FILES.messages]: data.messages.map((m) => `${JSON.stringify(m)}\n`).join(''),
    [FILES.insights]: data.insights.map((i) => `${JSON.stringify(i)}\n`).join(''),
  };
  for (const [path, body] of Object.entries(bodies)) await store.put(prefix + path, body);
  if (options.manifest === false) return prefix;
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    schema_version: MANIFEST_SCHEMA_VERSION,
    organization_id: org,
    conversation_id: data.conversation.id,
    service_id: data.conversation.service_id,
    created_at: data.conversation.created_at,
    archived_at: new Date().toISOString(),
    run_id: null,
    counts: {
      messages: data.messages.length,
      messages_by_type: { 'user-message': 1, 'agent-message': 1 },
      interactions: 1,
      insights: data.insights.length,
      audio: 0,
    },
    api: { num_messages: data.messages.length },
    flags: [],
    files: Object.entries(bodies)
      .map(([path, body]) => ({
        path,
        bytes: Buffer.byteLength(body),
        sha256: sha256(body),
        content_type: path.endsWith('.json') ? 'application/json' : 'application/x-ndjson',
      }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
  await store.put(prefix + FILES.manifest, prettyJson(manifest), { ifNoneMatch: '*' });
  return prefix;
}

const A = 'aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccccccccccc';

describe('listArchivedConversations', () => {
  it('lists committed folders only, in key order, filtered by org, id and day', async () => {
    const { store } = await tempStore();
    await writeFolder(store, 'acme', fixture(A, '2026-11-24T10:00:00.000Z'));
    await writeFolder(store, 'acme', fixture(B, '2026-11-25T10:00:00.000Z'));
    await writeFolder(store, 'acme', fixture(C, '2026-11-25T11:00:00.000Z'), { manifest: false });
    await writeFolder(store, 'other', fixture(C, '2026-11-26T10:00:00.000Z'));

    const all = await listArchivedConversations(store);
    expect(all.map((r) => [r.organizationId, r.date, r.conversationId])).toEqual([
      ['acme', '2026-11-24', A],
      ['acme', '2026-11-25', B],
      ['other', '2026-11-26', C],
    ]);
    expect(all[0]?.prefix).toBe(`conversations/org=acme/date=2026-11-24/conversation=${A}/`);
    expect((await listArchivedConversations(store, 'acme')).map((r) => r.conversationId)).toEqual([A, B]);
    expect(
      (await listArchivedConversations(store, undefined, { conversationIds: [C] })).map(
        (r) => r.organizationId,
      ),
    ).toEqual(['other']);
    expect(
      (
        await listArchivedConversations(store, undefined, { fromDate: '2026-11-25', toDate: '2026-11-25' })
      ).map((r) => r.conversationId),
    ).toEqual([B]);
    expect(await listArchivedConversations(store, 'nobody')).toEqual([]);
  });
});

describe('readArchivedConversation', () => {
  it('reads a committed folder back exactly, and the rules evaluate it', async () => {
    const { store } = await tempStore();
    const data = fixture(A, '2026-11-24T10:00:00.000Z');
    const prefix = await writeFolder(store, 'acme', data);
    const read = await readArchivedConversation(store, prefix.slice(0, -1)); // without the trailing /
    expect(read.prefix).toBe(prefix);
    expect(read.conversation).toEqual(data.conversation);
    expect(read.messages).toEqual(data.messages);
    expect(read.insights).toEqual(data.insights);
    expect(read.manifest.conversation_id).toBe(A);

    const evaluation = evaluateRules(loadRules(resolve('examples/rules.yaml')), read);
    expect(evaluation.updates).toMatchObject({
      escalation: 'requested',
      slow_tool: 'lookup_appointment',
      modality: 'voice only',
      unanswered_question: 'yes',
      dropped_in_state: 'verify_identity',
    });
  });

  it('refuses a folder without a manifest', async () => {
    const { store } = await tempStore();
    const prefix = await writeFolder(store, 'acme', fixture(A, '2026-11-24T10:00:00.000Z'), {
      manifest: false,
    });
    await expect(readArchivedConversation(store, prefix)).rejects.toThrow(
      /is not a committed archive folder: it has no manifest\.json/,
    );
  });

  it('refuses a file whose bytes differ from the manifest, naming the file', async () => {
    for (const file of [FILES.messages, FILES.insights, FILES.conversation]) {
      const { store, root } = await tempStore();
      const prefix = await writeFolder(store, 'acme', fixture(A, '2026-11-24T10:00:00.000Z'));
      await writeFile(join(root, prefix, file), '{"tampered":true}\n');
      const error = await readArchivedConversation(store, prefix).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArchiveReadError);
      expect((error as Error).message).toContain(`${prefix}${file} does not match its manifest entry`);
      expect((error as ArchiveReadError).context).toMatchObject({ file });
    }
  });

  it('refuses a listed file that is missing', async () => {
    const { store } = await tempStore();
    const prefix = await writeFolder(store, 'acme', fixture(A, '2026-11-24T10:00:00.000Z'));
    await store.delete(prefix + FILES.insights);
    await expect(readArchivedConversation(store, prefix)).rejects.toThrow(/insights\.jsonl is missing/);
  });

  it('reads what the archive stage wrote for a simulated conversation', async () => {
    const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 12 });
    cleanups.push(() => sim.stop());
    const { store } = await tempStore();
    const amigo = clientFor(sim);
    const conversation = sim.control.conversations().find((c) => c.is_finished && c.num_messages > 0);
    if (!conversation) throw new Error('the simulated organisation has no finished conversation');
    await archiveConversation(
      {
        runId: null,
        organizationId: sim.organizationId,
        conversationId: conversationId(conversation.id),
        conversation,
      },
      { amigo, store, clock: systemClock, audio: false },
    );
    const [ref] = await listArchivedConversations(store, sim.organizationId);
    expect(ref?.conversationId).toBe(conversation.id);
    const read = await readArchivedConversation(store, ref?.prefix ?? '');
    expect(read.conversation.id).toBe(conversation.id);
    expect(read.messages).toHaveLength(read.manifest.counts.messages);
    expect(read.insights).toHaveLength(read.manifest.counts.insights);
    const evaluation = evaluateRules(loadRules(resolve('examples/rules.yaml')), read);
    expect(evaluation.results).toHaveLength(loadRules(resolve('examples/rules.yaml')).rules.length);
  });
});

describe('amigo-qa rules check / rules test', () => {
  it('check: OK with the rule count, or every problem and exit 1', async () => {
    const out: string[] = [];
    expect(checkRules('examples/rules.yaml', (l) => out.push(l))).toBe(0);
    expect(out[0]).toMatch(/^OK examples\/rules\.yaml: \d+ rules$/);

    const { root } = await tempStore();
    const bad = join(root, 'bad.yaml');
    await writeFile(
      bad,
      'rules:\n  - name: loops\n    when: { states: { visit: { gte: 3 } } }\n    set: { loop: "{state}" }\n',
    );
    const err: string[] = [];
    expect(
      checkRules(
        bad,
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(1);
    expect(err.join('\n')).toContain(
      'rules[0] "loops" when.states.visit (line 3): is not a states field. Did you mean "visits"?',
    );
  });

  it('when a user writes 5,000 a and a b, then rules test with ^(a+)+$ finishes and reports no match', async () => {
    const { root, store } = await tempStore();
    const hostile = fixture(A, '2026-11-24T10:00:00.000Z');
    (hostile.messages[0] as MessageInstance).message = `${'a'.repeat(5000)}b`;
    await writeFolder(store, 'acme', hostile);
    const rules = join(root, 'rules.yaml');
    await writeFile(
      rules,
      [
        'rules:',
        '  - name: only a',
        "    when: { messages: { type: user-message, matches: '^(a+)+$' } }",
        '    set: { only_a: "yes" }',
        '  - name: a then b',
        "    when: { messages: { type: user-message, matches: '^(a|aa)+b$' } }",
        '    set: { a_then_b: "yes" }',
        '',
      ].join('\n'),
    );
    const json: string[] = [];
    expect(await testRules(rules, { archive: root, json: true }, (l) => json.push(l))).toBe(0);
    const [row] = JSON.parse(json.join('\n')) as Array<{
      results: Array<{ rule: string; matched: boolean }>;
      updates: Record<string, unknown>;
    }>;
    expect(row?.results.map((r) => [r.rule, r.matched])).toEqual([
      ['only a', false],
      ['a then b', true],
    ]);
    expect(row?.updates).toEqual({ a_then_b: 'yes' });

    const lookahead = join(root, 'lookahead.yaml');
    await writeFile(
      lookahead,
      'rules:\n  - name: no thanks\n    when: { messages: { matches: \'^(?!.*thanks)\' } }\n    set: { rude: "yes" }\n',
    );
    const err: string[] = [];
    expect(
      checkRules(
        lookahead,
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(1);
    expect(err.join('\n')).toContain(
      'rules[0] "no thanks" when.messages.matches (line 3): "^(?!.*thanks)" uses a lookahead ((?! at character 2), which rules do not support',
    );
  });

  it('test: what each rule would do to each archived conversation, and why, without Amigo', async () => {
    const { root, store } = await tempStore();
    await writeFolder(store, 'acme', fixture(A, '2026-11-24T10:00:00.000Z'));
    await writeFolder(store, 'acme', fixture(B, '2026-11-25T10:00:00.000Z'));
    const out: string[] = [];
    const code = await testRules('examples/rules.yaml', { archive: root, conversation: B }, (l) =>
      out.push(l),
    );
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain(`conversation ${B}`);
    expect(text).not.toContain(`conversation ${A}`);
    expect(text).toMatch(/would set {5}.*escalation="requested"/);
    expect(text).toMatch(
      /MATCH {2}escalation requests -> set escalation="requested", set review_priority="high"/,
    );
    expect(text).toContain('when.any[1].messages: user-message');
    expect(text).toMatch(/no {5}agent loops/);

    const json: string[] = [];
    expect(await testRules('examples/rules.yaml', { archive: root, json: true }, (l) => json.push(l))).toBe(
      0,
    );
    const rows = JSON.parse(json.join('\n')) as Array<{
      conversation_id: string;
      updates: Record<string, unknown>;
    }>;
    expect(rows.map((r) => r.conversation_id)).toEqual([A, B]);

    const err: string[] = [];
    expect(
      await testRules(
        'examples/rules.yaml',
        { archive: root, conversation: C },
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(1);
    expect(err[0]).toContain(`No committed archive folder for conversation ${C}`);
  });
});
