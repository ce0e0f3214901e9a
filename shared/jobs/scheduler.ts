// What starts the scheduler: a scheduled or manual invocation (EventBridge Scheduler, `aws lambda
// invoke`, `npm run cli -- trigger`). Its hand-over to the next invocation is ContinueListingSchema
// (shared/jobs/archive.ts).
import * as z from 'zod';
import { ConfigurationError } from '../errors.ts';

/**
 * A scheduled start lists for the archive and then looks for stalled interactions; `tasks` narrows
 * that (the frequent stall-only schedule sends ["stalls"]), `since` backfills. Other fields (an
 * EventBridge envelope) are ignored.
 */
export const SchedulerInvokeSchema = z.looseObject({
  tasks: z
    .array(z.enum(['archive', 'stalls']))
    .min(1)
    .optional(),
  since: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
});
export type SchedulerInvoke = z.infer<typeof SchedulerInvokeSchema>;
export type SchedulerTask = NonNullable<SchedulerInvoke['tasks']>[number];

/** An invocation event read and checked; a bad one fails naming the field and the accepted forms. */
export function parseSchedulerInvoke(event: unknown): SchedulerInvoke {
  const parsed = SchedulerInvokeSchema.safeParse(event ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigurationError(
    `event.${issue?.path.join('.') || '(root)'}`,
    issue?.message ?? 'is invalid',
    'Invoke with {"tasks": ["archive", "stalls"]}, {"tasks": ["stalls"]} or {"since": "2026-01-15"}',
  );
}
