// The hourly runs between nightly ones: the scheduler handler started with the event the hourly
// schedule sends ({"tasks": ["archive"], "lookback": "1d"}) against the simulator and a folder store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createSchedulerHandler } from '../../../functions/scheduler/handler.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { advanceWatermark } from '../../../shared/archive/state.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../../../shared/jobs/archive.ts';
import type { AmigoApi } from '../../../shared/ports/amigo-api.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { type ScheduleDeps, scheduleArchive } from '../../../shared/stages/schedule-archive.ts';
import { clientFor } from '../../support/client.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const DAY = 86_400_000;
const context = {
  functionName: 'scheduler',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 900_000,
} as Context;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { since?: string } = {}) {
  const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 120 });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'schedule-lookback-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const jobs = new MemoryQueue<ArchiveJobMessage>();
  const handler = createSchedulerHandler(async () => ({
    amigo: clientFor(sim),
    store,
    jobs,
    continuation: new MemoryQueue<ContinueListingMessage>(),
    clock: systemClock,
    options: { organizationId: sim.organizationId, lookbackMs: 7 * DAY, pageSize: 20, ...options },
  }));
  const newest = Date.parse(sim.control.conversations()[0]?.created_at as string);
  await advanceWatermark(store, sim.organizationId, new Date(newest).toISOString(), {
    runId: null,
    now: Date.now(),
  });
  const archivable = (fromMs: number, toMs = Number.POSITIVE_INFINITY) =>
    sim.control
      .conversations()
      .filter((c) => c.is_finished && c.is_analyzed)
      .filter((c) => Date.parse(c.created_at) >= fromMs && Date.parse(c.created_at) < toMs)
      .map((c) => c.id)
      .sort();
  return { handler, jobs, newest, archivable };
}

describe('the hourly archive run (a lookback in the event)', () => {
  it('when the event carries lookback 1d, then the run lists down to the watermark minus one day and the nightly run still reaches the full lookback', async () => {
    const { handler, jobs, newest, archivable } = await setup();

    const hourly = await handler({ tasks: ['archive'], lookback: '1d' }, context);
    const hourlyJobs = jobs.take().map((j) => j.body.conversationId);
    const nightly = await handler({ tasks: ['archive'] }, context);
    const nightlyJobs = jobs.take().map((j) => j.body.conversationId);

    expect(hourlyJobs.sort()).toEqual(archivable(newest - DAY));
    expect(nightlyJobs.sort()).toEqual(archivable(newest - 7 * DAY, newest - DAY));
    expect(nightlyJobs.length).toBeGreaterThan(0);
    expect(nightly.archive[0]?.counts.alreadyPending).toBe(hourlyJobs.length);
    expect(hourly.archive[0]?.counts.pages).toBeLessThan(nightly.archive[0]?.counts.pages as number);
  });

  it('when the config sets a backfill start (archive.since), then an hourly run still lists back only its own lookback', async () => {
    const { handler, jobs, newest, archivable } = await setup({ since: '2000-01-01T00:00:00.000Z' });

    await handler({ tasks: ['archive'], lookback: '1d' }, context);

    expect(
      jobs
        .take()
        .map((j) => j.body.conversationId)
        .sort(),
    ).toEqual(archivable(newest - DAY));
  });

  it('when the event carries a lookback that is not a duration, then it is refused naming event.lookback', async () => {
    // Refused before anything is built: no dependency is ever used.
    const handler = createSchedulerHandler(async () => ({}) as never);

    const error = await handler({ tasks: ['archive'], lookback: '1 day' }, context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/event\.lookback/);
  });

  it('when a conversation open for 6.5 days finishes after the nightly run and 23 hourly runs follow, then the next nightly run still archives it', async () => {
    // Arrange: the organisation's listing as a scripted port (a conversation has to finish between
    // runs, on a clock the test moves): one conversation a hour, and one created 6.5 days before
    // the first nightly run that is still open then.
    const HOUR = 3_600_000;
    const firstNight = Date.parse('2026-12-01T02:00:00Z');
    let now = firstNight;
    const id = (n: number) => n.toString(16).padStart(24, '0');
    const conversation = (n: number, createdMs: number) => ({
      id: id(n),
      created_at: new Date(createdMs).toISOString(),
      num_messages: 2,
      service_id: 's',
      is_finished: true,
      is_analyzed: true,
    });
    const open = { ...conversation(999, firstNight - 6.5 * DAY), is_finished: false };
    const listing = [conversation(1, firstNight - 5 * 60_000)];
    const amigo = {
      async *conversationPages() {
        const finished = [...listing, open].filter((c) => c.is_finished);
        yield {
          items: finished.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)),
          nextToken: null,
        };
      },
    } as unknown as AmigoApi;
    const root = await mkdtemp(join(tmpdir(), 'schedule-lookback-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const store = new FsArchiveStore(root);
    await advanceWatermark(store, 'org1', new Date(firstNight - DAY).toISOString(), { runId: null, now });
    const jobs = new MemoryQueue<ArchiveJobMessage>();
    const deps = {
      amigo,
      store,
      jobs,
      continuation: new MemoryQueue<ContinueListingMessage>(),
      clock: { now: () => now },
      remainingTimeMs: () => 900_000,
    } as unknown as ScheduleDeps;
    const nightly = { organizationId: 'org1', lookbackMs: 7 * DAY };
    const enqueued = new Set<string>();
    const collect = () => {
      for (const job of jobs.take()) enqueued.add(job.body.conversationId);
    };

    // Act: the nightly run, the open conversation finishes, 23 hourly runs, the next nightly run.
    await scheduleArchive(nightly, deps);
    collect();
    open.is_finished = true;
    const watermarks: Array<string | null> = [];
    for (let hour = 1; hour < 24; hour++) {
      now = firstNight + hour * HOUR;
      listing.push(conversation(hour + 1, now - 5 * 60_000));
      const run = await scheduleArchive({ ...nightly, listLookbackMs: DAY }, deps);
      watermarks.push(run.status === 'listed' ? run.watermark : null);
      collect();
    }
    now = firstNight + DAY;
    await scheduleArchive(nightly, deps);
    collect();

    // Assert: the hourly runs enqueued each new conversation, left the watermark where the nightly
    // run put it, and the next nightly run found the conversation open for days.
    expect(new Set(watermarks).size).toBe(1);
    expect(enqueued.has(id(24))).toBe(true);
    expect(enqueued.has(id(999))).toBe(true);
  });
});
