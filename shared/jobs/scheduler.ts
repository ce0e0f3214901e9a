// What starts the scheduler: a scheduled or manual invocation (EventBridge Scheduler, `aws lambda
// invoke`, `npm run cli -- trigger`). Its hand-over to the next invocation is ContinueListingSchema
// (shared/jobs/archive.ts).
import * as z from 'zod';
import { readDuration } from '../config/grammar.ts';
import { Invalid } from '../config/validation.ts';
import { ConfigurationError } from '../errors.ts';

const FIX =
  'Invoke with {"tasks": ["archive", "stalls"]}, {"tasks": ["stalls"]}, {"since": "2026-01-15"} or {"tasks": ["archive"], "lookback": "1d"}';

/**
 * A scheduled start lists for the archive and then looks for stalled interactions; `tasks` narrows
 * that (the frequent stall-only schedule sends ["stalls"]), `since` backfills, `lookback` lists back
 * less far than the configured lookback (the hourly runs between nightly ones send the config's
 * `archive.hourlyLookback`). Other fields (an EventBridge envelope) are ignored.
 */
export const SchedulerInvokeSchema = z.looseObject({
  tasks: z
    .array(z.enum(['archive', 'stalls']))
    .min(1)
    .optional(),
  since: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
  lookback: z.string().optional(),
});
/** The event as sent (by a schedule, a person, a test). */
export type SchedulerInvokeEvent = z.input<typeof SchedulerInvokeSchema>;
export type SchedulerTask = NonNullable<z.infer<typeof SchedulerInvokeSchema>['tasks']>[number];
/** The event as the scheduler uses it: `lookback` read as milliseconds, the envelope dropped. */
export interface SchedulerInvoke {
  readonly tasks?: readonly SchedulerTask[] | undefined;
  readonly since?: string | undefined;
  readonly lookbackMs?: number;
}

/** An invocation event read and checked; a bad one fails naming the field and the accepted forms. */
export function parseSchedulerInvoke(event: unknown): SchedulerInvoke {
  const parsed = SchedulerInvokeSchema.safeParse(event ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigurationError(
      `event.${issue?.path.join('.') || '(root)'}`,
      issue?.message ?? 'is invalid',
      FIX,
    );
  }
  const { tasks, since, lookback } = parsed.data;
  const invoke: SchedulerInvoke = { tasks, since };
  if (lookback === undefined) return invoke;
  return { ...invoke, lookbackMs: Invalid.named('event.lookback', () => readDuration(lookback)) };
}
