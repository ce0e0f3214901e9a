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
import { systemClock } from '../../../shared/ports/clock.ts';
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

async function setup() {
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
    options: { organizationId: sim.organizationId, lookbackMs: 7 * DAY, pageSize: 20 },
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

  it('when the event carries a lookback that is not a duration, then it is refused naming event.lookback', async () => {
    // Refused before anything is built: no dependency is ever used.
    const handler = createSchedulerHandler(async () => ({}) as never);

    const error = await handler({ tasks: ['archive'], lookback: '1 day' }, context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/event\.lookback/);
  });
});
