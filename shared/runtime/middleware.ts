// The Lambda entry shape every function shares: middy with Powertools tracer, logger (context
// injected, keys reset per invocation) and metrics, and the dependencies' afterInvocation hook
// (the shared rate budget flushes its writes), whether the invocation succeeded or not.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics, tracer } from '../observability.ts';

interface WithAfterInvocation {
  readonly afterInvocation?: () => Promise<void>;
}

export function lambdaHandler<E, R>(
  fn: (event: E, context: Context) => Promise<R>,
  getDeps: () => Promise<WithAfterInvocation>,
) {
  const after = async () => {
    await (await getDeps()).afterInvocation?.();
  };
  return middy(fn)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use({ after, onError: after });
}

/**
 * An SQS-fed function: each record handled in turn by `handleRecord`, partial batch failures
 * reported (Powertools processPartialResponse), so one bad record never fails its batch-mates.
 */
export function sqsBatchHandler(
  handleRecord: (record: SQSRecord, context?: Context) => Promise<void>,
  getDeps: () => Promise<WithAfterInvocation>,
) {
  const processor = new BatchProcessor(EventType.SQS);
  return lambdaHandler(
    (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
      processPartialResponse(event, handleRecord, processor, { context, processInParallel: false }),
    getDeps,
  );
}
