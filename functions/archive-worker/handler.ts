// Archive worker: SQS batch of archive jobs -> one archived conversation each
// (shared/stages/archive-job.ts). Partial batch failures report only the records that should come back.
import {
  type ArchiveJobMessage,
  ArchiveJobSchema,
  archiveJobId,
  archiveJobPriority,
} from '../../shared/jobs/archive.ts';
import { type JobWorkerDeps, sqsJobWorker } from '../../shared/runtime/job-worker.ts';
import { lambdaArchiveWorkerDeps } from '../../shared/runtime/lambda.ts';
import type { MeteredRateBudget } from '../../shared/runtime/metered-budget.ts';
import { type ArchiveJobDeps, recordArchiveFailure, runArchiveJob } from '../../shared/stages/archive-job.ts';

export type ArchiveWorkerDeps = Omit<ArchiveJobDeps, 'telemetry'> &
  JobWorkerDeps<ArchiveJobMessage> & {
    /** Counts the job's calls and archived conversation apart (shared/runtime/metered-budget.ts). */
    readonly usage?: Pick<MeteredRateBudget, 'archiveJob'>;
  };

export function createArchiveWorkerHandler(getDeps: () => Promise<ArchiveWorkerDeps>) {
  return sqsJobWorker<ArchiveJobMessage, ArchiveWorkerDeps>(
    {
      schema: ArchiveJobSchema,
      jobId: (job) => archiveJobId(job.conversationId),
      logKeys: (job) => ({ conversationId: job.conversationId, runId: job.runId ?? undefined }),
      stopBeforeDeadlineMs: 10_000,
      priority: archiveJobPriority,
      run: async (job, deps, { telemetry, signal }) => {
        const work = (onArchived?: () => void) =>
          runArchiveJob(job, { ...deps, telemetry, onArchived }, signal);
        await (deps.usage ? deps.usage.archiveJob(work) : work());
      },
      onDeadLetter: (job, reason, deps, { telemetry }) =>
        recordArchiveFailure(job, reason, { ...deps, telemetry }),
    },
    getDeps,
  );
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createArchiveWorkerHandler(lambdaArchiveWorkerDeps);
