// The simulated organization's data, generated deterministically from a seed and a start time.
// Conversation headers (id, kind, timing, tags) are built up front; messages and insights are
// generated on demand from per-conversation PRNG streams and cached, so 10,000 conversations start fast.
// What the API shows depends on the sim time: messages dated in the future are not yet visible, and
// `finishes-during-run` conversations finish and get analyzed as the clock moves.
import {
  type ConversationInstance,
  type InteractionInsights,
  type MessageInstance,
  type Schemas,
  transitionKinds,
} from '../shared/openapi/index.ts';
import { type Arrivals, arrivalTiming } from './arrivals.ts';
import {
  AGENT_GOODBYES,
  AGENT_GREETINGS,
  AGENT_REPLIES,
  EXIT_CONDITIONS,
  EXTERNAL_EVENTS,
  INNER_THOUGHTS,
  MEMORIES,
  RECOMMENDATIONS,
  REFLECTIONS,
  SERVICES,
  STATES,
  TAG_POOL,
  TOOLS,
  TOPICS,
  USER_FOLLOW_UPS,
  USER_NAMES,
  USER_OPENERS,
} from './content.ts';
import { createRng, hash32, hex, type Rng } from './prng.ts';
import type { ScenarioKind } from './types.ts';
import { normalizeWavSize } from './wav.ts';

type VersionSetInfo = Schemas['VersionSetInfo'];
type ToolCallLog = Schemas['ToolCallLog'];
type StateTransitionLog = Schemas['StateTransitionLog'];
type PostAnalysisType = Schemas['PostAnalysisType'];
type Tags = Record<string, string | null>;

export const SCENARIO_KINDS: readonly ScenarioKind[] = [
  'finished-analyzed',
  'finished-unanalyzed',
  'active',
  'stalled',
  'finishes-during-run',
];

export const TRANSITION_KINDS = transitionKinds;

const ALL_POST_PROCESSINGS: PostAnalysisType[] = [
  'generate-user-models',
  'extract-memories',
  'compute-metrics',
];

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** 16 kHz, mono, 16-bit PCM. */
export const AUDIO_BYTES_PER_SECOND = 32_000;
export const WAV_HEADER_BYTES = 44;

export interface DatasetConfig {
  seed: number;
  conversations: number;
  /** Sim time at start, epoch ms: every generated timestamp is relative to it. */
  startMs: number;
  largeRecordings: number;
  largeRecordingBytes: number;
  /** Conversations at index 5 (and 6) with 300+ interactions. */
  longConversations: number;
  /** Their interaction count; default 300-340 (seeded). */
  longInteractions?: number;
  /** Conversations finish through the coming days instead of before the start (sim/arrivals.ts). */
  arrivals?: Arrivals;
}

export interface Service {
  id: string;
  name: string;
  agentName: string;
}

export interface ConversationHeader {
  index: number;
  id: string;
  kind: ScenarioKind;
  format: 'text' | 'voice';
  userId: string;
  userName: string;
  service: Service;
  createdMs: number;
  /** Planned time of the last message. */
  endMs: number;
  interactionCount: number;
  agentFirst: boolean;
  /** The last interaction holds only the user's message (an `active` conversation awaiting the agent). */
  lastIncomplete: boolean;
  finishMs: number | undefined;
  analyzedMs: number | undefined;
  postProcessings: PostAnalysisType[];
  versionSetInfo: VersionSetInfo | null;
  tags: Tags;
  largeAudio: boolean;
}

export interface SimMessage {
  /** Position in ascending created_at order. */
  index: number;
  createdMs: number;
  interactionIndex: number;
  instance: MessageInstance;
  /** Size of the WAV source in bytes, for voice messages. */
  audioBytes: number | undefined;
}

export interface SimInteraction {
  index: number;
  id: string;
  /** Indices into the conversation's messages. */
  messageIndices: number[];
  agentMessageIndex: number | undefined;
  innerThoughtIds: string[];
}

