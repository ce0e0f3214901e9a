// An in-memory JobQueue for stage tests that are about what gets enqueued, not about SQS (the SQS
// adapter and the local runtime have their own tests against the emulator).
import type { Job, JobQueue } from '../../shared/ports/job-queue.ts';

export class MemoryQueue<T> implements JobQueue<T> {
  readonly jobs: Job<T>[] = [];
  readonly batches: number[] = [];
  /** Job ids to refuse, as SQS might refuse some entries of a batch. */
  readonly refuse = new Set<string>();

  async send(jobs: readonly Job<T>[]): Promise<{ failed: Array<{ id: string; reason: string }> }> {
    const failed: Array<{ id: string; reason: string }> = [];
    for (let i = 0; i < jobs.length; i += 10) this.batches.push(Math.min(10, jobs.length - i));
    for (const job of jobs) {
      if (this.refuse.has(job.id)) failed.push({ id: job.id, reason: 'refused by the test' });
      else this.jobs.push(job);
    }
    return { failed };
  }

  take(): Job<T>[] {
    return this.jobs.splice(0);
  }
}
