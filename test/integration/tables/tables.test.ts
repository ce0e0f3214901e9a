// The SQL tables of a real run: the simulator (the demo's seed), one local nightly cycle with
// examples/rules.yaml into a folder, then the run's parts written by the stage. Every table is read
// back by DuckDB (an independent Parquet reader, not the writer) and compared with the archive's own
// documents; every named query runs in DuckDB and is compared with an answer computed from those
// documents. Two facts are planted before the tables are written, so that the filters of two queries
// are exercised: one manifest whose num_messages differs, one stall record detected 30 days ago.
// Two conversations are evaluated a second time by the tag stage, with the simulator still up, so
// that the tags table meets both kinds of decision the first evaluation cannot make: a tag amigo-qa
// owns that no rule sets any more (removed, no rule) and a tag a person changed (dropped, not owned).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalAws } from '../../../local/fauxqs.ts';
import { runLocalCycle } from '../../../local/pipeline.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import type { AmigoClient } from '../../../shared/amigo/index.ts';
import {
  ArchiveReadError,
  listArchivedConversations,
  readArchivedConversation,
} from '../../../shared/archive/read.ts';
import {
  type Manifest,
  ManifestSchema,
  prettyJson,
  type StallRecord,
  StallRecordSchema,
  type TagsRecord,
  TagsRecordSchema,
} from '../../../shared/archive-format/documents.ts';
import { FILES, interactionOfStallKey } from '../../../shared/archive-format/keys.ts';
import { readDocument } from '../../../shared/archive-format/read-document.ts';
import { defaultPipelineConfig } from '../../../shared/config/pipeline-config.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import { conversationId } from '../../../shared/ids.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { applyTags } from '../../../shared/stages/apply-tags.ts';
import { readLiveTags } from '../../../shared/stages/live-tags.ts';
import {
  rebuildTables,
  type WriteTablesResult,
  writeRunTables,
} from '../../../shared/stages/write-tables.ts';
import { duckdbSetupSql } from '../../../shared/tables/duckdb.ts';
import { NAMED_QUERIES } from '../../../shared/tables/named-queries.ts';
import { amigoConfigFor, clientFor } from '../../support/client.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const DAY = 86_400_000;

interface Folder {
  readonly prefix: string;
  readonly manifest: Manifest;
  readonly conversation: Record<string, unknown>;
  readonly messages: Array<Record<string, unknown>>;
  readonly insights: Array<{ interaction_id: string; insights: Record<string, unknown> }>;
  readonly tags: TagsRecord | undefined;
}

let root: string;
let store: FsArchiveStore;
let runId: string;
let written: WriteTablesResult;
let folders: Folder[];
let stalls: StallRecord[];
let db: DuckDBInstance;
let con: DuckDBConnection;
const now = Date.now();

const deps = () => ({ store, clock: systemClock, log: silentTelemetry.log, rowGroupRows: 50 });

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** Views over the parts of a build, as the laptop's query command sets them up. */
async function openViews(result: WriteTablesResult, base: string): Promise<void> {
  for (const sql of duckdbSetupSql((t) =>
    result.parts.filter((p) => p.table === t.name).map((p) => join(base, ...p.key.split('/'))),
  ))
    await con.run(sql);
}

async function partBytes(result: WriteTablesResult): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of result.parts) {
    const body = await readFile(join(root, ...p.key.split('/')));
    out.set(p.key, createHash('sha256').update(body).digest('hex'));
  }
  return out;
}

async function listTables(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list('tables/')) keys.push(o.key);
  return keys;
}

/** Every object holding a `tool_name`, wherever it sits in an insights answer. */
function toolCallsIn(
  value: unknown,
  out: Array<Record<string, unknown>> = [],
): Array<Record<string, unknown>> {
  if (Array.isArray(value)) for (const v of value) toolCallsIn(v, out);
  else if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.tool_name === 'string') out.push(object);
    else for (const v of Object.values(object)) toolCallsIn(v, out);
  }
  return out;
}

/** The keys of `record` that exactly one of its matched rules sets or removes, with that rule. */
function soleDeciders(record: TagsRecord): Map<string, string> {
  const deciders = new Map<string, string[]>();
  for (const r of record.results.filter((x) => x.matched))
    for (const key of [...Object.keys(r.set), ...r.remove])
      deciders.set(key, [...(deciders.get(key) ?? []), r.rule]);
  return new Map(
    [...deciders].flatMap(([key, rules]) => (rules.length === 1 ? [[key, rules[0] as string]] : [])),
  );
}

