import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaHandler, trackDeps } from '../../../shared/runtime/middleware.ts';

const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1_000 } as Context;

describe('lambdaHandler', () => {
  it('when the dependencies fail to build, then that error surfaces and they are not built a second time', async () => {
    let builds = 0;
    const tracked = trackDeps(async () => {
      builds++;
      throw new Error(`cold start failed #${builds}`);
    });
    const handler = lambdaHandler(async () => {
      await tracked.get();
      return 'never';
    }, tracked);

    await expect(handler({}, context)).rejects.toThrow('cold start failed #1');
    expect(builds).toBe(1);
  });

  it('when the after-invocation hook throws, then it ran once and the result stands', async () => {
    let runs = 0;
    const tracked = trackDeps(async () => ({
      afterInvocation: async () => {
        runs++;
        throw new Error('flush failed');
      },
    }));
    const handler = lambdaHandler(async () => {
      await tracked.get();
      return 'ok';
    }, tracked);

    await expect(handler({}, context)).resolves.toBe('ok');
    expect(runs).toBe(1);
  });

  it('when the function fails, then the hook still runs once and the function error surfaces', async () => {
    let runs = 0;
    const tracked = trackDeps(async () => ({ afterInvocation: async () => void runs++ }));
    const handler = lambdaHandler(async () => {
      await tracked.get();
      throw new Error('work failed');
    }, tracked);

    await expect(handler({}, context)).rejects.toThrow('work failed');
    expect(runs).toBe(1);
  });
});