export interface ConversationBody {
  messages: SimMessage[];
  interactions: SimInteraction[];
  interactionById: Map<string, SimInteraction>;
  messageById: Map<string, SimMessage>;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Ids look like Mongo ObjectIds (time prefix) and carry the conversation and item index, masked by the seed. */
function objectId(seed: number, tag: string, ms: number, a: number, b: number): string {
  const maskA = hash32(seed, tag, 'a') & 0xffffff;
  const maskB = hash32(seed, tag, 'b') & 0xffffff;
  return (
    hex(Math.floor(ms / 1000), 8) +
    hex((a ^ maskA) & 0xffffff, 6) +
    hex((b ^ maskB) & 0xffffff, 6) +
    hex(hash32(seed, tag, a, b) & 0xffff, 4)
  );
}

function decodeObjectId(seed: number, tag: string, id: string): { a: number; b: number } | undefined {
  if (!/^[a-f0-9]{24}$/.test(id)) return undefined;
  const a = (Number.parseInt(id.slice(8, 14), 16) ^ (hash32(seed, tag, 'a') & 0xffffff)) & 0xffffff;
  const b = (Number.parseInt(id.slice(14, 20), 16) ^ (hash32(seed, tag, 'b') & 0xffffff)) & 0xffffff;
  if (hex(hash32(seed, tag, a, b) & 0xffff, 4) !== id.slice(20)) return undefined;
  return { a, b };
}

export class Dataset {
  readonly config: DatasetConfig;
  readonly services: Service[];
  readonly users: Array<{ id: string; name: string }>;
  /** Newest first (created_at descending, then id descending). */
  readonly headers: ConversationHeader[];
  readonly byId: Map<string, ConversationHeader>;
  private readonly byIndex: ConversationHeader[];
  private readonly cache = new Map<number, ConversationBody>();
  private readonly cacheLimit = 512;

  constructor(config: DatasetConfig) {
    this.config = config;
    const rng = createRng(config.seed, 'org');
    const serviceCount = rng.int(3, 4);
    this.services = SERVICES.slice(0, serviceCount).map((s) => ({
      id: rng.hex(24),
      name: s.name,
      agentName: s.agent,
    }));
    this.users = USER_NAMES.map((name) => ({ id: rng.hex(24), name }));
    this.byIndex = [];
    for (let i = 0; i < config.conversations; i++) this.byIndex.push(this.makeHeader(i));
    let large = config.largeRecordings;
    for (const h of this.byIndex) {
      if (large <= 0) break;
      if (h.format === 'voice' && h.kind.startsWith('finished')) {
        h.largeAudio = true;
        large--;
      }
    }
    this.headers = [...this.byIndex].sort(compareHeadersNewestFirst);
    this.byId = new Map(this.headers.map((h) => [h.id, h]));
  }

  private isLong(index: number): boolean {
    return (
      (index === 5 && this.config.longConversations >= 1) ||
      (index === 6 && this.config.longConversations >= 2)
    );
  }

  private kindOf(index: number, rng: Rng): ScenarioKind {
    const n = this.config.conversations;
    if (n >= 10 && this.isLong(index)) return 'finished-analyzed';
    if (index < SCENARIO_KINDS.length) {
      const order = createRng(this.config.seed, 'kind-order').sample(SCENARIO_KINDS, SCENARIO_KINDS.length);
      return order[index] as ScenarioKind;
    }
    const r = rng.next();
    if (r < 0.45) return 'finished-analyzed';
    if (r < 0.6) return 'finished-unanalyzed';
    if (r < 0.75) return 'active';
    if (r < 0.9) return 'stalled';
    return 'finishes-during-run';
  }

