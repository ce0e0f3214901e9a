// The scheduler stage against the simulator (real HTTP) and a folder archive store. Jobs go to an
// in-memory queue: these tests are about what is enqueued; SQS has its own tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { clearPending, MAX_RUNS, recordPendingFailure } from '../../../shared/archive/pending.ts';
import {
  advanceWatermark,
  readRunRecord,
  readWatermark,
  writeOutcome,
} from '../../../shared/archive/state.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../../../shared/jobs/archive.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { archiveConversation } from '../../../shared/stages/archive-conversation.ts';
import {
  type ScheduleDeps,
  type ScheduleOptions,
  scheduleArchive,
} from '../../../shared/stages/schedule-archive.ts';
import { clientFor } from '../../support/client.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const DAY = 86_400_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(conversations = 60) {
  const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'schedule-stage-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const amigo = clientFor(sim);
  const jobs = new MemoryQueue<ArchiveJobMessage>();
  const continuation = new MemoryQueue<ContinueListingMessage>();
  const options: ScheduleOptions = { organizationId: sim.organizationId, lookbackMs: 2 * DAY, pageSize: 7 };
  const deps = { amigo, store, jobs, continuation, clock: systemClock, remainingTimeMs: () => 900_000 };
  return { sim, store, amigo, jobs, continuation, options, deps };
}

/** The client, its listing's first page led by `entry` (a malformed entry the API might return). */
function listingFirst<T extends Pick<ScheduleDeps['amigo'], 'conversationPages'>>(
  amigo: T,
  entry: ConversationInstance,
): T {
  const wrapped: T = Object.create(amigo);
  wrapped.conversationPages = async function* (query, opts) {
    let first = true;
    for await (const page of amigo.conversationPages(query, opts)) {
      yield first ? { ...page, items: [entry, ...page.items] } : page;
      first = false;
    }
  };
  return wrapped;
}

