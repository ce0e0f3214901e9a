// The archive stage against the simulator (real HTTP) and a real archive store: a temp folder, and
// S3 on the embedded emulator behind the proxy that enforces create-only writes (the emulator
// itself ignores If-None-Match, see test/integration/archive-store/emulator-gap.test.ts).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import type { AmigoClient } from '../../../shared/amigo/client.ts';
import { type Manifest, ManifestSchema, prettyJson } from '../../../shared/archive-format/documents.ts';
import { conversationPrefix, manifestKey, STAGING_DIR } from '../../../shared/archive-format/keys.ts';
import { parseDocument } from '../../../shared/archive-format/read-document.ts';
import { conversationId } from '../../../shared/ids.ts';
import type { ArchiveJobMessage } from '../../../shared/jobs/archive.ts';
import { type TagJobMessage, tagJobId } from '../../../shared/jobs/tag.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import type { ArchiveStore } from '../../../shared/ports/archive-store.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import {
  ArchiveDeadlineError,
  ArchiveIntegrityError,
  type ArchiveJob,
  archiveConversation,
  UnusableIdError,
} from '../../../shared/stages/archive-conversation.ts';
import { runArchiveJob } from '../../../shared/stages/archive-job.ts';
import { clientFor } from '../../support/client.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from '../../support/conditional-s3-proxy.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { recordingArchiveStore, writesAroundCommit } from '../../support/recording-archive-store.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';
import { startTestSimulator } from '../../support/simulator.ts';

/** A stored manifest's text, validated as every reader does. */
function parseManifest(text: string): Manifest {
  return parseDocument('manifest.json', text, ManifestSchema);
}

type TestSim = Awaited<ReturnType<typeof startTestSimulator>>;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { conversations?: number } = {}) {
  const sim = await startTestSimulator({
    rateLimits: { enabled: false },
    conversations: options.conversations ?? 20,
  });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'archive-stage-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const amigo = clientFor(sim);
  return { sim, root, store, amigo };
}

async function s3Store(): Promise<ArchiveStore> {
  const aws: LocalAws = await startLocalAws();
  const proxy: ConditionalS3Proxy = await startConditionalS3Proxy(aws.endpoint);
  cleanups.push(
    () => aws.stop(),
    () => proxy.stop(),
  );
  const client = aws.s3({ endpoint: proxy.endpoint });
  await client.send(new CreateBucketCommand({ Bucket: 'archive' }));
  return new S3ArchiveStore({ client, bucket: 'archive', prefix: 'qa' });
}

function job(sim: TestSim, conversation: ConversationInstance): ArchiveJob {
  return {
    runId: null,
    organizationId: sim.organizationId,
    conversationId: conversationId(conversation.id),
    conversation,
  };
}

function pick(sim: TestSim, predicate: (c: ConversationInstance) => boolean): ConversationInstance {
  const found = sim.control.conversations().find(predicate);
  if (!found) throw new Error('the simulated organisation has no such conversation');
  return found;
}

const hasVoice = (sim: TestSim) => (c: ConversationInstance) =>
  c.is_finished && sim.control.messages(c.id).some((m) => m.format === 'voice');

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * `amigo`, and a deadline signal that fires on its `calls`-th insights call, as a Lambda deadline
 * would mid-conversation.
 */
function stoppingAfter(amigo: AmigoClient, calls: number): { amigo: AmigoClient; signal: AbortSignal } {
  const deadline = new AbortController();
  let made = 0;
  const timed: AmigoClient = Object.create(amigo);
  timed.getInteractionInsights = async (...args) => {
    if (++made === calls) deadline.abort(new DOMException('deadline', 'TimeoutError'));
    return amigo.getInteractionInsights(...args);
  };
  return { amigo: timed, signal: deadline.signal };
}

