// A whole nightly cycle on this machine: the real scheduler and worker handlers, driven through the
// SQS wire protocol of the embedded emulator, against the simulator over HTTP, into a folder.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalAws } from '../../../local/fauxqs.ts';
import { runLocalCycle } from '../../../local/pipeline.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import { type Manifest, ManifestSchema } from '../../../shared/archive-format/documents.ts';
import { conversationPrefix, STAGING_DIR } from '../../../shared/archive-format/keys.ts';
import { parseDocument } from '../../../shared/archive-format/read-document.ts';
import { defaultPipelineConfig } from '../../../shared/config/pipeline-config.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import { amigoConfigFor, scaledLimits } from '../../support/client.ts';
import { startConditionalS3Proxy } from '../../support/conditional-s3-proxy.ts';
import { recordingArchiveStore, writesAroundCommit } from '../../support/recording-archive-store.ts';
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

// The simulator enforces every published limit per 500 ms instead of per minute (scale 120, unless
// a test says otherwise), and the client is told the same limits: the pipeline runs at the real
// ratio between operations.
// Conversations with 300+ interactions are left out here (the stage tests cover them): at these
// limits each would take most of a minute.
async function setup(
  conversations = 24,
  amigoOverrides: { maxAttempts?: number; maxThrottledAttempts?: number } = {},
  simOptions: Partial<Parameters<typeof startTestSimulator>[0]> & { scale?: number } = {},
) {
  const { scale = 120, ...more } = simOptions;
  const sim = await startTestSimulator({
    conversations,
    longConversations: 0,
    rateLimits: { enabled: true, scale },
    ...more,
  });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'pipeline-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const amigo = amigoConfigFor(sim, {
    rateLimits: scaledLimits(60_000 / scale),
    retryBaseDelayMs: 10,
    timeoutMs: 30_000,
    ...amigoOverrides,
  });
  const config = { ...defaultPipelineConfig(), run: { workers: 4, maxReceiveCount: 3 } };
  return { sim, root, amigo, config };
}

function eligible(sim: TestSim) {
  return sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
}

