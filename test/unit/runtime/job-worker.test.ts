// The SQS job worker every handler uses: the put-back goes to the worker's own queue under the
// job's id, the log keys never outlive a record, and the deadline signal follows the invocation's
// remaining time even when that time is cut short (the local runtime interrupted by Ctrl-C).
// Lambda itself cannot run here: the Context is a stand-in with the fields the worker reads.
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { AmigoUnavailableError } from '../../../shared/amigo/errors.ts';
import { logger } from '../../../shared/observability.ts';
import type { DeadLetters } from '../../../shared/ports/dead-letters.ts';
import { type JobWorkerDeps, sqsJobWorker } from '../../../shared/runtime/job-worker.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { anSqsEvent } from '../../support/sqs-event.ts';

const JobSchema = z.object({ id: z.string(), deferrals: z.number().default(0) });
type Job = z.infer<typeof JobSchema>;

function aContext(remaining: () => number): Context {
  return { functionName: 'worker', awsRequestId: 'r', getRemainingTimeInMillis: remaining } as Context;
}

function someDeps(): JobWorkerDeps<Job> & { jobs: MemoryQueue<Job>; dead: unknown[] } {
  const dead: unknown[] = [];
  const deadLetters: DeadLetters = { send: async (body, reason) => void dead.push({ body, reason }) };
  return { jobs: new MemoryQueue<Job>(), deadLetters, maxReceiveCount: 3, deferralSeconds: [7, 7], dead };
}

/** The JSON log lines Powertools writes (to stdout and stderr) while `act` runs. */
async function logLinesOf(act: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const written: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }),
  );
  try {
    await act();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('sqsJobWorker', () => {
  it('when Amigo throttles a job, then it is put back on the worker queue under its job id with one more deferral', async () => {
    const deps = someDeps();
    const handler = sqsJobWorker<Job, typeof deps>(
      {
        schema: JobSchema,
        jobId: (job) => `job-${job.id}`,
        logKeys: (job) => ({ jobKey: job.id }),
        run: async () => {
          throw new AmigoUnavailableError({ operationId: 'get-conversations', status: 429, attempts: 1 });
        },
      },
      async () => deps,
    );

    const response = (await handler(
      anSqsEvent({ id: 'a' }),
      aContext(() => 60_000),
    )) as SQSBatchResponse;

    expect(response.batchItemFailures).toEqual([]);
    expect(deps.jobs.jobs).toEqual([{ id: 'job-a', body: { id: 'a', deferrals: 1 }, delaySeconds: 7 }]);
  });

  it('when a record is done, then its log keys are gone before the next record', async () => {
    const deps = someDeps();
    const handler = sqsJobWorker<Job, typeof deps>(
      {
        schema: JobSchema,
        jobId: (job) => job.id,
        logKeys: (job) => (job.id === 'a' ? { onlyA: 'a' } : { onlyB: 'b' }),
        run: async (job) => {
          logger.warn('probe', { probe: job.id });
          if (job.id === 'a') throw new Error('first one fails');
        },
      },
      async () => deps,
    );

    const lines = await logLinesOf(() =>
      handler(
        anSqsEvent({ id: 'a' }, { id: 'b' }),
        aContext(() => 60_000),
      ),
    );
    const after = await logLinesOf(async () => logger.warn('probe', { probe: 'after' }));

    const probes = [...lines, ...after].filter((l) => l.message === 'probe');
    expect(probes.map((l) => [l.probe, l.onlyA, l.onlyB])).toEqual([
      ['a', 'a', undefined],
      ['b', undefined, 'b'],
      ['after', undefined, undefined],
    ]);
  });

  it('when the remaining time is cut short during a job, then the job signal aborts within a moment', async () => {
    const deps = someDeps();
    let remaining = 60_000;
    let aborted = false;
    const handler = sqsJobWorker<Job, typeof deps>(
      {
        schema: JobSchema,
        jobId: (job) => job.id,
        logKeys: () => ({}),
        stopBeforeDeadlineMs: 10_000,
        run: async (_job, _deps, { signal }) => {
          expect(signal?.aborted).toBe(false);
          remaining = 3_000;
          await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve()));
          aborted = signal?.aborted ?? false;
        },
      },
      async () => deps,
    );

    await handler(
      anSqsEvent({ id: 'a' }),
      aContext(() => remaining),
    );

    expect(aborted).toBe(true);
  });

  it('when a worker does not ask for a deadline, then its jobs get no signal', async () => {
    const deps = someDeps();
    let signal: AbortSignal | undefined;
    const handler = sqsJobWorker<Job, typeof deps>(
      {
        schema: JobSchema,
        jobId: (job) => job.id,
        logKeys: () => ({}),
        run: async (_job, _deps, context) => {
          signal = context.signal;
        },
      },
      async () => deps,
    );

    await handler(
      anSqsEvent({ id: 'a' }),
      aContext(() => 1),
    );

    expect(signal).toBeUndefined();
  });
});