/**
 * Evaluates two conversations again: one without the rule that set one of its tags, one after a
 * person changed one of its tags in Amigo (read back live, as `rules apply --live` does).
 */
async function reEvaluate(client: AmigoClient, organizationId: string, rules: ReturnType<typeof loadRules>) {
  const owning: Array<{ record: TagsRecord; createdAt: string; key: string; rule: string }> = [];
  for (const ref of await listArchivedConversations(store)) {
    const record = await readDocument(store, `${ref.prefix}${FILES.tags}`, TagsRecordSchema);
    if (!record?.owned) continue;
    const sole = soleDeciders(record);
    const key = Object.keys(record.owned).find((k) => sole.has(k));
    if (key === undefined) continue;
    const createdAt = (await readArchivedConversation(store, ref.prefix)).manifest.created_at;
    owning.push({ record, createdAt, key, rule: sole.get(key) as string });
  }
  const [retiring, personal] = owning;
  if (!retiring || !personal)
    throw new Error('the run left fewer than two conversations with a tag of their own');
  const job = (o: typeof retiring) => ({
    runId: null,
    organizationId,
    conversationId: conversationId(o.record.conversation_id),
    createdAt: o.createdAt,
  });
  const withoutRule = { ...rules, rules: rules.rules.filter((r) => r.name !== retiring.rule) };
  await applyTags(job(retiring), { amigo: client, store, rules: withoutRule, clock: systemClock });
  await client.modifyTags(personal.record.conversation_id, {
    updates: { [personal.key]: 'set by a person' },
    deletes: [],
  });
  const live = (await readLiveTags(client, [personal.record.conversation_id])).tags.get(
    personal.record.conversation_id,
  );
  await applyTags(job(personal), { amigo: client, store, rules, clock: systemClock, liveTags: live });
}

beforeAll(async () => {
  const sim = await startTestSimulator({
    seed: 7,
    conversations: 30,
    longConversations: 1,
    rateLimits: { enabled: false },
  });
  root = await mkdtemp(join(tmpdir(), 'tables-'));
  try {
    const rules = loadRules('examples/rules.yaml');
    const result = await runLocalCycle({
      config: { ...defaultPipelineConfig(), run: { workers: 4, maxReceiveCount: 3 } },
      amigo: amigoConfigFor(sim, { timeoutMs: 30_000 }),
      archive: root,
      rules,
    });
    runId = result.runId;
    store = new FsArchiveStore(root);
    await reEvaluate(clientFor(sim), sim.organizationId, rules);
  } finally {
    await sim.stop();
  }

  // Planted: a manifest whose API count differs (the manifest is not in its own file list).
  const refs = await listArchivedConversations(store);
  const mismatch = refs[0];
  if (!mismatch) throw new Error('the run archived nothing');
  const manifest = ManifestSchema.parse(JSON.parse(await readFile(join(root, mismatch.manifestKey), 'utf8')));
  await store.delete(mismatch.manifestKey);
  await store.put(
    mismatch.manifestKey,
    prettyJson({
      ...manifest,
      api: { num_messages: manifest.counts.messages + 2 },
      flags: ['num_messages_mismatch'],
    }),
  );
  // Planted: a stall detected 30 days ago (outside "the last 7 days").
  const stallKeys: string[] = [];
  for await (const o of store.list('stalled/')) if (interactionOfStallKey(o.key)) stallKeys.push(o.key);
  const oldKey = stallKeys[0];
  if (!oldKey) throw new Error('the run found no stall');
  const old = (await readDocument(store, oldKey, StallRecordSchema)) as StallRecord;
  await store.put(oldKey, prettyJson({ ...old, requested_at: new Date(now - 30 * DAY).toISOString() }));

  folders = [];
  for (const ref of await listArchivedConversations(store)) {
    const record = await readArchivedConversation(store, ref.prefix);
    folders.push({
      prefix: ref.prefix,
      manifest: record.manifest,
      conversation: record.conversation as unknown as Record<string, unknown>,
      messages: record.messages as unknown as Array<Record<string, unknown>>,
      insights: record.insights as unknown as Folder['insights'],
      tags: await readDocument(store, `${ref.prefix}${FILES.tags}`, TagsRecordSchema),
    });
  }
  stalls = [];
  for (const key of stallKeys)
    stalls.push((await readDocument(store, key, StallRecordSchema)) as StallRecord);

  written = await writeRunTables(deps(), { organizationId: sim.organizationId, runId });
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
  await openViews(written, root);
}, 180_000);

