// One stall job from the queue: at most one recommend-responses call for the stalled interaction
// (shared/stages/request-recommendation.ts), and the outcome counted.
import { METRIC } from '../contract/metric-names.ts';
import type { StallJobMessage } from '../jobs/stall.ts';
import type { Telemetry } from '../ports/telemetry.ts';
import {
  type RecommendationOutcome,
  type RequestRecommendationDeps,
  requestRecommendation,
} from './request-recommendation.ts';

export interface StallJobDeps extends RequestRecommendationDeps {
  readonly telemetry: Telemetry;
  /** Told every handled interaction's outcome (the local runner's summary). */
  readonly onOutcome?: ((outcome: RecommendationOutcome) => void) | undefined;
}

export async function runStallJob(job: StallJobMessage, deps: StallJobDeps): Promise<RecommendationOutcome> {
  const { log, metrics } = deps.telemetry;
  const outcome = await requestRecommendation(job, deps);
  deps.onOutcome?.(outcome);
  // Requested: calls Amigo answered (recommended or 400); rejected: the 400s among them.
  if (outcome.status !== 'already-requested') metrics.addMetric(METRIC.recommendationsRequested, 'Count', 1);
  if (outcome.status === 'rejected') metrics.addMetric(METRIC.recommendationsRejected, 'Count', 1);
  log.info('Stalled interaction handled', {
    status: outcome.status,
    responses: outcome.record?.recommended_responses.length,
    tag: outcome.record?.tag?.status,
  });
  return outcome;
}
