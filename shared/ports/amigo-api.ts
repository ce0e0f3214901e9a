// The part of the Amigo client the pipeline stages use. `AmigoClient` satisfies it; stage tests
// run it against the simulator. Types come from the spec, never from the client.
import type { Readable } from 'node:stream';
import {
  type ConversationInstance,
  type InteractionInsights,
  type MessageInstance,
  type ModifyTagsRequest,
  messageTypes,
  type SpecOperations,
} from '../openapi/index.ts';

export type ConversationQuery = NonNullable<SpecOperations['get-conversations']['parameters']['query']>;
export type MessageQuery = NonNullable<SpecOperations['get-conversation-messages']['parameters']['query']>;

/** Every message type: the API's default leaves out the agent's inner thoughts. */
export const ALL_MESSAGE_TYPES = messageTypes;

export interface Page<T> {
  readonly items: T[];
  /** The token this page was requested with. */
  readonly token: number;
  /** The token for the next page, exactly as the server handed it; null on the last page. */
  readonly nextToken: number | null;
}

export interface AudioDownload {
  /** As the storage answered, e.g. `audio/wav`. */
  readonly contentType: string;
  /** Total size when the storage announced it. */
  readonly contentLength: number | undefined;
  /** The bytes, in order, exactly once; errors when the recording cannot be completed. */
  readonly stream: Readable;
}

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