describe('scheduleArchive', () => {
  it('when it first runs, then every finished, analyzed conversation is enqueued once in batches of 10 and the unanalyzed ones wait', async () => {
    const { sim, jobs, options, deps, store } = await setup();
    const finished = sim.control.conversations().filter((c) => c.is_finished);

    const result = await scheduleArchive(options, deps);

    const expected = finished.filter((c) => c.is_analyzed).map((c) => c.id);
    expect(jobs.jobs.map((j) => j.body.conversationId).sort()).toEqual(expected.sort());
    expect(new Set(jobs.jobs.map((j) => j.id)).size).toBe(jobs.jobs.length);
    expect(jobs.batches.every((n) => n <= 10)).toBe(true);
    expect(result.counts.deferredUnanalyzed).toBe(finished.filter((c) => !c.is_analyzed).length);
    expect(result.counts.deferredUnanalyzed).toBeGreaterThan(0);
    const record = await readRunRecord(store, result.runId);
    expect(record?.status).toBe('listed');
    expect(record?.scheduler.enqueued).toBe(expected.length);
  });

  it('when a conversation is deferred, then the watermark stays low enough for the next run to list it again', async () => {
    const { sim, options, deps, store } = await setup();
    const unanalyzed = sim.control.conversations().filter((c) => c.is_finished && !c.is_analyzed);
    const oldest = Math.min(...unanalyzed.map((c) => Date.parse(c.created_at)));

    await scheduleArchive(options, deps);

    const watermark = await readWatermark(store, sim.organizationId);
    expect(Date.parse(watermark?.value.watermark as string) - options.lookbackMs).toBeLessThanOrEqual(oldest);
  });

  it('when everything listed is archived, then a rerun enqueues nothing and reads no conversation', async () => {
    const { sim, jobs, options, deps, store, amigo } = await setup();
    const first = await scheduleArchive(options, deps);
    for (const j of jobs.take()) {
      const outcome = await archiveConversation(j.body, { amigo, store, clock: systemClock });
      await writeOutcome(store, first.runId, {
        conversation_id: j.body.conversationId,
        status: outcome.status,
        at: new Date().toISOString(),
      });
    }
    sim.control.resetStats();

    const rerun = await scheduleArchive(options, deps);

    const summarized = await readRunRecord(store, first.runId);
    expect(summarized?.status).toBe('summarized');
    expect(summarized?.archive?.archived).toBe(first.counts.enqueued);
    expect(jobs.jobs).toHaveLength(0);
    expect(rerun.counts.alreadyArchived).toBeGreaterThan(0);
    const ops = new Set(sim.control.stats().requests.map((r) => r.operationId));
    expect([...ops]).toEqual(['get-conversations']);
  });

  it('when the watermark is recent, then paging stops at the watermark minus the lookback', async () => {
    const { sim, jobs, options, deps, store } = await setup(120);
    const newest = Date.parse(sim.control.conversations()[0]?.created_at as string);
    await advanceWatermark(store, sim.organizationId, new Date(newest).toISOString(), {
      runId: null,
      now: Date.now(),
    });

    const result = await scheduleArchive({ ...options, lookbackMs: DAY }, deps);

    const inWindow = sim.control
      .conversations()
      .filter((c) => c.is_finished && c.is_analyzed && Date.parse(c.created_at) >= newest - DAY);
    expect(jobs.jobs.map((j) => j.body.conversationId).sort()).toEqual(inWindow.map((c) => c.id).sort());
    const allPages = Math.ceil(sim.control.conversations().filter((c) => c.is_finished).length / 7);
    expect(result.counts.pages).toBeLessThan(allPages);
  });

  it('when since is given, then it backfills down to that date whatever the watermark', async () => {
    const { sim, jobs, options, deps, store } = await setup();
    const newest = sim.control.conversations()[0]?.created_at as string;
    await advanceWatermark(store, sim.organizationId, newest, { runId: null, now: Date.now() });

    await scheduleArchive({ ...options, since: '2000-01-01T00:00:00Z' }, deps);

    const all = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    expect(jobs.jobs).toHaveLength(all.length);
  });

  it('when time runs short, then the listing is handed over and the next invocation finishes it exactly', async () => {
    const { sim, jobs, continuation, options, deps, store } = await setup(90);
    let invocations = 0;
    const shortOfTime = { ...deps, remainingTimeMs: () => (invocations % 2 === 0 ? 1_000 : 900_000) };

    let result = await scheduleArchive(options, shortOfTime);
    expect(result.status).toBe('handed-over');
    expect(await readWatermark(store, sim.organizationId)).toBeUndefined();
    while (result.status === 'handed-over') {
      const [handover] = continuation.take();
      invocations++;
      result = await scheduleArchive(options, shortOfTime, handover?.body);
    }

    const expected = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    expect(jobs.jobs.map((j) => j.body.conversationId).sort()).toEqual(expected.map((c) => c.id).sort());
    expect(result.counts.invocations).toBeGreaterThan(1);
    expect(await readWatermark(store, sim.organizationId)).toBeDefined();
  });

  it('when some jobs cannot be enqueued, then the watermark moves on and the next run enqueues them', async () => {
    const { sim, jobs, options, deps, store, amigo } = await setup(20);
    const target = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed)[0];
    jobs.refuse.add(`archive-${target?.id}`);

    const first = await scheduleArchive(options, deps);
    expect(first.counts.failedToEnqueue).toBe(1);
    jobs.refuse.clear();
    // The workers archive the rest and clear their markers, as the archive worker does.
    for (const j of jobs.take()) {
      await archiveConversation(j.body, { amigo, store, clock: systemClock });
      await clearPending(store, sim.organizationId, j.body.conversationId);
    }

    const next = await scheduleArchive(options, deps);

    expect(next.counts.recovered).toBe(1);
    expect(jobs.jobs.map((j) => j.body.conversationId)).toEqual([target?.id]);
  });

  it('when a run lost its queue, then the next run enqueues all it had not finished, though the watermark moved', async () => {
    const { sim, jobs, options, deps, store, amigo } = await setup();
    const first = await scheduleArchive(options, deps);
    const lost = jobs.take();
    // Two were archived before the queue was lost (a laptop run stopped with Ctrl-C), but their
    // workers stopped before sending the tag job and clearing the marker: they come back too.
    for (const j of lost.slice(0, 2)) await archiveConversation(j.body, { amigo, store, clock: systemClock });
    // The local runner's queue died with its process: it recovers at once.
    const local = { ...options, recoverPendingAfterMs: 0 };
    expect(first.status === 'listed' && first.watermark).toBe(
      (await readWatermark(store, sim.organizationId))?.value.watermark,
    );

    const next = await scheduleArchive(local, deps);

    const expected = lost.map((j) => j.body.conversationId);
    expect(jobs.jobs.map((j) => j.body.conversationId).sort()).toEqual(expected.sort());
    expect(next.counts.recovered).toBe(expected.length);
    // Listed again within the lookback, they are not enqueued a second time.
    expect(next.counts.enqueued).toBe(0);
    expect(next.counts.alreadyPending).toBeGreaterThan(0);
    const record = await readRunRecord(store, next.runId);
    expect(record?.recovery).toMatchObject({ fromRuns: { [first.runId]: expected.length } });
  });

  it('when the jobs of the last run are still on the queue, then the next run does not send them again', async () => {
    const { jobs, options, deps } = await setup(20);
    const first = await scheduleArchive(options, deps);

    const next = await scheduleArchive(options, deps);

    expect(next.counts.recovered).toBe(0);
    expect(next.counts.enqueued).toBe(0);
    expect(jobs.jobs).toHaveLength(first.counts.enqueued);
  });

  it('when a conversation is enqueued run after run and never archived nor failed visibly, then it is given up after five runs', async () => {
    const { jobs, options, deps, store } = await setup(20);
    const local = { ...options, recoverPendingAfterMs: 0 };
    await scheduleArchive(local, deps);
    const [stuck] = jobs.take();
    for (let run = 2; run <= MAX_RUNS + 2; run++) {
      await scheduleArchive(local, deps);
      expect(jobs.take().map((j) => j.body.conversationId)).toContain(stuck?.body.conversationId);
    }

    const last = await scheduleArchive(local, deps);

    expect(jobs.jobs.map((j) => j.body.conversationId)).not.toContain(stuck?.body.conversationId);
    const record = await readRunRecord(store, last.runId);
    expect(record?.recovery?.givenUp.map((g) => g.conversation_id)).toContain(stuck?.body.conversationId);
  });

  it('when a conversation keeps failing, then it is tried in three runs and then reported as given up in every run, never dropped', async () => {
    const { sim, jobs, options, deps, store } = await setup(20);
    await scheduleArchive(options, deps);
    const [victim] = jobs.take();
    jobs.take();
    const conversation = victim?.body.conversation as ConversationInstance;
    const fail = (runId: string) =>
      recordPendingFailure(
        store,
        sim.organizationId,
        conversation,
        { code: 'AmigoRequestError', reason: '403 on messages', at: new Date().toISOString(), run_id: runId },
        Date.now(),
      );

    for (let run = 2; run <= 3; run++) {
      await fail(`run-${run}`);
      await scheduleArchive(options, deps);
      expect(jobs.take().map((j) => j.body.conversationId)).toContain(conversation.id);
    }
    await fail('run-4');
    const later = [await scheduleArchive(options, deps), await scheduleArchive(options, deps)];

    expect(jobs.jobs.map((j) => j.body.conversationId)).not.toContain(conversation.id);
    for (const run of later) {
      const record = await readRunRecord(store, run.runId);
      expect(record?.recovery?.givenUp).toEqual([
        { conversation_id: conversation.id, reason: 'AmigoRequestError: 403 on messages', runs: MAX_RUNS },
      ]);
    }
  });

  it('when the API lists a created_at without a time zone, then the entry is set aside and never becomes the watermark', async () => {
    const { sim, jobs, options, deps, store, amigo } = await setup(20);
    const listed = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    const newest = listed[0] as ConversationInstance;
    const broken = {
      ...newest,
      id: 'aaaaaaaaaaaaaaaaaaaaaaaa',
      created_at: '2999-01-01T10:00:00',
    } as ConversationInstance;
    const withBadEntry = listingFirst(amigo, broken);

    const result = await scheduleArchive(options, { ...deps, amigo: withBadEntry });

    expect(result.counts.setAside).toBe(1);
    expect(jobs.jobs.map((j) => j.body.conversationId)).not.toContain(broken.id);
    expect((await readWatermark(store, sim.organizationId))?.value.watermark).not.toMatch(/^2999/);
  });

  it('when the API lists an id that cannot name a folder, then that entry is set aside with its reason and the run goes on', async () => {
    const { sim, jobs, options, deps, store, amigo } = await setup(20);
    const listed = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    const broken = { ...listed[0], id: '../../etc/passwd' } as ConversationInstance;
    const withBadEntry = listingFirst(amigo, broken);

    const result = await scheduleArchive(options, { ...deps, amigo: withBadEntry });

    expect(result.status).toBe('listed');
    expect(result.counts.setAside).toBe(1);
    expect(jobs.jobs).toHaveLength(listed.length);
    const record = await readRunRecord(store, result.runId);
    expect(record?.set_aside).toEqual([
      { id: '../../etc/passwd', reason: expect.stringMatching(/not a 24-character hex id/) },
    ]);
  });

  it('when runs race to advance the watermark, then it only ever moves forward', async () => {
    const { sim, store } = await setup(10);
    const base = Date.parse('2026-11-01T00:00:00Z');
    const candidates = Array.from({ length: 12 }, (_, i) =>
      new Date(base + ((i * 7) % 12) * 3_600_000).toISOString(),
    );

    await Promise.all(
      candidates.map((c) => advanceWatermark(store, sim.organizationId, c, { runId: null, now: Date.now() })),
    );

    const final = await readWatermark(store, sim.organizationId);
    expect(final?.value.watermark).toBe(new Date(base + 11 * 3_600_000).toISOString());
  });

  it('when a run leaves the watermark where it was, then the next run still summarises it', async () => {
    const { options, deps, store } = await setup(12);
    await scheduleArchive(options, deps);
    const quiet = await scheduleArchive(options, deps);

    await scheduleArchive(options, deps);

    expect((await readRunRecord(store, quiet.runId))?.status).toBe('summarized');
  });
});
