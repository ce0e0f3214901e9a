import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createSchedulerHandler, type SchedulerDeps } from '../../../functions/scheduler/handler.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const context = {
  functionName: 'scheduler',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 60_000,
} as Context;

// No stage runs in these cases: the event is refused first, so the dependencies are never used.
const unusedDeps = async () => ({}) as SchedulerDeps;

describe('the scheduler invocation event', () => {
  it('when a manual invocation names an unknown task, then it is refused naming the field and the accepted forms', async () => {
    const handler = createSchedulerHandler(unusedDeps);

    const error = await handler({ tasks: ['archiv'] } as never, context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/event\.tasks\.0/);
    expect((error as ConfigurationError).hint).toMatch(/\{"tasks": \["stalls"\]\}/);
  });

  it('when since is not a date, then it is refused before anything is listed', async () => {
    const handler = createSchedulerHandler(unusedDeps);

    const error = await handler({ since: 'last tuesday' }, context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/event\.since/);
  });
});