afterAll(async () => {
  con?.closeSync();
  await rm(root, { recursive: true, force: true });
});

describe("a run's tables, read back by DuckDB", () => {
  it("when the run has written its tables, then each part is under tables/<table>/org=<org>/date=<day>/<run-id>.parquet and the date is the conversations' day", async () => {
    const keys = written.parts.map((p) => p.key);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys)
      expect(key).toMatch(
        new RegExp(`^tables/[a-z]+/org=sim-org/date=\\d{4}-\\d{2}-\\d{2}/${runId}\\.parquet$`),
      );

    const got = await rows(`SELECT conversation_id, "date" FROM conversations ORDER BY conversation_id`);

    const expected = folders
      .filter((f) => f.manifest.run_id === runId)
      .map((f) => ({ conversation_id: f.manifest.conversation_id, date: f.manifest.created_at.slice(0, 10) }))
      .sort((a, b) => a.conversation_id.localeCompare(b.conversation_id));
    expect(got).toEqual(expected);
  });

  it('when the conversations table is read, then each row holds its manifest, conversation.json, last state and tags', async () => {
    const got =
      await rows(`SELECT conversation_id, service_id, epoch_ms(created_at) AS created_ms, epoch_ms(archived_at) AS archived_ms,
      num_messages, messages, user_messages, agent_messages, interactions, audio, voice, is_finished, final_state,
      CAST(flags AS VARCHAR) AS flags, CAST(tags AS VARCHAR) AS tags FROM conversations ORDER BY conversation_id`);

    const expected = folders
      .map((f) => ({
        conversation_id: f.manifest.conversation_id,
        service_id: f.manifest.service_id,
        created_ms: String(Date.parse(f.manifest.created_at)),
        archived_ms: String(Date.parse(f.manifest.archived_at)),
        num_messages: f.manifest.api.num_messages,
        messages: f.messages.length,
        user_messages: f.messages.filter((m) => m.message_type === 'user-message').length,
        agent_messages: f.messages.filter((m) => m.message_type === 'agent-message').length,
        interactions: f.manifest.counts.interactions,
        audio: f.manifest.files.filter((file) => file.path.startsWith('audio/')).length,
        voice: f.messages.some((m) => m.format === 'voice'),
        is_finished: f.conversation.is_finished,
        final_state: (f.insights.at(-1)?.insights.current_state_name as string | undefined) ?? null,
        flags: JSON.stringify(f.manifest.flags),
        tags: JSON.stringify(f.tags?.after ?? f.conversation.tags),
      }))
      .sort((a, b) => a.conversation_id.localeCompare(b.conversation_id));
    expect(got).toEqual(expected);
  });

  it('when the messages table is read, then it holds every line of every messages.jsonl, with its recording key', async () => {
    const got =
      await rows(`SELECT conversation_id, message_id, interaction_id, message_type, format, sender, message,
      epoch_ms(created_at) AS created_ms, audio_key FROM messages ORDER BY conversation_id, position`);

    const expected = [...folders]
      .sort((a, b) => a.manifest.conversation_id.localeCompare(b.manifest.conversation_id))
      .flatMap((f) =>
        f.messages.map((m) => {
          const file = f.manifest.files.find((x) => x.path.startsWith(`audio/${m.id}.`));
          return {
            conversation_id: f.manifest.conversation_id,
            message_id: m.id,
            interaction_id: m.interaction_id,
            message_type: m.message_type,
            format: m.format,
            sender: m.sender,
            message: m.message,
            created_ms: String(Date.parse(m.created_at as string)),
            audio_key: file ? `${f.prefix}${file.path}` : null,
          };
        }),
      );
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
    expect(got.some((m) => m.audio_key !== null)).toBe(true);
  });

  it('when the interactions table is read, then it has one row per insights line with its state and every tool call', async () => {
    const got =
      await rows(`SELECT conversation_id, interaction_id, current_state_name, transitions, tool_call_count,
      json_array_length(tool_calls) AS listed, json_array_length(reflections) AS reflections FROM interactions
      ORDER BY conversation_id, position`);

    const expected = [...folders]
      .sort((a, b) => a.manifest.conversation_id.localeCompare(b.manifest.conversation_id))
      .flatMap((f) =>
        f.insights.map((line) => {
          const calls = toolCallsIn(line.insights).length;
          return {
            conversation_id: f.manifest.conversation_id,
            interaction_id: line.interaction_id,
            current_state_name: line.insights.current_state_name,
            transitions: (line.insights.state_transition_logs as unknown[]).length,
            tool_call_count: calls,
            listed: String(calls),
            reflections: String((line.insights.reflections as unknown[]).length),
          };
        }),
      );
    expect(got).toEqual(expected);
    expect(expected.some((i) => i.tool_call_count > 0)).toBe(true);
  });

  it('when the tags table is read, then every update, delete and drop of tags.json is a row with its rule, action and cause', async () => {
    const got = await rows(
      `SELECT conversation_id, key, value, rule, action, cause FROM tags WHERE action <> 'unchanged' ORDER BY conversation_id, key`,
    );

    const expected = folders
      .flatMap((f) => {
        const t = f.tags;
        if (!t) return [];
        // The deciding rule of a key: the last matched rule (file order) that sets or removes it.
        const decider = new Map<string, string>();
        for (const r of t.results.filter((x) => x.matched))
          for (const key of [...Object.keys(r.set), ...r.remove]) decider.set(key, r.rule);
        const rule = (key: string) => decider.get(key) ?? null;
        return [
          ...Object.entries(t.applied.updates).map(([key, value]) => ({
            key,
            value,
            rule: rule(key),
            action: 'set',
            cause: null,
          })),
          ...t.applied.deletes.map((key) => ({
            key,
            value: null,
            rule: rule(key),
            action: 'removed',
            cause: null,
          })),
          ...t.dropped.map((d) => ({
            key: d.key,
            value: d.value,
            rule: rule(d.key),
            action: 'dropped',
            cause: d.cause ?? 'limit',
          })),
        ].map((r) => ({ conversation_id: t.conversation_id, ...r }));
      })
      .sort((a, b) => a.conversation_id.localeCompare(b.conversation_id) || a.key.localeCompare(b.key));
    expect(got).toEqual(expected);
    expect(got).toContainEqual(expect.objectContaining({ action: 'removed', rule: null }));
    expect(got).toContainEqual(expect.objectContaining({ action: 'dropped', cause: 'not-owned' }));
  });

  it('when the stalls table is read, then each stall record of the run is one row', async () => {
    const got =
      await rows(`SELECT conversation_id, interaction_id, service_id, status, epoch_ms(requested_at) AS requested_ms,
      wait_ms, CAST(recommended_responses AS VARCHAR) AS recommended FROM stalls ORDER BY conversation_id, interaction_id`);

    const expected = stalls
      .filter((s) => s.run_id === runId)
      .map((s) => ({
        conversation_id: s.conversation_id,
        interaction_id: s.interaction_id,
        service_id: s.service_id,
        status: s.status,
        requested_ms: String(Date.parse(s.requested_at)),
        wait_ms: String(Date.parse(s.requested_at) - Date.parse(s.last_agent_message.created_at)),
        recommended: JSON.stringify(s.recommended_responses),
      }))
      .sort(
        (a, b) =>
          a.conversation_id.localeCompare(b.conversation_id) ||
          a.interaction_id.localeCompare(b.interaction_id),
      );
    expect(got).toEqual(expected);
  });
});