describe('archiveConversation', () => {
  it('when a finished voice conversation is archived, then every file is complete, ordered and matches its manifest', async () => {
    const { sim, root, store, amigo } = await setup();
    const conversation = pick(sim, hasVoice(sim));

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status).toBe('archived');
    const folder = join(
      root,
      conversationPrefix(sim.organizationId, conversation.created_at, conversation.id),
    );
    const manifest = parseManifest(await readFile(join(folder, 'manifest.json'), 'utf8'));
    for (const file of manifest.files) {
      const bytes = await readFile(join(folder, file.path));
      expect(bytes.byteLength, file.path).toBe(file.bytes);
      expect(sha256(bytes), file.path).toBe(file.sha256);
    }
    const truth = sim.control.messages(conversation.id);
    const lines = (await readFile(join(folder, 'messages.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((m) => m.id)).toEqual(truth.map((m) => m.id));
    expect(new Set(lines.map((m) => m.message_type))).toContain('agent-inner-thought');
    expect(manifest.counts.messages).toBe(conversation.num_messages);
    expect(manifest.flags).toEqual([]);
    const agentInteractions = [
      ...new Set(truth.filter((m) => m.message_type === 'agent-message').map((m) => m.interaction_id)),
    ];
    const insights = (await readFile(join(folder, 'insights.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(insights.map((i) => i.interaction_id)).toEqual(agentInteractions);
    expect(insights[0].insights).toEqual(
      sim.control.insights(conversation.id, agentInteractions[0] as string),
    );
    const voice = truth.filter((m) => m.format === 'voice');
    expect(manifest.counts.audio).toBe(voice.length);
    for (const message of voice) {
      const bytes = await readFile(join(folder, 'audio', `${message.id}.wav`));
      expect(sha256(bytes)).toBe(await sim.control.audio(message.id)?.sha256());
    }
    expect(JSON.parse(await readFile(join(folder, 'conversation.json'), 'utf8'))).toEqual(conversation);
  });

  it('when a conversation is already archived, then nothing is fetched and nothing is written', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.is_finished);
    await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });
    sim.control.resetStats();

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status).toBe('already-archived');
    expect(sim.control.stats().requests).toHaveLength(0);
  });

  it('when a conversation has more than 500 messages, then all pages are archived', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.num_messages > 500);

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status === 'archived' && outcome.manifest.counts.messages).toBe(conversation.num_messages);
  });

  it('when the deadline comes part-way through a long conversation, then what was fetched is staged and the next delivery fetches only the rest, committing once', async () => {
    const { sim, store, amigo, root } = await setup();
    const conversation = pick(sim, (c) => c.num_messages > 500);

    const first = await archiveConversation(job(sim, conversation), {
      ...stoppingAfter(amigo, 120),
      store,
      clock: systemClock,
      checkpointEvery: 25,
    }).catch((e: unknown) => e);

    expect(first).toBeInstanceOf(ArchiveDeadlineError);
    expect((first as ArchiveDeadlineError).progressed).toBe(true);
    const key = manifestKey(sim.organizationId, conversation.created_at, conversation.id);
    expect(await store.head(key)).toBeUndefined();
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const staged = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}`)) staged.push(o.key);
    expect(staged.length).toBeGreaterThan(1);
    sim.control.resetStats();

    const second = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(second.status).toBe('archived');
    const manifest = parseManifest(await readFile(join(root, key), 'utf8'));
    const interactions = new Set(
      sim.control
        .messages(conversation.id)
        .filter((m) => m.message_type === 'agent-message')
        .map((m) => m.interaction_id),
    );
    expect(manifest.counts.insights).toBe(interactions.size);
    const insightCalls = sim.control.stats().calls['get-interaction-insights']?.['200'] ?? 0;
    expect(insightCalls).toBeLessThanOrEqual(interactions.size - 100);
    expect(sim.control.stats().calls['get-conversation-messages']).toBeUndefined();
    const lines = (await readFile(join(root, prefix, 'insights.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).interaction_id)).toEqual([...interactions]);
    const left = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}`)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('when two deliveries of one long conversation stage at once, then neither overwrites the other and the commit removes all', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.num_messages > 500);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const puts: string[] = [];
    const put: ArchiveStore['put'] = (key, body, options) => {
      if (key.startsWith(`${prefix}${STAGING_DIR}chunk-`)) puts.push(key);
      return store.put(key, body, options);
    };
    const watched = new Proxy(store, {
      get: (target, name) => {
        if (name === 'put') return put;
        const value = Reflect.get(target, name);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const stopping = () =>
      archiveConversation(job(sim, conversation), {
        ...stoppingAfter(amigo, 60),
        store: watched,
        clock: systemClock,
        checkpointEvery: 20,
      }).catch((e: unknown) => e);

    const outcomes = await Promise.all([stopping(), stopping()]);

    expect(outcomes.every((o) => o instanceof ArchiveDeadlineError)).toBe(true);
    const staged: string[] = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}chunk-`)) staged.push(o.key);
    expect(puts.length).toBeGreaterThan(2);
    expect(new Set(puts).size).toBe(puts.length);
    expect(staged.sort()).toEqual([...puts].sort());
    const done = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });
    expect(done.status).toBe('archived');
    const left: string[] = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}`)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('when a stop left only the staged messages, then the next delivery uses them and removes them after the commit', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.num_messages > 500);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    await archiveConversation(job(sim, conversation), {
      ...stoppingAfter(amigo, 10),
      store,
      clock: systemClock,
    }).catch(() => undefined);
    // The stop came between the messages and the first chunk.
    for await (const o of store.list(`${prefix}${STAGING_DIR}`))
      if (!o.key.endsWith('/messages.jsonl')) await store.delete(o.key);
    sim.control.resetStats();

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status).toBe('archived');
    expect(sim.control.stats().calls['get-conversation-messages']).toBeUndefined();
    const left: string[] = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}`)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('when a committed conversation still has a staging area, then the next delivery removes it and fetches nothing', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.is_finished);
    await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    await store.put(`${prefix}${STAGING_DIR}chunk-0badc0de-00001.json`, '{"insights":[],"audio":[]}', {
      contentType: 'application/json',
    });
    sim.control.resetStats();

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status).toBe('already-archived');
    expect(sim.control.stats().requests).toHaveLength(0);
    const left: string[] = [];
    for await (const o of store.list(`${prefix}${STAGING_DIR}`)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('when the API lists a message whose id cannot name a file, then the conversation is set aside with a clear reason before anything is written', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, hasVoice(sim));
    const broken: typeof amigo = Object.create(amigo);
    broken.messages = async function* (...args) {
      let first = true;
      for await (const m of amigo.messages(...args)) {
        yield first ? { ...m, id: '../../../escape' } : m;
        first = false;
      }
    };

    const error = await archiveConversation(job(sim, conversation), {
      amigo: broken,
      store,
      clock: systemClock,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnusableIdError);
    expect((error as Error).message).toMatch(/cannot name a file or a URL/);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const written = [];
    for await (const o of store.list(prefix)) written.push(o.key);
    expect(written).toEqual([]);
  });

  it('when the API reports more messages than it returns, then the gap is flagged, never silent', async () => {
    const { sim, store, amigo } = await setup();
    const listed = pick(sim, (c) => c.is_finished);
    const conversation = { ...listed, num_messages: listed.num_messages + 1 };

    const outcome = await archiveConversation(job(sim, conversation), { amigo, store, clock: systemClock });

    expect(outcome.status === 'archived' && outcome.manifest.flags).toEqual(['num_messages_mismatch']);
    expect(outcome.status === 'archived' && outcome.manifest.api.num_messages).toBe(listed.num_messages + 1);
  });

  it('when strict and the counts differ, then the conversation fails permanently and no manifest is written', async () => {
    const { sim, store, amigo } = await setup();
    const listed = pick(sim, (c) => c.is_finished);
    const conversation = { ...listed, num_messages: listed.num_messages + 1 };

    const act = archiveConversation(job(sim, conversation), {
      amigo,
      store,
      clock: systemClock,
      strict: true,
    });

    await expect(act).rejects.toBeInstanceOf(ArchiveIntegrityError);
    expect(await store.head(manifestKey(sim.organizationId, listed.created_at, listed.id))).toBeUndefined();
  });

  it('when two deliveries of the same job run at once on S3, then one manifest commits, it matches the stored files, and one conversation is counted archived', async () => {
    const { sim, amigo } = await setup();
    const store = await s3Store();
    const conversation = pick(sim, hasVoice(sim));
    let counted = 0;
    const deps = { amigo, store, clock: systemClock, onArchived: () => void counted++ };

    const outcomes = await Promise.all([
      archiveConversation(job(sim, conversation), deps),
      archiveConversation(job(sim, conversation), deps),
    ]);

    expect(outcomes.map((o) => o.status).sort()).toEqual(['archived', 'archived']);
    expect(outcomes.filter((o) => o.status === 'archived' && o.duplicate)).toHaveLength(1);
    expect(counted).toBe(1);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const stored = await store.get(`${prefix}manifest.json`);
    const manifest = parseManifest(String(stored?.body));
    for (const file of manifest.files) {
      const body = await store.get(prefix + file.path);
      expect(sha256(body?.body as Buffer), file.path).toBe(file.sha256);
    }
  });

  it('when an earlier delivery committed a manifest and this one rewrote a file differently, then the manifest is rebuilt from what is stored', async () => {
    const { sim, store, amigo } = await setup();
    const listed = pick(sim, (c) => c.is_finished);
    const first = await archiveConversation(job(sim, listed), { amigo, store, clock: systemClock });
    if (first.status !== 'archived') throw new Error('expected an archive');
    // The earlier delivery saw different tags, so this one's conversation.json differs. A store
    // that hides the manifest from head() stands in for a delivery that checked just before the
    // other one committed.
    const prefix = conversationPrefix(sim.organizationId, listed.created_at, listed.id);
    const hidingHead: ArchiveStore = {
      location: store.location,
      get: (key) => store.get(key),
      getStream: (key) => store.getStream(key),
      head: async (key) => (key.endsWith('manifest.json') ? undefined : store.head(key)),
      put: (key, body, options) => store.put(key, body, options),
      putStream: (key, body, options) => store.putStream(key, body, options),
      list: (prefix) => store.list(prefix),
      delete: (key) => store.delete(key),
    };
    const retagged = { ...listed, tags: { ...listed.tags, reviewed: 'yes' } };

    let counted = 0;
    const second = await archiveConversation(job(sim, retagged), {
      amigo,
      store: hidingHead,
      clock: systemClock,
      onArchived: () => void counted++,
    });

    expect(second.status === 'archived' && second.duplicate).toBe(true);
    expect(counted).toBe(0);
    const manifest = parseManifest(String((await store.get(`${prefix}manifest.json`))?.body));
    const conversationFile = manifest.files.find((f) => f.path === 'conversation.json');
    const stored = await store.get(`${prefix}conversation.json`);
    expect(conversationFile?.sha256).toBe(sha256(stored?.body as Buffer));
    expect(prettyJson(manifest)).not.toBe(prettyJson(first.manifest));
  });
});

describe('archiveConversation write order', () => {
  it('when a voice conversation is archived, then the manifest is the last write of its folder, once, after every file it lists is in place', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, hasVoice(sim));
    const recorded = recordingArchiveStore(store);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const key = manifestKey(sim.organizationId, conversation.created_at, conversation.id);

    const outcome = await archiveConversation(job(sim, conversation), {
      amigo,
      store: recorded.store,
      clock: systemClock,
    });

    if (outcome.status !== 'archived') throw new Error(`expected an archive, got ${outcome.status}`);
    const order = writesAroundCommit(recorded.events, prefix, key, STAGING_DIR);
    expect(order.manifestPuts).toBe(1);
    expect(order.runningAtCommit).toEqual([]);
    expect(order.writtenAfter).toEqual([]);
    expect(outcome.manifest.files.some((f) => f.path.startsWith('audio/'))).toBe(true);
    for (const file of outcome.manifest.files) expect(order.settledBefore, file.path).toContain(file.path);
  });

  it('when a long conversation takes two deliveries, then only the second writes the manifest, once, as the last write of the folder', async () => {
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.num_messages > 500);
    const recorded = recordingArchiveStore(store);
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const key = manifestKey(sim.organizationId, conversation.created_at, conversation.id);
    const first = await archiveConversation(job(sim, conversation), {
      ...stoppingAfter(amigo, 60),
      store: recorded.store,
      clock: systemClock,
      checkpointEvery: 20,
    }).catch((e: unknown) => e);
    const firstDelivery = recorded.events.length;

    const second = await archiveConversation(job(sim, conversation), {
      amigo,
      store: recorded.store,
      clock: systemClock,
    });

    expect(first).toBeInstanceOf(ArchiveDeadlineError);
    expect(second.status).toBe('archived');
    expect(
      writesAroundCommit(recorded.events.slice(0, firstDelivery), prefix, key, STAGING_DIR).manifestPuts,
    ).toBe(0);
    const order = writesAroundCommit(recorded.events, prefix, key, STAGING_DIR);
    expect(order.manifestPuts).toBe(1);
    expect(order.runningAtCommit).toEqual([]);
    expect(order.writtenAfter).toEqual([]);
    expect(order.settledBefore.some((path) => path.startsWith(STAGING_DIR))).toBe(true);
  });
});

describe('archiveConversation after an interrupted racing delivery', () => {
  it('when files under a committed manifest were replaced and that delivery stopped, then the redelivery rebuilds the manifest from what is stored', async () => {
    const { sim, store, amigo } = await setup();
    const listed = pick(sim, (c) => c.is_finished);
    await archiveConversation(job(sim, listed), { amigo, store, clock: systemClock });
    const prefix = conversationPrefix(sim.organizationId, listed.created_at, listed.id);
    // The racing delivery saw other tags, rewrote conversation.json, then died before its manifest.
    const rewritten = `${JSON.stringify({ ...listed, tags: { ...listed.tags, late: 'yes' } }, null, 2)}\n`;
    await store.put(`${prefix}conversation.json`, rewritten);

    const redelivered = await archiveConversation(job(sim, listed), { amigo, store, clock: systemClock });

    expect(redelivered).toMatchObject({ status: 'already-archived', repaired: true });
    const manifest = parseManifest(String((await store.get(`${prefix}manifest.json`))?.body));
    expect(manifest.files.find((f) => f.path === 'conversation.json')?.sha256).toBe(sha256(rewritten));
  });

  it('when the committed folder is intact, then a redelivery changes nothing', async () => {
    const { sim, store, amigo } = await setup();
    const listed = pick(sim, (c) => c.is_finished);
    await archiveConversation(job(sim, listed), { amigo, store, clock: systemClock });
    const before = (await store.head(manifestKey(sim.organizationId, listed.created_at, listed.id)))?.etag;

    const redelivered = await archiveConversation(job(sim, listed), { amigo, store, clock: systemClock });

    expect(redelivered).toMatchObject({ status: 'already-archived', repaired: false });
    expect((await store.head(manifestKey(sim.organizationId, listed.created_at, listed.id)))?.etag).toBe(
      before,
    );
  });
});

describe('runArchiveJob', () => {
  it('when the tag job cannot be sent after the commit, then the conversation is counted archived once, and the redelivery that finishes the job counts none', async () => {
    // Arrange
    const { sim, store, amigo } = await setup();
    const conversation = pick(sim, (c) => c.is_finished);
    const message: ArchiveJobMessage = {
      ...job(sim, conversation),
      kind: 'archive',
      v: 1,
      deferrals: 0,
      continuations: 0,
    };
    const tagJobs = new MemoryQueue<TagJobMessage>();
    tagJobs.refuse.add(tagJobId(conversation.id));
    let counted = 0;
    const deps = {
      amigo,
      store,
      clock: systemClock,
      tagJobs,
      telemetry: silentTelemetry,
      onArchived: () => void counted++,
    };

    // Act
    const first = runArchiveJob(message, deps);
    await expect(first).rejects.toThrow(/Could not enqueue the tag job/);
    tagJobs.refuse.clear();
    const again = await runArchiveJob(message, deps);

    // Assert
    expect(counted).toBe(1);
    expect(again.status).toBe('already-archived');
    expect(tagJobs.jobs.map((j) => j.body.conversationId)).toEqual([conversation.id]);
  });
});
