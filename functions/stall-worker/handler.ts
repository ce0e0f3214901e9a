// Stall worker: SQS batch of stall jobs -> at most one recommend-responses call per stalled
// interaction, recorded under stalled/ (shared/stages/stall-job.ts). Partial batch failures report
// only the records that should come back.
import { type StallJobMessage, StallJobSchema, stallJobId } from '../../shared/jobs/stall.ts';
import { type JobWorkerDeps, sqsJobWorker } from '../../shared/runtime/job-worker.ts';
import { lambdaStallWorkerDeps } from '../../shared/runtime/lambda.ts';
import { runStallJob, type StallJobDeps } from '../../shared/stages/stall-job.ts';

export type StallWorkerDeps = Omit<StallJobDeps, 'telemetry' | 'signal'> & JobWorkerDeps<StallJobMessage>;

export function createStallWorkerHandler(getDeps: () => Promise<StallWorkerDeps>) {
  return sqsJobWorker<StallJobMessage, StallWorkerDeps>(
    {
      schema: StallJobSchema,
      jobId: (job) => stallJobId(job.conversationId, job.interactionId),
      logKeys: (job) => ({
        conversationId: job.conversationId,
        interactionId: job.interactionId,
        runId: job.runId ?? undefined,
      }),
      // A recommendation waits on no archive backlog: the stall worker takes the budget's reserve.
      priority: () => 'high',
      run: async (job, deps, { telemetry }) => {
        await runStallJob(job, { ...deps, telemetry });
      },
    },
    getDeps,
  );
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createStallWorkerHandler(lambdaStallWorkerDeps);