  private makeHeader(index: number): ConversationHeader {
    if (this.config.arrivals) return this.arrivingHeader(index, this.config.arrivals);
    const { seed, startMs, conversations } = this.config;
    const rng = createRng(seed, 'conversation', index);
    const kind = this.kindOf(index, rng);
    const giant = conversations >= 10 && this.isLong(index);
    const format: 'text' | 'voice' = index === 1 || index === 6 || rng.chance(0.3) ? 'voice' : 'text';
    const user = rng.pick(this.users);
    const service = rng.pick(this.services);
    let interactionCount = giant ? (this.config.longInteractions ?? rng.int(300, 340)) : rng.int(1, 12);
    const perInteraction = rng.int(60, 150) * SECOND;
    let createdMs: number;
    let endMs: number;
    let finishMs: number | undefined;
    let analyzedMs: number | undefined;
    let lastIncomplete = false;
    switch (kind) {
      case 'finished-analyzed':
      case 'finished-unanalyzed': {
        endMs = startMs - rng.int(HOUR, 30 * DAY);
        createdMs = endMs - interactionCount * perInteraction;
        break;
      }
      case 'active': {
        endMs = startMs - rng.int(5 * SECOND, 4 * MINUTE);
        createdMs = endMs - interactionCount * perInteraction;
        lastIncomplete = rng.chance(0.6);
        if (lastIncomplete && interactionCount < 2) interactionCount = 2;
        createdMs = endMs - interactionCount * perInteraction;
        break;
      }
      case 'stalled': {
        endMs = startMs - rng.int(2 * HOUR, 48 * HOUR);
        createdMs = endMs - interactionCount * perInteraction;
        break;
      }
      case 'finishes-during-run': {
        createdMs = startMs - rng.int(10 * MINUTE, 40 * MINUTE);
        endMs = startMs + rng.int(2 * MINUTE, 8 * MINUTE);
        interactionCount = Math.max(2, Math.min(rng.int(4, 12), Math.floor((endMs - createdMs) / MINUTE)));
        finishMs = endMs + rng.int(30 * SECOND, 2 * MINUTE);
        analyzedMs = finishMs + rng.int(MINUTE, 5 * MINUTE);
        break;
      }
    }
    createdMs = Math.round(createdMs);
    const postProcessings =
      kind === 'finished-analyzed' || kind === 'finishes-during-run'
        ? rng.chance(0.7)
          ? [...ALL_POST_PROCESSINGS]
          : ALL_POST_PROCESSINGS.slice(0, rng.int(1, 2))
        : [];
    return {
      index,
      id: objectId(seed, 'conversation', createdMs, index, 0),
      kind,
      format,
      userId: user.id,
      userName: user.name,
      service,
      createdMs,
      endMs,
      interactionCount,
      agentFirst: rng.chance(0.4),
      lastIncomplete,
      finishMs,
      analyzedMs,
      postProcessings,
      versionSetInfo: rng.chance(0.15) ? null : this.versionSetInfo(rng),
      tags: this.makeTags(index, rng),
      largeAudio: false,
    };
  }

  /** A conversation of an arrivals dataset: it finishes (and is analyzed) at its arrival time. */
  private arrivingHeader(index: number, arrivals: Arrivals): ConversationHeader {
    const { seed, startMs } = this.config;
    const rng = createRng(seed, 'arrival', index);
    const timing = arrivalTiming(arrivals, index, startMs, rng);
    const user = rng.pick(this.users);
    const service = rng.pick(this.services);
    return {
      index,
      id: objectId(seed, 'conversation', timing.createdMs, index, 0),
      kind: 'finishes-during-run',
      format: rng.chance(arrivals.voiceShare) ? 'voice' : 'text',
      userId: user.id,
      userName: user.name,
      service,
      createdMs: timing.createdMs,
      endMs: timing.endMs,
      interactionCount: arrivals.interactions,
      agentFirst: rng.chance(0.4),
      lastIncomplete: false,
      finishMs: timing.finishMs,
      analyzedMs: timing.analyzedMs,
      postProcessings: [...ALL_POST_PROCESSINGS],
      versionSetInfo: this.versionSetInfo(rng),
      tags: {},
      largeAudio: false,
    };
  }

  private versionSetInfo(rng: Rng): VersionSetInfo {
    return {
      name: rng.pick(['release', 'edge', 'unknown']),
      agent_version_info: [rng.hex(24), rng.int(1, 40)],
      service_hierarchical_state_machine_version_info: [rng.hex(24), rng.int(1, 25)],
      llm_model_preferences: rng.chance(0.5)
        ? { EngageUser: { llm_name: 'azure_gpt-4o', params: { temperature: 0.2 } } }
        : {},
    };
  }

  private makeTags(index: number, rng: Rng): Tags {
    const tags: Tags = {};
    for (const [key, values] of rng.sample(TAG_POOL, rng.int(0, 4))) tags[key] = rng.pick(values);
    const n = this.config.conversations;
    let target = 0;
    if (n >= 10 && index === 7) target = 20;
    else if (n >= 10 && index === 8) target = 19;
    else if (rng.chance(0.04)) target = rng.int(18, 20);
    for (let k = 0; Object.keys(tags).length < target; k++)
      tags[`label_${k}`] = rng.chance(0.2) ? null : `v${k}`;
    return tags;
  }

  header(id: string): ConversationHeader | undefined {
    return this.byId.get(id);
  }

  headerByIndex(index: number): ConversationHeader | undefined {
    return this.byIndex[index];
  }

