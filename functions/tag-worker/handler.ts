// Tag worker: SQS batch of tag jobs -> the rules evaluated over each archived conversation and the
// resulting tags written back to Amigo within the 20-tag limit (shared/stages/tag-job.ts).
import { type TagJobMessage, TagJobSchema, tagJobId } from '../../shared/jobs/tag.ts';
import { type JobWorkerDeps, sqsJobWorker } from '../../shared/runtime/job-worker.ts';
import { lambdaTagWorkerDeps } from '../../shared/runtime/lambda.ts';
import { runTagJob, type TagJobDeps } from '../../shared/stages/tag-job.ts';

export type TagWorkerDeps = Omit<TagJobDeps, 'telemetry'> & JobWorkerDeps<TagJobMessage>;

export function createTagWorkerHandler(getDeps: () => Promise<TagWorkerDeps>) {
  return sqsJobWorker<TagJobMessage, TagWorkerDeps>(
    {
      schema: TagJobSchema,
      jobId: (job) => tagJobId(job.conversationId),
      logKeys: (job) => ({ conversationId: job.conversationId, runId: job.runId ?? undefined }),
      run: async (job, deps, { telemetry }) => {
        await runTagJob(job, { ...deps, telemetry });
      },
    },
    getDeps,
  );
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createTagWorkerHandler(lambdaTagWorkerDeps);
