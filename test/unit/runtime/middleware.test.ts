import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaHandler, sqsBatchHandler, trackDeps } from '../../../shared/runtime/middleware.ts';

const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1_000 } as Context;

describe('lambdaHandler', () => {
  it('when the dependencies fail to build on two invocations, then each surfaces its own error and builds them once, never again in the after-invocation hook', async () => {
    let builds = 0;
    const tracked = trackDeps(async () => {
      builds++;
      throw new Error(`cold start failed #${builds}`);
    });
    const handler = lambdaHandler(async () => {
      await tracked.get();
      return 'never';
    }, tracked);

    const first = await handler({}, context).catch((e: unknown) => e);
    const buildsAfterFirst = builds;
    const second = await handler({}, context).catch((e: unknown) => e);

    expect((first as Error).message).toBe('cold start failed #1');
    expect(buildsAfterFirst).toBe(1);
    expect((second as Error).message).toBe('cold start failed #2');
    expect(builds).toBe(2);
  });

  it('when invoked twice, then each hook runs once with the dependencies its own invocation built, and builds nothing', async () => {
    let builds = 0;
    const hooks: number[] = [];
    const tracked = trackDeps(async () => {
      const build = ++builds;
      return { build, afterInvocation: async () => void hooks.push(build) };
    });
    const handler = lambdaHandler(async () => (await tracked.get()).build, tracked);

    const first = await handler({}, context);
    const second = await handler({}, context);

    expect([first, second]).toEqual([1, 2]);
    expect(builds).toBe(2);
    expect(hooks).toEqual([1, 2]);
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

function sqsEvent(...ids: string[]): SQSEvent {
  return {
    Records: ids.map((id) => ({
      messageId: id,
      receiptHandle: `r-${id}`,
      body: '{}',
      attributes: { ApproximateReceiveCount: '1' } as SQSRecord['attributes'],
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:q',
      awsRegion: 'us-east-1',
    })),
  };
}

describe('sqsBatchHandler', () => {
  it('when every record of a batch fails, then each is reported back for redelivery and the invocation itself succeeds', async () => {
    const tracked = trackDeps(async () => ({}));
    const handler = sqsBatchHandler(async () => {
      throw new Error('Amigo did not answer');
    }, tracked);

    const response = await handler(sqsEvent('a', 'b'), context);

    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['a', 'b']);
  });

  it('when one record fails, then only that one is reported back', async () => {
    const tracked = trackDeps(async () => ({}));
    const handler = sqsBatchHandler(async (record) => {
      if (record.messageId === 'b') throw new Error('bad');
    }, tracked);

    const response = await handler(sqsEvent('a', 'b', 'c'), context);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'b' }]);
  });

  it('when the function cannot start, then the invocation fails (the function-error alarm sees it) and no record is touched', async () => {
    let handled = 0;
    const tracked = trackDeps(async () => {
      throw new Error('AMIGO_SECRET_ARN is missing');
    });
    const handler = sqsBatchHandler(async () => {
      handled++;
    }, tracked);

    await expect(handler(sqsEvent('a'), context)).rejects.toThrow('AMIGO_SECRET_ARN is missing');
    expect(handled).toBe(0);
  });
});
