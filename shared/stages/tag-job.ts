// One tag job from the queue: the rules evaluated over the archived conversation, the tags posted
// (shared/stages/apply-tags.ts: tags amigo-qa set that no rule sets any more are removed, tags it
// did not set are never touched), and the outcome counted.
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
  // The metric counts the limit's drops only: a key left to its owner is policy, not a shortage.
  const atLimit = outcome.plan.diff.dropped.length;
  if (atLimit > 0) metrics.addMetric(METRIC.tagsDropped, 'Count', atLimit);
  if (outcome.status === 'rejected') log.warn('Amigo refused the tags; recorded in tags.json');
  log.info('Rules evaluated', {
    status: outcome.status,
    matched: outcome.record.results.filter((r) => r.matched).map((r) => r.rule),
    dropped: atLimit,
    removed: outcome.plan.diff.removed.length,
    leftAlone: outcome.plan.diff.leftAlone.length,
  });
  return outcome;
}