  body(h: ConversationHeader): ConversationBody {
    const cached = this.cache.get(h.index);
    if (cached) {
      this.cache.delete(h.index);
      this.cache.set(h.index, cached);
      return cached;
    }
    const body = this.generateBody(h);
    this.cache.set(h.index, body);
    if (this.cache.size > this.cacheLimit) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return body;
  }

  private generateBody(h: ConversationHeader): ConversationBody {
    const { seed } = this.config;
    const rng = createRng(seed, 'messages', h.index);
    const messages: SimMessage[] = [];
    const interactions: SimInteraction[] = [];
    const topic = rng.pick(TOPICS);
    const span = h.endMs - h.createdMs;
    const slot = span / h.interactionCount;
    let t = h.createdMs + rng.int(0, 2000);
    let largePending = h.largeAudio;
    const voice = h.format === 'voice';
    for (let k = 0; k < h.interactionCount; k++) {
      let start = Math.max(t + 1, Math.round(h.createdMs + k * slot + rng.float(0, slot / 8)));
      // The last exchange ends close to the planned end: just now for active conversations, hours ago
      // for stalled ones, in the (sim) future for those that finish during the run.
      if (
        k === h.interactionCount - 1 &&
        h.kind !== 'finished-analyzed' &&
        h.kind !== 'finished-unanalyzed'
      ) {
        start = Math.max(start, h.endMs - 40 * SECOND);
      }
      t = start;
      const interaction: SimInteraction = {
        index: k,
        id: objectId(seed, 'interaction', start, h.index, k),
        messageIndices: [],
        agentMessageIndex: undefined,
        innerThoughtIds: [],
      };
      interactions.push(interaction);
      const last = k === h.interactionCount - 1;
      const push = (
        type: MessageInstance['message_type'],
        text: string,
        gapMs: number,
        format: 'text' | 'voice',
      ): SimMessage => {
        t += Math.max(1, Math.round(gapMs));
        const index = messages.length;
        let audioBytes: number | undefined;
        if (format === 'voice') {
          if (largePending) {
            audioBytes = normalizeWavSize(this.config.largeRecordingBytes);
            largePending = false;
          } else {
            const seconds = Math.max(1, Math.round(text.length / 14)) + rng.int(0, 2);
            audioBytes = WAV_HEADER_BYTES + seconds * AUDIO_BYTES_PER_SECOND + rng.int(0, 800) * 2;
          }
        }
        const sender =
          type === 'user-message' ? h.userName : type === 'external-event' ? 'system' : h.service.agentName;
        const message: SimMessage = {
          index,
          createdMs: t,
          interactionIndex: k,
          audioBytes,
          instance: {
            id: objectId(seed, 'message', t, h.index, index),
            interaction_id: interaction.id,
            created_at: iso(t),
            sender,
            message: text,
            format,
            message_type: type,
          },
        };
        messages.push(message);
        interaction.messageIndices.push(index);
        return message;
      };
      const spoken = voice ? 'voice' : 'text';
      if (k === 0 && h.agentFirst) {
        const m = push('agent-message', rng.pick(AGENT_GREETINGS), rng.int(200, 1500), spoken);
        interaction.agentMessageIndex = m.index;
        continue;
      }
      if (rng.chance(0.1)) push('external-event', rng.pick(EXTERNAL_EVENTS), rng.int(200, 3000), 'text');
      const userText =
        k === 0 || (k === 1 && h.agentFirst)
          ? `${rng.pick(USER_OPENERS)} ${topic}.`
          : rng.pick(USER_FOLLOW_UPS);
      push('user-message', userText, rng.int(500, 4000), spoken);
      if (last && h.lastIncomplete) continue;
      if (rng.chance(0.3)) {
        const thoughts = rng.int(1, 2);
        for (let i = 0; i < thoughts; i++) {
          const m = push('agent-inner-thought', rng.pick(INNER_THOUGHTS), rng.int(300, 3000), 'text');
          interaction.innerThoughtIds.push(m.instance.id);
        }
      }
      const finishing = last && h.kind !== 'active' && h.kind !== 'stalled';
      const reply = finishing ? rng.pick(AGENT_GOODBYES) : `${rng.pick(AGENT_REPLIES)} (${k + 1})`;
      const m = push('agent-message', reply, rng.int(1000, 12_000), spoken);
      interaction.agentMessageIndex = m.index;
    }
    return {
      messages,
      interactions,
      interactionById: new Map(interactions.map((i) => [i.id, i])),
      messageById: new Map(messages.map((m) => [m.instance.id, m])),
    };
  }