describe('local nightly cycle', () => {
  it('when it runs, then every finished, analyzed conversation is archived completely, and a rerun archives and reads nothing more', async () => {
    const { sim, root, amigo, config } = await setup();

    const rules = loadRules('examples/rules.yaml');
    const first = await runLocalCycle({ config, amigo, archive: root, rules });

    expect(first.deadLetters).toEqual([]);
    expect(first.record.archive?.archived).toBe(eligible(sim).length);
    expect(first.record.scheduler.enqueued).toBe(eligible(sim).length);
    for (const conversation of eligible(sim)) {
      const folder = join(
        root,
        conversationPrefix(sim.organizationId, conversation.created_at, conversation.id),
      );
      const manifest = parseManifest(await readFile(join(folder, 'manifest.json'), 'utf8'));
      expect(manifest.counts.messages).toBe(conversation.num_messages);
      for (const file of manifest.files) {
        const bytes = await readFile(join(folder, file.path));
        expect(createHash('sha256').update(bytes).digest('hex'), `${conversation.id}/${file.path}`).toBe(
          file.sha256,
        );
      }
    }
    const throttled = sim.control.stats().requests.filter((r) => r.status === 429);
    expect(throttled).toEqual([]);

    const stalled = sim.control.conversations().filter((c) => sim.control.scenario(c.id) === 'stalled');
    expect(stalled.length).toBeGreaterThan(0);
    const recommendCalls = sim.control
      .stats()
      .writes.filter((w) => w.operationId === 'recommend-responses-for-interaction');
    expect(recommendCalls.map((w) => w.conversationId).sort()).toEqual(stalled.map((c) => c.id).sort());
    expect(first.recommendations.recommended).toBe(stalled.length);
    // Every archived conversation was evaluated; the rules' tags are in Amigo now.
    expect(first.tagging?.evaluated).toBe(eligible(sim).length);
    expect(first.tagging?.posted).toBeGreaterThan(0);
    const posted = sim.control.stats().writes.filter((w) => w.operationId === 'modify-tags-of-conversation');
    expect(posted.length).toBe(first.tagging?.posted);
    expect(sim.control.stats().calls['modify-tags-of-conversation']?.['400'] ?? 0).toBe(0);
    // The run record counts, per operation, every call the simulator answered (usage documents);
    // recording downloads (`audio`, signed URLs) are not Amigo operations and take no budget.
    const answered = Object.fromEntries(
      Object.entries(sim.control.stats().calls)
        .filter(([op]) => op !== 'audio')
        .map(([op, byStatus]) => [op, Object.values(byStatus).reduce((a, b) => a + b, 0)]),
    );
    expect(
      Object.fromEntries(Object.entries(first.record.amigo?.calls ?? {}).map(([op, c]) => [op, c.answered])),
    ).toEqual(answered);
    expect(first.record.amigo?.limits['get-interaction-insights']).toEqual({ limit: 20, window_ms: 500 });

    sim.control.resetStats();
    const second = await runLocalCycle({ config, amigo, archive: root, rules });

    expect(second.record.scheduler.enqueued).toBe(0);
    expect(second.record.archive?.archived).toBe(0);
    const calls = sim.control.stats().requests;
    // No archive work and no second recommendation; stall detection reads at most one message
    // page per unfinished conversation whose state changed or was never asked about.
    expect(new Set(calls.map((r) => r.operationId))).not.toContain('get-interaction-insights');
    expect(new Set(calls.map((r) => r.operationId))).not.toContain('retrieve-message-source');
    expect(new Set(calls.map((r) => r.operationId))).not.toContain('recommend-responses-for-interaction');
    expect(new Set(calls.map((r) => r.operationId))).not.toContain('modify-tags-of-conversation');
    const unfinished = sim.control.conversations().filter((c) => !c.is_finished).length;
    expect(calls.filter((r) => r.operationId === 'get-conversation-messages').length).toBeLessThanOrEqual(
      unfinished,
    );
  });

  it('when one conversation cannot be archived, then its batch-mates are, and it lands in the dead-letter queue with its reason', async () => {
    const { sim, root, amigo, config } = await setup();
    sim.control.enqueueFaults([{ operation: 'get-conversation-messages', kind: 'status', status: 404 }]);

    const result = await runLocalCycle({ config, amigo, archive: root });

    expect(result.deadLetters).toHaveLength(1);
    expect(result.deadLetters[0]).toMatchObject({ queue: 'archive', code: 'AmigoRequestError' });
    expect(result.deadLetters[0]?.reason).toMatch(/HTTP 404/);
    expect(result.record.archive?.failed).toBe(1);
    expect(result.record.archive?.archived).toBe(eligible(sim).length - 1);
  });

  it('when a run is interrupted part-way, then the next run archives everything it left and says which run left it', async () => {
    const { sim, root, amigo, config } = await setup();
    const interrupt = new AbortController();
    let done = 0;

    const first = await runLocalCycle({
      config,
      amigo,
      archive: root,
      signal: interrupt.signal,
      events: {
        onResult: (binding, _failed, ok) => {
          if (binding !== 'archive-worker') return;
          done += ok;
          if (done >= 3) interrupt.abort();
        },
      },
    });
    const manifests = async () => {
      let n = 0;
      for (const c of eligible(sim)) {
        const folder = join(root, conversationPrefix(sim.organizationId, c.created_at, c.id));
        if (
          await readFile(join(folder, 'manifest.json')).then(
            () => true,
            () => false,
          )
        )
          n++;
      }
      return n;
    };
    const archivedFirst = await manifests();
    expect(first.interrupted).toBe(true);
    expect(archivedFirst).toBeLessThan(eligible(sim).length);

    const second = await runLocalCycle({ config, amigo, archive: root });

    expect(second.interrupted).toBe(false);
    expect(await manifests()).toBe(eligible(sim).length);
    expect(second.record.recovery?.fromRuns).toEqual({ [first.runId]: eligible(sim).length - archivedFirst });
    expect(second.record.scheduler.recovered).toBe(eligible(sim).length - archivedFirst);
    expect(second.deadLetters).toEqual([]);
  });

  it('when a conversation of 2,000 interactions needs more than one delivery, then it continues where it stopped and the manifest is written last and once', async () => {
    // The published limits per 125 ms instead of per minute and an archive worker with 6 s of work
    // per delivery: the long conversation's 2,000 insights take several deliveries, as at the real
    // limits (2,000 at 20 a minute is 100 minutes) they take several Lambda invocations.
    const { sim, root, amigo } = await setup(
      10,
      {},
      {
        longConversations: 1,
        longConversationInteractions: 2_000,
        audio: { largeRecordings: 0 },
        scale: 480,
      },
    );
    const long = eligible(sim).find((c) => c.num_messages > 2_000) as ConversationInstance;
    const prefix = conversationPrefix(sim.organizationId, long.created_at, long.id);
    const manifest = `${prefix}manifest.json`;
    // The folder store, with every write noted (a test double at the port: the store itself is real).
    const recorded = recordingArchiveStore(new FsArchiveStore(root));
    let deliveries = 0;

    const result = await runLocalCycle({
      config: defaultPipelineConfig(),
      amigo,
      archive: root,
      store: recorded.store,
      timeoutsMs: { archiveWorker: 16_000 },
      events: {
        onInvoke: (binding, records) => {
          if (binding === 'archive-worker') deliveries += records;
        },
      },
    });

    expect(result.deadLetters).toEqual([]);
    expect(result.record.archive?.archived).toBe(eligible(sim).length);
    expect(deliveries).toBeGreaterThan(eligible(sim).length + 1);
    const order = writesAroundCommit(recorded.events, prefix, manifest, STAGING_DIR);
    expect(order.manifestPuts).toBe(1);
    expect(order.runningAtCommit).toEqual([]);
    expect(order.writtenAfter).toEqual([]);
    expect(order.settledBefore.filter((k) => k.startsWith(`${STAGING_DIR}chunk-`)).length).toBeGreaterThan(1);
    const committed = parseManifest(await readFile(join(root, manifest), 'utf8'));
    expect(committed.counts.insights).toBe(
      new Set(
        sim.control
          .messages(long.id)
          .filter((m) => m.message_type === 'agent-message')
          .map((m) => m.interaction_id),
      ).size,
    );
    expect(committed.counts.interactions).toBe(2_000);
  }, 180_000);

  it('when Amigo answers 503 for a while, then jobs are put back rather than spending their receives, and all complete', async () => {
    // One attempt per call: every 503 reaches the worker, which must put the job back.
    const { sim, root, amigo, config } = await setup(24, { maxAttempts: 1 });
    const faults = Array.from({ length: 8 }, () => ({
      operation: 'get-interaction-insights' as const,
      kind: 'status' as const,
      status: 503,
      retryAfterSeconds: 0,
    }));
    sim.control.enqueueFaults(faults);

    const result = await runLocalCycle({
      config: { ...config, run: { workers: 4, maxReceiveCount: 2 } },
      amigo,
      archive: root,
      deferralSeconds: [1, 1],
    });

    expect(result.deadLetters).toEqual([]);
    expect(sim.control.stats().calls['get-interaction-insights']?.['503']).toBe(8);
    expect(result.record.archive?.archived).toBe(eligible(sim).length);
  });

  it('when Amigo throttles with Retry-After, then put-back jobs come back when it said, and the cycle finishes in seconds', async () => {
    // One attempt per throttled call: each 429 reaches the worker, which puts its job back.
    const { sim, root, amigo, config } = await setup(24, { maxAttempts: 1, maxThrottledAttempts: 1 });
    sim.control.enqueueFaults(
      Array.from({ length: 6 }, () => ({
        operation: 'get-interaction-insights' as const,
        kind: 'status' as const,
        status: 429,
        retryAfterSeconds: 1,
      })),
    );
    const delays: number[] = [];

    const result = await runLocalCycle({
      config,
      amigo,
      archive: root,
      events: { onPutBack: (_worker, p) => delays.push(p.delaySeconds) },
    });

    expect(delays.length).toBeGreaterThan(0);
    expect(delays.every((d) => d >= 1 && d <= 2)).toBe(true);
    expect(result.deadLetters).toEqual([]);
    expect(result.record.archive?.archived).toBe(eligible(sim).length);
  });

  it('when the archive is S3, then the same cycle writes the same contract there', async () => {
    const { sim, amigo, config } = await setup();
    // S3 on the embedded emulator behind the proxy that enforces create-only writes (the emulator
    // ignores If-None-Match on its own).
    const aws = await startLocalAws();
    const proxy = await startConditionalS3Proxy(aws.endpoint);
    cleanups.push(
      () => aws.stop(),
      () => proxy.stop(),
    );
    const client = aws.s3({ endpoint: proxy.endpoint });
    await client.send(new CreateBucketCommand({ Bucket: 'qa-archive' }));
    const store = new S3ArchiveStore({ client, bucket: 'qa-archive', prefix: 'amigo' });

    const result = await runLocalCycle({ config, amigo, archive: 's3://qa-archive/amigo', store });

    expect(result.deadLetters).toEqual([]);
    expect(result.record.archive?.archived).toBe(eligible(sim).length);
    for (const conversation of eligible(sim)) {
      const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
      const manifest = parseManifest(String((await store.get(`${prefix}manifest.json`))?.body));
      for (const file of manifest.files) {
        const body = (await store.get(prefix + file.path))?.body as Buffer;
        expect(createHash('sha256').update(body).digest('hex')).toBe(file.sha256);
      }
    }
    expect(proxy.stats.conditionalWrites).toBeGreaterThanOrEqual(eligible(sim).length);
    expect(proxy.stats.refused).toBe(0);
    const { created, completed, aborted } = proxy.stats.multipart;
    expect(created - completed - aborted).toBe(0);
  });
});
