// The stall job: one stalled interaction to ask Amigo for recommended responses about. Sent by the
// stall scan (shared/stages/find-stalls.ts), parsed with zod by the stall worker.
import * as z from 'zod';
import { InteractionIdSchema, MessageIdSchema } from '../ids.ts';
import { deferrals, jobEnvelope } from './envelope.ts';

const isoDate = z.iso.datetime({ offset: true });

/** The interaction's concluding agent message, as the API listed it; kept in the stall record. */
export const LastAgentMessageSchema = z.object({
  id: MessageIdSchema,
  created_at: isoDate,
  message: z.string(),
  format: z.string().min(1),
});
export type LastAgentMessage = z.infer<typeof LastAgentMessageSchema>;

export const StallJobSchema = z.object({
  kind: z.literal('stall'),
  ...jobEnvelope,
  interactionId: InteractionIdSchema,
  /** The conversation's `created_at`: it places the stall record (`date=` is its UTC day). */
  conversationCreatedAt: isoDate,
  /** Picks the recommend context (`stall.contexts`). */
  serviceId: z.string().min(1),
  lastAgentMessage: LastAgentMessageSchema,
  /** The conversation's `num_messages` when listed: the next scan skips it while this is unchanged. */
  numMessages: z.number().int().nonnegative(),
  /**
   * The keys of the conversation's tags when listed, so the worker can tell whether the stall tag
   * fits under Amigo's 20-tag limit without reading the conversation again. Null: unknown (the
   * worker then skips the tag and says so in the record).
   */
  tagKeys: z.array(z.string()).nullable().default(null),
  deferrals,
});
export type StallJobMessage = z.infer<typeof StallJobSchema>;

/** One job per (conversation, interaction): duplicates are recognisable on the queue. */
export function stallJobId(conversationId: string, interactionId: string): string {
  return `stall-${conversationId}-${interactionId}`;
}