  /** Number of messages visible at `nowMs` (messages are in ascending time order). */
  visibleCount(h: ConversationHeader, nowMs: number): number {
    const { messages } = this.body(h);
    let lo = 0;
    let hi = messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((messages[mid] as SimMessage).createdMs <= nowMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  visibleMessages(h: ConversationHeader, nowMs: number): SimMessage[] {
    return this.body(h).messages.slice(0, this.visibleCount(h, nowMs));
  }

  isFinished(h: ConversationHeader, nowMs: number): boolean {
    if (h.kind === 'finished-analyzed' || h.kind === 'finished-unanalyzed') return true;
    return h.finishMs !== undefined && nowMs >= h.finishMs;
  }

  isAnalyzed(h: ConversationHeader, nowMs: number): boolean {
    if (h.kind === 'finished-analyzed') return true;
    return h.analyzedMs !== undefined && nowMs >= h.analyzedMs;
  }

  instance(h: ConversationHeader, nowMs: number, tags: Tags = h.tags): ConversationInstance {
    const visible = this.visibleCount(h, nowMs);
    const last = this.body(h).messages[visible - 1];
    const analyzed = this.isAnalyzed(h, nowMs);
    return {
      id: h.id,
      user_id: h.userId,
      created_at: iso(h.createdMs),
      is_finished: this.isFinished(h, nowMs),
      is_analyzed: analyzed,
      completed_post_processings: analyzed ? [...h.postProcessings] : [],
      final_message: last ? last.instance.message : '',
      service_id: h.service.id,
      version_set_info: h.versionSetInfo === null ? null : structuredClone(h.versionSetInfo),
      num_messages: visible,
      tags: { ...tags },
    };
  }

  /** The interaction if at least one of its messages is visible. */
  visibleInteraction(
    h: ConversationHeader,
    interactionId: string,
    nowMs: number,
  ): SimInteraction | undefined {
    const body = this.body(h);
    const interaction = body.interactionById.get(interactionId);
    if (!interaction) return undefined;
    const first = body.messages[interaction.messageIndices[0] as number];
    return first && first.createdMs <= nowMs ? interaction : undefined;
  }

  /** True when the interaction's agent message is visible. */
  isCompleted(h: ConversationHeader, interaction: SimInteraction, nowMs: number): boolean {
    if (interaction.agentMessageIndex === undefined) return false;
    const agent = this.body(h).messages[interaction.agentMessageIndex];
    return agent !== undefined && agent.createdMs <= nowMs;
  }

  /** The interaction of the newest visible message. */
  latestInteraction(h: ConversationHeader, nowMs: number): SimInteraction | undefined {
    const body = this.body(h);
    const last = body.messages[this.visibleCount(h, nowMs) - 1];
    return last ? body.interactions[last.interactionIndex] : undefined;
  }

  /** Insights exist for interactions whose agent message is visible. */
  insights(h: ConversationHeader, interactionId: string, nowMs: number): InteractionInsights | undefined {
    const interaction = this.visibleInteraction(h, interactionId, nowMs);
    if (!interaction || !this.isCompleted(h, interaction, nowMs)) return undefined;
    return this.generateInsights(h, interaction);
  }

  generateInsights(h: ConversationHeader, interaction: SimInteraction): InteractionInsights {
    const { seed } = this.config;
    const rng = createRng(seed, 'insights', h.index, interaction.index);
    const hsm: [string, number] = [hex(hash32(seed, 'hsm', h.service.id), 8) + rng.hex(16), rng.int(1, 9)];
    const stateCount = rng.int(1, 4);
    const forced = TRANSITION_KINDS[(h.index * 3 + interaction.index) % TRANSITION_KINDS.length] as string;
    let previous = rng.pick(STATES).name;
    const logs: StateTransitionLog[] = [];
    for (let i = 0; i < stateCount; i++) {
      const kind = i === 0 ? forced : rng.pick(TRANSITION_KINDS);
      const next = rng.pick(STATES).name;
      logs.push(this.transitionLog(kind, previous, next, hsm, interaction, rng));
      previous = next;
    }
    const current = STATES.find((s) => s.name === previous) ?? (STATES[0] as (typeof STATES)[number]);
    return {
      current_state_name: current.name,
      current_state_action: current.action,
      current_state_objective: current.objective,
      state_transition_logs: logs,
      working_memory: rng.sample(MEMORIES, rng.int(0, 3)).map((m) => ({ ...m })),
      reflections: rng.sample(REFLECTIONS, rng.int(0, 2)),
      triggered_dynamic_behavior_set_version_info: rng.chance(0.4) ? [rng.hex(24), rng.int(1, 12)] : null,
      select_next_action_tool_call_logs: this.toolCallGroups(rng),
      engage_user_tool_call_logs: this.toolCallGroups(rng),
    };
  }

  private transitionLog(
    kind: string,
    previous: string,
    next: string,
    hsm: [string, number],
    interaction: SimInteraction,
    rng: Rng,
  ): StateTransitionLog {
    const base = {
      previous_state: previous,
      previous_service_hierarchical_state_machine_version_info: [...hsm] as [string, number],
      next_state: next,
      next_service_hierarchical_state_machine_version_info: [...hsm] as [string, number],
    };
    const thoughtId = () =>
      interaction.innerThoughtIds.length ? rng.pick(interaction.innerThoughtIds) : rng.hex(24);
    switch (kind) {
      case 'action':
        return {
          ...base,
          type: 'action',
          previous_state_exit_condition_description: rng.pick(EXIT_CONDITIONS),
          tool_call_logs: this.toolCallGroups(rng),
        };
      case 'decision':
        return {
          ...base,
          type: 'decision',
          previous_state_exit_condition_description: rng.pick(EXIT_CONDITIONS),
          tool_call_logs: this.toolCallGroups(rng),
        };
      case 'recall':
        return { ...base, type: 'recall', performed_queries: rng.sample(TOPICS, rng.int(0, 2)) };
      case 'jumpback':
        return { ...base, type: 'jumpback' };
      case 'annotation':
        return { ...base, type: 'annotation', inner_thought_message_id: thoughtId() };
      case 'reflection':
        return {
          ...base,
          type: 'reflection',
          inner_thought_message_id: thoughtId(),
          tool_call_logs: this.toolCallGroups(rng),
        };
      default:
        return {
          ...base,
          type: 'tool-call',
          tool_call_logs: this.toolCallGroups(rng),
          designated_tool_call_log: this.toolCall(rng),
        };
    }
  }

  private toolCallGroups(rng: Rng): ToolCallLog[][] {
    const groups: ToolCallLog[][] = [];
    const count = rng.int(0, 2);
    for (let g = 0; g < count; g++) {
      const calls: ToolCallLog[] = [];
      const n = rng.int(1, 2);
      for (let c = 0; c < n; c++) calls.push(this.toolCall(rng));
      groups.push(calls);
    }
    return groups;
  }

  private toolCall(rng: Rng): ToolCallLog {
    const name = rng.pick(TOOLS);
    const slow = rng.chance(0.015);
    const duration = slow ? rng.float(10, 45) : rng.float(0.02, 3);
    return {
      tool_name: name,
      tool_id: hex(hash32(this.config.seed, 'tool', name), 8) + '0'.repeat(16),
      tool_version: `1.${rng.int(0, 9)}.${rng.int(0, 20)}`,
      input: { query: rng.pick(TOPICS), limit: rng.int(1, 10), strict: rng.chance(0.5) },
      output: rng.chance(0.2) ? null : `{"status":"ok","items":${rng.int(0, 5)}}`,
      duration: Math.round(duration * 1000) / 1000,
    };
  }

  /** Finds a message by id alone (the id encodes its conversation). */
  findMessage(messageId: string): { header: ConversationHeader; message: SimMessage } | undefined {
    const decoded = decodeObjectId(this.config.seed, 'message', messageId);
    if (!decoded) return undefined;
    const header = this.byIndex[decoded.a];
    if (!header) return undefined;
    const message = this.body(header).messageById.get(messageId);
    return message ? { header, message } : undefined;
  }

  /** Deterministic 2-3 suggestions for an interaction and a context. */
  recommendations(h: ConversationHeader, interaction: SimInteraction, context: string): string[] {
    const rng = createRng(this.config.seed, 'recommend', h.index, interaction.index, context);
    return rng.sample(RECOMMENDATIONS, rng.int(2, 3));
  }
}

function compareHeadersNewestFirst(a: ConversationHeader, b: ConversationHeader): number {
  return b.createdMs - a.createdMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
