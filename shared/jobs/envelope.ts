// The fields every job message between the functions starts with. `v` changes only with a change
// a receiving end of the previous version could not read; such a job is dead-lettered with the reason.
import * as z from 'zod';
import { ConversationIdSchema, RunIdSchema } from '../ids.ts';

export const jobEnvelope = {
  v: z.literal(1),
  /** The run that enqueued it; null for jobs sent outside a run (`rules apply`, a scan without one). */
  runId: RunIdSchema.nullable(),
  organizationId: z.string().min(1),
  conversationId: ConversationIdSchema,
};

/** Times a job was put back after Amigo throttled it or was in maintenance (not failures). */
export const deferrals = z.number().int().nonnegative().default(0);
