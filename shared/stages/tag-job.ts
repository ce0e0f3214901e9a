// One tag job from the queue: the rules evaluated over the archived conversation, the tags posted
// (shared/stages/apply-tags.ts), and the outcome counted.
import { METRIC } from '../contract/metric-names.ts';
import type { TagJobMessage } from '../jobs/tag.ts';
import type { Telemetry } from '../ports/telemetry.ts';
import { applyTags, type TagDeps, type TagOutcome } from './apply-tags.ts';

export interface TagJobDeps extends Omit<TagDeps, 'dryRun'> {
  readonly telemetry: Telemetry;
  /** Told every evaluation's outcome (the local runner's summary). */
  readonly onOutcome?: ((outcome: TagOutcome) => void) | undefined;
}

export async function runTagJob(job: TagJobMessage, deps: TagJobDeps): Promise<TagOutcome> {
  const { log, metrics } = deps.telemetry;
  const outcome = await applyTags(job, deps);
  deps.onOutcome?.(outcome);
  metrics.addMetric(METRIC.tagsPosted, 'Count', outcome.status === 'posted' ? 1 : 0);
  if (outcome.record.dropped.length > 0)
    metrics.addMetric(METRIC.tagsDropped, 'Count', outcome.record.dropped.length);
  if (outcome.status === 'rejected') log.warn('Amigo refused the tags; recorded in tags.json');
  log.info('Rules evaluated', {
    status: outcome.status,
    matched: outcome.record.results.filter((r) => r.matched).map((r) => r.rule),
    dropped: outcome.record.dropped.length,
  });
  return outcome;
}
