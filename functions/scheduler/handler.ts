// Scheduler: started nightly by EventBridge, or by its own hand-over message on the continuation
// queue when the listing outgrew one invocation (shared/stages/run-scheduler.ts).
import type { Context, SQSEvent } from 'aws-lambda';
import { ContinueListingSchema } from '../../shared/jobs/archive.ts';
import { parseSchedulerInvoke, type SchedulerInvokeEvent } from '../../shared/jobs/scheduler.ts';
import { telemetry } from '../../shared/observability.ts';
import { lambdaSchedulerDeps } from '../../shared/runtime/lambda.ts';
import { lambdaHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import {
  runScheduler,
  type SchedulerDeps,
  type SchedulerOutput,
  type SchedulerStart,
} from '../../shared/stages/run-scheduler.ts';

export type { SchedulerDeps, SchedulerOutput };
export type SchedulerHandlerDeps = SchedulerDeps & {
  /** Told the run this invocation worked for, so that its Amigo calls are counted for it. */
  readonly usage?: { claimUnscoped(runId: string | undefined): void };
};
export type SchedulerEvent = SQSEvent | SchedulerInvokeEvent;

function startOf(event: SchedulerEvent): SchedulerStart {
  // Hand-overs arrive one per message; a malformed one is a bug, not data: fail loudly so it
  // lands in the continuation queue's dead-letter queue.
  if (Array.isArray((event as SQSEvent).Records)) {
    const resumes = (event as SQSEvent).Records.map((r) => ContinueListingSchema.parse(JSON.parse(r.body)));
    return { kind: 'hand-over', resumes };
  }
  const invoke = parseSchedulerInvoke(event);
  return { kind: 'invoke', ...invoke, tasks: invoke.tasks ?? ['archive', 'stalls'] };
}

export function createSchedulerHandler(getDeps: () => Promise<SchedulerHandlerDeps>) {
  const tracked = trackDeps(getDeps);
  return lambdaHandler(async (event: SchedulerEvent, context: Context): Promise<SchedulerOutput> => {
    const deps = await tracked.get();
    const remainingTimeMs = () => context.getRemainingTimeInMillis();
    const output = await runScheduler(startOf(event), { ...deps, telemetry, remainingTimeMs });
    deps.usage?.claimUnscoped(output.archive[0]?.runId);
    return output;
  }, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createSchedulerHandler(lambdaSchedulerDeps);
