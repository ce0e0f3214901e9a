// Messages between the pipeline's functions, parsed with zod at every receiving end.
import * as z from 'zod';
import { ConversationIdSchema, RunIdSchema } from './ids.ts';
import type { ConversationInstance } from './openapi/index.ts';

const isoDate = z.iso.datetime({ offset: true });

/** The conversation as listed; passed through so the worker spends no API call re-reading it. */
const ListedConversation = z.looseObject({
  id: z.string(),
  created_at: isoDate,
  num_messages: z.number().int().nonnegative(),
  service_id: z.string(),
});

export const ArchiveJobSchema = z.object({
  kind: z.literal('archive'),
  v: z.literal(1),
  runId: RunIdSchema.nullable(),
  organizationId: z.string().min(1),
  conversationId: ConversationIdSchema,
  conversation: ListedConversation.transform((c) => c as unknown as ConversationInstance),
  /** Times this job was put back after Amigo throttled it or was in maintenance (not failures). */
  deferrals: z.number().int().nonnegative().default(0),
});
export type ArchiveJobMessage = z.infer<typeof ArchiveJobSchema>;

export const SchedulerCountsSchema = z.object({
  listed: z.number().int().nonnegative(),
  enqueued: z.number().int().nonnegative(),
  alreadyArchived: z.number().int().nonnegative(),
  deferredUnanalyzed: z.number().int().nonnegative(),
  failedToEnqueue: z.number().int().nonnegative(),
  pages: z.number().int().nonnegative(),
  invocations: z.number().int().positive(),
});
export type SchedulerCounts = z.infer<typeof SchedulerCountsSchema>;

/** The scheduler's hand-over to its next invocation when one invocation cannot walk the whole listing. */
export const ContinueListingSchema = z.object({
  kind: z.literal('continue-listing'),
  v: z.literal(1),
  runId: RunIdSchema,
  organizationId: z.string().min(1),
  startToken: z.number().int(),
  cutoff: isoDate.nullable(),
  previousWatermark: isoDate.nullable(),
  newestSeen: isoDate.nullable(),
  /** The watermark may not pass a conversation that was deferred or could not be enqueued. */
  pinnedAt: isoDate.nullable(),
  startedAt: isoDate,
  counts: SchedulerCountsSchema,
});
export type ContinueListingMessage = z.infer<typeof ContinueListingSchema>;

export function archiveJobId(conversationId: string): string {
  return `archive-${conversationId}`;
}
