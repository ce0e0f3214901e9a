// The scheduler routes archive jobs by `archive.priorities` (against the simulator, real HTTP):
// matching conversations go by the priority queue in the high class, the rest by the archive queue.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import {
  type ArchiveJobMessage,
  archiveJobQueue,
  type ContinueListingMessage,
} from '../../../shared/jobs/archive.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { scheduleArchive } from '../../../shared/stages/schedule-archive.ts';
import { clientFor } from '../../support/client.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const DAY = 86_400_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 40 });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'schedule-priority-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const normal = new MemoryQueue<ArchiveJobMessage>();
  const priority = new MemoryQueue<ArchiveJobMessage>();
  const deps = {
    amigo: clientFor(sim),
    store: new FsArchiveStore(root),
    jobs: archiveJobQueue(normal, priority),
    continuation: new MemoryQueue<ContinueListingMessage>(),
    clock: systemClock,
    remainingTimeMs: () => 900_000,
  };
  const eligible = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
  return { sim, deps, normal, priority, eligible };
}

const ids = (q: MemoryQueue<ArchiveJobMessage>) => q.jobs.map((j) => j.body.conversationId).sort();
const classes = (q: MemoryQueue<ArchiveJobMessage>) => [...new Set(q.jobs.map((j) => j.body.priority))];

describe('scheduleArchive with priorities', () => {
  it('when a service is listed first, then its conversations go by the priority queue in the high class and the rest by the archive queue', async () => {
    const { sim, deps, normal, priority, eligible } = await setup();
    const first = eligible[0]?.service_id as string;
    const ofFirst = eligible.filter((c) => c.service_id === first).map((c) => c.id);

    await scheduleArchive(
      {
        organizationId: sim.organizationId,
        lookbackMs: 2 * DAY,
        priorities: [{ serviceIds: [first], newerThanMs: null }],
      },
      deps,
    );

    expect(ids(priority)).toEqual(ofFirst.sort());
    expect(classes(priority)).toEqual(['high']);
    expect(ids(normal)).toEqual(
      eligible
        .filter((c) => c.service_id !== first)
        .map((c) => c.id)
        .sort(),
    );
    expect(normal.jobs.length).toBeGreaterThan(0);
    expect(classes(normal)).toEqual(['normal']);
  });

  it('when newer conversations go first, then exactly those created within the age go by the priority queue', async () => {
    const { sim, deps, normal, priority, eligible } = await setup();
    const created = eligible.map((c) => Date.parse(c.created_at)).sort((a, b) => a - b);
    // An age that splits the organisation's conversations in two.
    const middle = created[Math.floor(created.length / 2)] as number;
    const newerThanMs = Date.now() - middle + 60_000;

    await scheduleArchive(
      {
        organizationId: sim.organizationId,
        lookbackMs: 2 * DAY,
        priorities: [{ serviceIds: null, newerThanMs }],
      },
      deps,
    );

    const newer = (c: { created_at: string }) => Date.now() - Date.parse(c.created_at) <= newerThanMs;
    expect(ids(priority)).toEqual(
      eligible
        .filter(newer)
        .map((c) => c.id)
        .sort(),
    );
    expect(ids(normal)).toEqual(
      eligible
        .filter((c) => !newer(c))
        .map((c) => c.id)
        .sort(),
    );
    expect(priority.jobs.length).toBeGreaterThan(0);
    expect(normal.jobs.length).toBeGreaterThan(0);
  });

  it('when no priorities are set, then every job goes by the archive queue as normal', async () => {
    const { sim, deps, normal, priority, eligible } = await setup();

    await scheduleArchive({ organizationId: sim.organizationId, lookbackMs: 2 * DAY }, deps);

    expect(priority.jobs).toHaveLength(0);
    expect(ids(normal)).toEqual(eligible.map((c) => c.id).sort());
    expect(classes(normal)).toEqual(['normal']);
  });
});