describe('the named queries in DuckDB over the run', () => {
  const named = (name: string) => {
    const query = NAMED_QUERIES.find((q) => q.name === name);
    if (!query) throw new Error(`no named query ${name}`);
    return rows(query.sql);
  };

  it('when stalls-per-service runs, then it counts the stalls detected in the last 7 days per service', async () => {
    const got = await named('stalls-per-service');

    const recent = stalls.filter((s) => s.run_id === runId && Date.parse(s.requested_at) >= now - 7 * DAY);
    expect(recent.length).toBeLessThan(stalls.length);
    const byService = new Map<string, StallRecord[]>();
    for (const s of recent) byService.set(s.service_id, [...(byService.get(s.service_id) ?? []), s]);
    const expected = [...byService]
      .map(([service_id, list]) => ({
        service_id,
        stalled_interactions: String(list.length),
        recommended: String(list.filter((s) => s.status === 'recommended').length),
        rejected: String(list.filter((s) => s.status === 'rejected').length),
        unanswered: String(list.filter((s) => s.status === 'requested' || s.status === 'failed').length),
      }))
      .sort(
        (a, b) =>
          Number(b.stalled_interactions) - Number(a.stalled_interactions) ||
          a.service_id.localeCompare(b.service_id),
      );
    expect(got).toEqual(expected);
  });

  it('when rule-matches runs, then each rule counts the conversations where it decided a tag', async () => {
    const got = await named('rule-matches');

    // The deciding rule of a key: the last matched rule (file order) that sets or removes it.
    const perRule = new Map<string, { conversations: Set<string>; decisions: number }>();
    for (const f of folders) {
      if (!f.tags) continue;
      const decider = new Map<string, string>();
      for (const r of f.tags.results.filter((x) => x.matched))
        for (const key of [...Object.keys(r.set), ...r.remove]) decider.set(key, r.rule);
      for (const rule of decider.values()) {
        const entry = perRule.get(rule) ?? { conversations: new Set(), decisions: 0 };
        entry.conversations.add(f.tags.conversation_id);
        entry.decisions++;
        perRule.set(rule, entry);
      }
    }
    const expected = [...perRule]
      .map(([rule, e]) => ({
        rule,
        conversations: String(e.conversations.size),
        decisions: String(e.decisions),
      }))
      .sort((a, b) => Number(b.conversations) - Number(a.conversations) || a.rule.localeCompare(b.rule));
    expect(got).toEqual(expected);
    expect(got.length).toBeGreaterThan(1);
  });

  it('when drop-off-states runs, then it counts the final state of the conversations per service', async () => {
    const got = await named('drop-off-states');

    const counts = new Map<string, number>();
    for (const f of folders) {
      const state = f.insights.at(-1)?.insights.current_state_name as string | undefined;
      if (state === undefined) continue;
      const id = `${f.manifest.service_id}\u0000${state}`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const expected = [...counts]
      .map(([id, n]) => {
        const [service_id = '', final_state = ''] = id.split('\u0000');
        return { service_id, final_state, conversations: String(n) };
      })
      .sort(
        (a, b) =>
          Number(b.conversations) - Number(a.conversations) ||
          a.service_id.localeCompare(b.service_id) ||
          a.final_state.localeCompare(b.final_state),
      );
    expect(got).toEqual(expected);
  });

  it('when tool-latency-p95 runs, then each tool has its call count, nearest-rank p95 and slowest call', async () => {
    const got = await named('tool-latency-p95');

    const durations = new Map<string, number[]>();
    for (const f of folders)
      for (const line of f.insights)
        for (const call of toolCallsIn(line.insights))
          durations.set(call.tool_name as string, [
            ...(durations.get(call.tool_name as string) ?? []),
            call.duration as number,
          ]);
    const expected = [...durations]
      .map(([tool_name, list]) => {
        const sorted = [...list].sort((a, b) => a - b);
        let k = 1;
        while (k / sorted.length < 0.95) k++;
        return {
          tool_name,
          calls: String(sorted.length),
          p95_seconds: sorted[k - 1],
          max_seconds: sorted.at(-1),
        };
      })
      .sort((a, b) => (b.p95_seconds ?? 0) - (a.p95_seconds ?? 0) || a.tool_name.localeCompare(b.tool_name));
    expect(got).toEqual(expected);
    expect(got.length).toBeGreaterThan(1);
  });

  it('when num-messages-mismatch runs, then it lists the conversation whose archived count differs from num_messages', async () => {
    const got = await named('num-messages-mismatch');

    const expected = folders
      .filter((f) => f.manifest.counts.messages !== f.manifest.api.num_messages)
      .map((f) => f.manifest.conversation_id);
    expect(expected).toHaveLength(1);
    expect(got.map((r) => r.conversation_id)).toEqual(expected);
    expect(got[0]?.difference).toBe(-2);
  });
});

describe('writing again, rebuilding, and bad input', () => {
  it('when the tables are rebuilt from the archive, then every part has the same bytes as the run wrote', async () => {
    const before = await partBytes(written);

    const rebuilt = await rebuildTables(deps(), {});

    expect(rebuilt.parts.map((p) => p.key)).toEqual(written.parts.map((p) => p.key));
    expect(await partBytes(rebuilt)).toEqual(before);
    expect(rebuilt.removed).toEqual([]);
  });

  it('when a folder of the run no longer matches its manifest, then the write fails and leaves the earlier parts byte for byte, and no other file', async () => {
    const before = await partBytes(written);
    const keysBefore = await listTables();
    const victim = folders.find((f) => f.manifest.run_id === runId && f.messages.length > 0);
    if (!victim) throw new Error('no folder to damage');
    const path = join(root, ...`${victim.prefix}${FILES.messages}`.split('/'));
    const original = await readFile(path);
    await writeFile(path, Buffer.concat([original, Buffer.from('{"id":"x"}\n')]));
    try {
      await expect(writeRunTables(deps(), { organizationId: 'sim-org', runId })).rejects.toThrow(
        ArchiveReadError,
      );
    } finally {
      await writeFile(path, original);
    }

    expect(await listTables()).toEqual(keysBefore);
    expect(await partBytes(written)).toEqual(before);
  });

  it('when a part is missing and its build fails, then no file appears under its key', async () => {
    const victim = folders.find((f) => f.manifest.run_id === runId);
    if (!victim) throw new Error('no folder to damage');
    const date = victim.manifest.created_at.slice(0, 10);
    const key = `tables/messages/org=sim-org/date=${date}/${runId}.parquet`;
    await store.delete(key);
    const path = join(root, ...`${victim.prefix}${FILES.insights}`.split('/'));
    const original = await readFile(path);
    await writeFile(path, Buffer.concat([original, Buffer.from('not json\n')]));
    try {
      await expect(writeRunTables(deps(), { organizationId: 'sim-org', runId })).rejects.toThrow();
    } finally {
      await writeFile(path, original);
    }

    expect(await store.head(key)).toBeUndefined();
    const again = await writeRunTables(deps(), { organizationId: 'sim-org', runId });
    expect(again.parts.map((p) => p.key)).toContain(key);
  });

  it('when the archive is on S3 (the emulator), then the run writes the same parts with the same bytes', async () => {
    const aws = await startLocalAws();
    try {
      const client = aws.s3();
      await client.send(new CreateBucketCommand({ Bucket: 'qa-tables' }));
      const s3 = new S3ArchiveStore({ client, bucket: 'qa-tables', prefix: 'amigo' });
      // The documents the tables read; the recordings themselves are not read.
      for (const prefix of ['conversations/', 'runs/', 'stalled/'])
        for await (const o of store.list(prefix)) {
          if (/\/audio\//.test(o.key)) continue;
          const body = await store.get(o.key);
          if (body) await s3.put(o.key, body.body);
        }

      const onS3 = await writeRunTables({ ...deps(), store: s3 }, { organizationId: 'sim-org', runId });

      expect(onS3.parts.map((p) => p.key)).toEqual(written.parts.map((p) => p.key));
      const local = await partBytes(written);
      for (const p of onS3.parts) {
        const body = await s3.get(p.key);
        expect(
          createHash('sha256')
            .update(body?.body ?? '')
            .digest('hex'),
          p.key,
        ).toBe(local.get(p.key));
      }
    } finally {
      await aws.stop();
    }
  });

  it('when a part nothing belongs in any more exists, then a rebuild from a later day keeps it and a whole rebuild removes it', async () => {
    const stale = 'tables/messages/org=sim-org/date=2000-01-01/2000-01-01T02-00-00Z-gone00.parquet';
    const first = written.parts[0];
    if (!first) throw new Error('no part');
    const copy = await store.get(first.key);
    await store.put(stale, copy?.body ?? '');

    const partial = await rebuildTables(deps(), { since: '2026-01-01' });
    const kept = await store.head(stale);
    const whole = await rebuildTables(deps(), {});

    expect(partial.removed).toEqual([]);
    expect(kept).toBeDefined();
    expect(whole.removed).toEqual([stale]);
    expect(await store.head(stale)).toBeUndefined();
    expect(whole.parts.map((p) => p.key)).toEqual(written.parts.map((p) => p.key));
  });
});
