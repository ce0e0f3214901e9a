// The Amigo simulator: an HTTP server answering the seven Amigo operations the way the OpenAPI spec
// describes them, from deterministic generated data, with rate limits, faults and a controllable clock.
// It never imports the Amigo client (shared/amigo/), which it exists to check.
import { hash32 } from './prng.ts';
import { SimServer } from './server.ts';
import { SimState } from './state.ts';
import type {
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
  RunningSimulator,
  ScenarioKind,
  SimulatorControl,
  SimulatorOptions,
} from './types.ts';
import { WAV_CONTENT_TYPE, wavSha256 } from './wav.ts';

export { DEFAULT_CREDENTIAL } from './state.ts';
export type {
  Arrivals,
  ConversationInstance,
  FaultConfig,
  FaultTarget,
  InteractionInsights,
  MessageInstance,
  OperationId,
  RunningSimulator,
  ScenarioKind,
  SchemaIssue,
  ScriptedFault,
  SimCredential,
  SimRequestRecord,
  SimStats,
  SimulatorControl,
  SimulatorOptions,
  SimWriteRecord,
} from './types.ts';

function createControl(state: SimState): SimulatorControl {
  const { dataset } = state;
  return {
    now: () => new Date(state.now()),
    advanceClock: (ms) => state.clock.advance(ms),
    setFaults: (faults) => state.faults.setConfig(faults),
    enqueueFaults: (faults) => state.faults.enqueue(faults),
    stats: () => structuredClone(state.stats),
    resetStats: () => state.resetStats(),
    conversations: (): ConversationInstance[] => {
      const now = state.now();
      return dataset.headers.map((h) => dataset.instance(h, now, state.tagsOf(h)));
    },
    conversation: (id) => {
      const h = dataset.header(id);
      return h ? dataset.instance(h, state.now(), state.tagsOf(h)) : undefined;
    },
    messages: (conversationId): MessageInstance[] => {
      const h = dataset.header(conversationId);
      return h ? dataset.visibleMessages(h, state.now()).map((m) => ({ ...m.instance })) : [];
    },
    insights: (conversationId, interactionId): InteractionInsights | undefined => {
      const h = dataset.header(conversationId);
      return h ? dataset.insights(h, interactionId, state.now()) : undefined;
    },
    audio: (messageId) => {
      const found = dataset.findMessage(messageId);
      const bytes = found?.message.audioBytes;
      if (!found || bytes === undefined) return undefined;
      const source = { totalBytes: bytes, seed: hash32(state.options.seed, 'audio', messageId) };
      return { contentType: WAV_CONTENT_TYPE, bytes, sha256: () => wavSha256(source) };
    },
    scenario: (conversationId): ScenarioKind | undefined => dataset.header(conversationId)?.kind,
    rotateApiKey: (apiKeyId, apiKey) => {
      const credential = state.options.credentials.find((c) => c.apiKeyId === apiKeyId);
      if (!credential) throw new RangeError(`No API key ${apiKeyId} to rotate`);
      credential.apiKey = apiKey;
    },
  };
}

/** Starts the simulator on `host:port` (default 127.0.0.1, an ephemeral port). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const state = new SimState(options);
  const server = new SimServer(state);
  const url = await server.listen();
  let stopped: Promise<void> | undefined;
  return {
    url,
    organizationId: state.options.organizationId,
    credentials: { ...(state.options.credentials[0] as RunningSimulator['credentials']) },
    control: createControl(state),
    stop: () => {
      stopped ??= server.close();
      return stopped;
    },
  };
}
