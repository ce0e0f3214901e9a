// Public types of the simulator. `sim/index.ts` re-exports all of them.
import type {
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
  OperationId,
  SchemaIssue,
} from '../shared/openapi/index.ts';

import type { Arrivals } from './arrivals.ts';

export type {
  Arrivals,
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
  OperationId,
  SchemaIssue,
};

export interface SimCredential {
  apiKey: string;
  apiKeyId: string;
  userId: string;
}

export interface SimulatorOptions {
  /** Seed of the generated data (default 1). */
  seed?: number;
  /** Number of generated conversations (default 40). */
  conversations?: number;
  /**
   * Conversations with more than 500 messages (300+ interactions), 0 to 2. Default 2 when
   * `conversations` >= 10, else 0. They dominate a run's API budget, so fast tests may turn them off.
   */
  longConversations?: number;
  /** Interactions of each long conversation (default 300-340, seeded); e.g. 2000 to test resumable archiving. */
  longConversationInteractions?: number;
  /** The one organization the simulator serves (default `sim-org`). */
  organizationId?: string;
  /** Accepted API keys (default one: `sim-key-secret-000000` / `sim-key-id` / `sim-user`). */
  credentials?: SimCredential[];
  /** Lifetime of issued tokens in sim time (default 1 h). */
  tokenTtlMs?: number;
  /** Lifetime of signed audio URLs in sim time (default 60 s; `long_lived=true` gives 12 h). */
  signedUrlTtlMs?: number;
  rateLimits?: {
    enabled?: boolean;
    /** Divides every published window: 60 turns 15/min into 15/s. */
    scale?: number;
    overrides?: Partial<Record<OperationId, { limit: number; windowMs: number }>>;
  };
  /** Start of the simulated clock (default real now). Data timestamps are relative to it. */
  now?: string | Date;
  audio?: { largeRecordings?: number; largeRecordingBytes?: number };
  /** Conversations that finish over the coming simulated days instead of `conversations` (sim/arrivals.ts). */
  arrivals?: Arrivals;
  faults?: FaultConfig;
  /** Check every 2xx JSON body against the spec and record violations (default true). */
  validateResponses?: boolean;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port to bind (default 0: ephemeral). */
  port?: number;
}

export interface RunningSimulator {
  /** Base URL, the AMIGO_BASE_URL to use. */
  url: string;
  organizationId: string;
  /** The first credential. */
  credentials: SimCredential;
  control: SimulatorControl;
  /** Closes the server and any open sockets. */
  stop(): Promise<void>;
}

export type ScenarioKind =
  | 'finished-analyzed'
  | 'finished-unanalyzed'
  | 'active'
  | 'stalled'
  | 'finishes-during-run';

export interface SimulatorControl {
  now(): Date;
  advanceClock(ms: number): void;
  /** Replaces the rate-based fault configuration. */
  setFaults(faults: FaultConfig): void;
  /** One-shot faults, consumed in order by the next matching requests. */
  enqueueFaults(faults: ScriptedFault[]): void;
  stats(): SimStats;
  resetStats(): void;
  /** All conversations as the API would return them now, newest first. */
  conversations(): ConversationInstance[];
  conversation(id: string): ConversationInstance | undefined;
  /** Visible messages of all types, ascending created_at then id. */
  messages(conversationId: string): MessageInstance[];
  insights(conversationId: string, interactionId: string): InteractionInsights | undefined;
  audio(messageId: string): { contentType: string; bytes: number; sha256(): Promise<string> } | undefined;
  scenario(conversationId: string): ScenarioKind | undefined;
  /**
   * Rotates an API key: from now on only `apiKey` signs in as `apiKeyId`'s user (the old key is
   * refused). Tokens already issued stay valid until they expire, as with a real rotation.
   */
  rotateApiKey(apiKeyId: string, apiKey: string): void;
}

export interface SimRequestRecord {
  operationId: OperationId | 'audio';
  status: number;
  /** Sim time, epoch milliseconds. */
  at: number;
  userId?: string;
  fault?: string;
}

export interface SimWriteRecord {
  operationId: OperationId;
  conversationId: string;
  interactionId?: string;
  body: unknown;
  status: number;
  at: number;
}

export interface SimStats {
  /** operationId (or 'audio') -> status -> count. A reset socket counts as status 0. */
  calls: Record<string, Record<string, number>>;
  requests: SimRequestRecord[];
  writes: SimWriteRecord[];
  violations: Array<{ operationId: OperationId; status: number; issues: SchemaIssue[] }>;
  tokensIssued: number;
}

export type FaultTarget = OperationId | 'audio';

export type ScriptedFault =
  | {
      operation?: FaultTarget;
      kind: 'status';
      status: number;
      retryAfterSeconds?: number;
      /** How Retry-After states the wait: delay-seconds (default) or an HTTP date (RFC 9110 allows both). */
      retryAfterAs?: 'seconds' | 'http-date';
    }
  | { operation?: FaultTarget; kind: 'truncate' }
  | { operation?: FaultTarget; kind: 'malformed' }
  | { operation?: FaultTarget; kind: 'reset' }
  | { operation?: FaultTarget; kind: 'delay'; ms: number }
  /** The recording's stream dies after `afterBytes`; with `expireUrl`, its signed URL is refused from then on (403 expired). */
  | { operation?: 'audio'; kind: 'audio-fail'; afterBytes: number; expireUrl?: boolean };

export interface FaultConfig {
  /** Scope of the rate-based faults (default all operations and audio). */
  operations?: FaultTarget[];
  latencyMs?: number | [number, number];
  /** Probability per request of answering with that status, e.g. {500: 0.05}. */
  statusRates?: Partial<Record<number, number>>;
  truncateRate?: number;
  malformedRate?: number;
  resetRate?: number;
  audioFailRate?: number;
  /** 503 with Retry-After during these sim-time windows. */
  maintenance?: Array<{ from: string | Date; to: string | Date }>;
}
