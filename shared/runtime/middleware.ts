// The Lambda entry shape every function shares: middy with the Powertools logger (context
// injected, keys reset per invocation) and metrics, and the dependencies' afterInvocation hook
// (the shared rate budget flushes its writes), whether the invocation succeeded or not.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics } from '../observability.ts';

interface WithAfterInvocation {
  readonly afterInvocation?: () => Promise<void>;
}

/** A function's dependencies, remembering the last ones built so the after-hook never builds them. */
export interface TrackedDeps<D> {
  get(): Promise<D>;
  built(): D | undefined;
}

export function trackDeps<D>(getDeps: () => Promise<D>): TrackedDeps<D> {
  let built: D | undefined;
  return {
    get: async () => {
      built = await getDeps();
      return built;
    },
    built: () => built,
  };
}

export function lambdaHandler<E, R>(
  fn: (event: E, context: Context) => Promise<R>,
  deps: TrackedDeps<WithAfterInvocation>,
) {
  // Runs once per invocation, success or not; a failure here is logged, never allowed to replace
  // the invocation's own error or result.
  const after = async () => {
    try {
      await deps.built()?.afterInvocation?.();
    } catch (error) {
      logger.warn('After-invocation hook failed', { error: error instanceof Error ? error.name : 'unknown' });
    }
  };
  return middy(fn)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use({ after, onError: after });
}

/**
 * An SQS-fed function: each record handled in turn by `handleRecord`, partial batch failures
 * reported (Powertools processPartialResponse), so one bad record never fails its batch-mates.
 *
 * The dependencies are built first, outside the records: a function that cannot start (a missing
 * variable, an unreadable secret) fails its invocation, which the function-error alarm reports.
 * A record that fails is only reported back for redelivery, even when every record of the batch
 * fails (a batch of one always does): redeliveries and the dead-letter queue are SQS's business,
 * and a Lambda error for each would page someone for every transient failure.
 */
export function sqsBatchHandler(
  handleRecord: (record: SQSRecord, context?: Context) => Promise<void>,
  deps: TrackedDeps<WithAfterInvocation>,
) {
  const processor = new BatchProcessor(EventType.SQS);
  return lambdaHandler(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    await deps.get();
    return processPartialResponse(event, handleRecord, processor, {
      context,
      processInParallel: false,
      throwOnFullBatchFailure: false,
    });
  }, deps);
}
