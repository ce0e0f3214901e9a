// The part of the Amigo client the pipeline stages use. `AmigoClient` satisfies it; stage tests
// run it against the simulator.
import type { AudioDownload } from '../amigo/audio.ts';
import type { ConversationQuery, MessageQuery, Page } from '../amigo/client.ts';
import type {
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
  ModifyTagsRequest,
} from '../openapi/index.ts';

export interface AmigoApi {
  conversationPages(
    query?: ConversationQuery,
    options?: { signal?: AbortSignal; startToken?: number },
  ): AsyncIterable<Page<ConversationInstance>>;
  messages(
    conversationId: string,
    query?: MessageQuery,
    options?: { signal?: AbortSignal },
  ): AsyncIterable<MessageInstance>;
  getInteractionInsights(
    conversationId: string,
    interactionId: string,
    options?: { signal?: AbortSignal },
  ): Promise<InteractionInsights>;
  downloadMessageSource(
    conversationId: string,
    messageId: string,
    options?: { signal?: AbortSignal },
  ): Promise<AudioDownload>;
  modifyTags(
    conversationId: string,
    request: ModifyTagsRequest,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
  recommendResponses(
    conversationId: string,
    interactionId: string,
    context?: string,
    options?: { signal?: AbortSignal },
  ): Promise<string[]>;
}
