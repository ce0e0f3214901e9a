// Small builders for archived conversations in rule tests.
import type { ArchivedConversation } from '../../../shared/archive/read.ts';
import type {
  ConversationInstance,
  InteractionInsights,
  MessageInstance,
  Schemas,
} from '../../../shared/openapi/index.ts';
import { parseRules, type RuleSet } from '../../../shared/rules/index.ts';

export const SERVICE = '6650f0c1a2b3c4d5e6f70000';
export const START = Date.parse('2026-11-25T21:00:00.000Z');

export type ToolCallLog = Schemas['ToolCallLog'];
export type StateTransitionLog = Schemas['StateTransitionLog'];

export function conversation(overrides: Partial<ConversationInstance> = {}): ConversationInstance {
  return {
    id: '6650f0c1a2b3c4d5e6f70812',
    user_id: '6650f0c1a2b3c4d5e6f70001',
    created_at: new Date(START).toISOString(),
    is_finished: true,
    is_analyzed: true,
    completed_post_processings: [],
    final_message: '',
    service_id: SERVICE,
    version_set_info: null,
    num_messages: 0,
    tags: {},
    ...overrides,
  };
}

let seq = 0;
/** A message `seconds` after the conversation started. */
export function message(
  type: MessageInstance['message_type'],
  text: string,
  options: {
    at?: number;
    interaction?: string;
    format?: 'text' | 'voice';
    id?: string;
    sender?: string;
  } = {},
): MessageInstance {
  seq++;
  return {
    id: options.id ?? `m${String(seq).padStart(4, '0')}`,
    interaction_id: options.interaction ?? 'i1',
    created_at: new Date(START + (options.at ?? seq) * 1000).toISOString(),
    sender: options.sender ?? (type === 'user-message' ? 'Maria Garcia' : 'Nova'),
    message: text,
    format: options.format ?? 'text',
    message_type: type,
  };
}

export function tool(name: string, seconds: number, output: string | null = '{"status":"ok"}'): ToolCallLog {
  return {
    tool_name: name,
    tool_id: 'aaaaaaaa0000000000000000',
    tool_version: '1.0.0',
    input: { query: 'my appointment next week' },
    output,
    duration: seconds,
  };
}

export function transition(
  type: StateTransitionLog['type'],
  from: string,
  to: string,
  extra: Record<string, unknown> = {},
): StateTransitionLog {
  const base = {
    previous_state: from,
    previous_service_hierarchical_state_machine_version_info: ['hsm', 1] as [string, number],
    next_state: to,
    next_service_hierarchical_state_machine_version_info: ['hsm', 1] as [string, number],
  };
  switch (type) {
    case 'action':
    case 'decision':
      return {
        ...base,
        type,
        previous_state_exit_condition_description: 'done',
        tool_call_logs: [],
        ...extra,
      };
    case 'recall':
      return { ...base, type, performed_queries: [], ...extra };
    case 'jumpback':
      return { ...base, type, ...extra };
    case 'annotation':
      return { ...base, type, inner_thought_message_id: 'm0000', ...extra };
    case 'reflection':
      return { ...base, type, inner_thought_message_id: 'm0000', tool_call_logs: [], ...extra };
    default:
      return {
        ...base,
        type: 'tool-call',
        tool_call_logs: [],
        designated_tool_call_log: tool('x', 0.1),
        ...extra,
      };
  }
}

export function insights(overrides: Partial<InteractionInsights> = {}): InteractionInsights {
  return {
    current_state_name: 'greeting',
    current_state_action: 'Greet the user and ask how to help',
    current_state_objective: 'Understand the request',
    state_transition_logs: [],
    working_memory: [],
    reflections: [],
    triggered_dynamic_behavior_set_version_info: null,
    select_next_action_tool_call_logs: [],
    engage_user_tool_call_logs: [],
    ...overrides,
  };
}

export function archived(
  messages: MessageInstance[],
  interactionInsights: Array<[string, Partial<InteractionInsights>]> = [],
  conv: Partial<ConversationInstance> = {},
): ArchivedConversation {
  return {
    conversation: conversation({ num_messages: messages.length, ...conv }),
    messages,
    insights: interactionInsights.map(([id, i]) => ({ interaction_id: id, insights: insights(i) })),
  };
}

/** A rule set of one rule `{ name: 'r', when, set }`. */
export function oneRule(when: unknown, set: Record<string, string | null> = { hit: 'yes' }): RuleSet {
  return parseRules({ rules: [{ name: 'r', when, set }] }, 'test');
}
