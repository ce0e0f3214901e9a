// The tag job: evaluate the rules over one archived conversation and write the tags back to Amigo.
import * as z from 'zod';
import { ConversationIdSchema, RunIdSchema } from '../ids.ts';

/** Evaluate the rules over one archived conversation and write the tags back to Amigo. */
export const TagJobSchema = z.object({
  kind: z.literal('tag'),
  v: z.literal(1),
  runId: RunIdSchema.nullable(),
  organizationId: z.string().min(1),
  conversationId: ConversationIdSchema,
  createdAt: z.iso.datetime({ offset: true }),
  deferrals: z.number().int().nonnegative().default(0),
});
export type TagJobMessage = z.infer<typeof TagJobSchema>;

export function tagJobId(conversationId: string): string {
  return `tag-${conversationId}`;
}
