import { describe, expect, it } from 'vitest';
import { type ArchiveJobMessage, archiveJobQueue } from '../../shared/jobs/archive.ts';
import type { Job, JobQueue } from '../../shared/ports/job-queue.ts';
import type { Priority } from '../../shared/ports/rate-budget.ts';
import { MemoryQueue } from '../support/memory-queue.ts';

function job(id: string, priority: Priority | undefined): Job<ArchiveJobMessage> {
  return { id, body: { priority } as ArchiveJobMessage };
}

describe('archiveJobQueue', () => {
  it('when jobs of both classes are sent (a put-back too), then each goes to its class queue and a job with no class to the archive queue', async () => {
    const normal = new MemoryQueue<ArchiveJobMessage>();
    const priority = new MemoryQueue<ArchiveJobMessage>();
    const jobs = archiveJobQueue(normal, priority);

    await jobs.send([job('a', 'high'), job('b', 'normal'), job('c', undefined)]);
    await jobs.send([{ ...job('a', 'high'), delaySeconds: 30 }]);

    expect(priority.jobs.map((j) => [j.id, j.delaySeconds ?? 0])).toEqual([
      ['a', 0],
      ['a', 30],
    ]);
    expect(normal.jobs.map((j) => j.id)).toEqual(['b', 'c']);
  });

  it('when one queue refuses a job, then the failures of both are reported together', async () => {
    const refusing: JobQueue<ArchiveJobMessage> = {
      send: async (sent) => ({ failed: sent.map((j) => ({ id: j.id, reason: 'throttled' })) }),
    };
    const jobs = archiveJobQueue(new MemoryQueue<ArchiveJobMessage>(), refusing);

    const { failed } = await jobs.send([job('a', 'high'), job('b', 'normal')]);

    expect(failed).toEqual([{ id: 'a', reason: 'throttled' }]);
  });
});
