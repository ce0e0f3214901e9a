import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ArchiveJobSchema, archiveJobPriority } from '../../../shared/jobs/archive.ts';
import type { Priority, RateBudget } from '../../../shared/ports/rate-budget.ts';
import { sqsJobWorker } from '../../../shared/runtime/job-worker.ts';
import { MeteredRateBudget } from '../../../shared/runtime/metered-budget.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { anSqsEvent } from '../../support/sqs-event.ts';

const JobSchema = z.object({
  id: z.string(),
  deferrals: z.number().default(0),
  priority: z.enum(['high', 'normal']).optional(),
});
type Job = z.infer<typeof JobSchema>;

/** A worker whose jobs each take one token from a metered budget; answers the class each asked in. */
async function classesAskedBy(
  priorityOf: ((job: Job) => Priority) | undefined,
  ...jobs: Job[]
): Promise<Record<string, Priority | undefined>> {
  const asked: Record<string, Priority | undefined> = {};
  let current = '';
  const inner: RateBudget = {
    acquire: async (_op, _signal, priority) => {
      asked[current] = priority;
      return 0;
    },
    observe: () => {},
  };
  const budget = new MeteredRateBudget(inner);
  const deps = { jobs: new MemoryQueue<Job>(), deadLetters: { send: async () => {} }, maxReceiveCount: 3 };
  const handler = sqsJobWorker<Job, typeof deps>(
    {
      schema: JobSchema,
      jobId: (job) => job.id,
      logKeys: () => ({}),
      ...(priorityOf ? { priority: priorityOf } : {}),
      run: async (job) => {
        current = job.id;
        // An Amigo call deep in a stage: it names no class, the scope does.
        await Promise.resolve();
        await budget.acquire('get-conversation-messages');
      },
    },
    async () => deps,
  );
  await handler(anSqsEvent(...jobs), {
    functionName: 'w',
    awsRequestId: 'r',
    getRemainingTimeInMillis: () => 60_000,
  } as Context);
  return asked;
}

describe('the budget class of a job', () => {
  it('when the worker classes its jobs, then every Amigo call a job makes asks the budget in its class', async () => {
    const asked = await classesAskedBy(
      archiveJobPriority,
      { id: 'a', deferrals: 0, priority: 'high' },
      { id: 'b', deferrals: 0 },
      { id: 'c', deferrals: 0, priority: 'normal' },
    );

    expect(asked).toEqual({ a: 'high', b: 'normal', c: 'normal' });
  });

  it('when a worker classes nothing, then its calls are high: nothing unclassed is held back', async () => {
    const asked = await classesAskedBy(undefined, { id: 'a', deferrals: 0, priority: 'normal' });

    expect(asked).toEqual({ a: 'high' });
  });

  it('when outside any job, then the metered budget asks in the high class', async () => {
    let seen: Priority | undefined;
    const budget = new MeteredRateBudget({
      acquire: async (_op, _signal, priority) => {
        seen = priority;
        return 0;
      },
      observe: () => {},
    });

    await budget.acquire('get-conversations');

    expect(seen).toBe('high');
  });

  it('when an archive job names no class (sent before classes existed), then it still parses, in no class', () => {
    const shape = ArchiveJobSchema.shape.priority;

    expect(shape.parse(undefined)).toBeUndefined();
    expect(shape.parse('high')).toBe('high');
    expect(() => shape.parse('urgent')).toThrow();
  });
});
