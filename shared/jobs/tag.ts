// The tag job: evaluate the rules over one archived conversation and write the tags back to Amigo.
import * as z from 'zod';
import { deferrals, jobEnvelope } from './envelope.ts';

/** Evaluate the rules over one archived conversation and write the tags back to Amigo. */
export const TagJobSchema = z.object({
  kind: z.literal('tag'),
  ...jobEnvelope,
  createdAt: z.iso.datetime({ offset: true }),
  deferrals,
});
export type TagJobMessage = z.infer<typeof TagJobSchema>;

export function tagJobId(conversationId: string): string {
  return `tag-${conversationId}`;
}
