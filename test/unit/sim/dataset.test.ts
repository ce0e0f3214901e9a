import { describe, expect, it, vi } from 'vitest';
import { checkSchema } from '../../../shared/openapi/index.ts';
import {
  type ConversationHeader,
  Dataset,
  type DatasetConfig,
  SCENARIO_KINDS,
  TRANSITION_KINDS,
} from '../../../sim/dataset.ts';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');

function dataset(overrides: Partial<DatasetConfig> = {}): Dataset {
  return new Dataset({
    seed: 1,
    conversations: 40,
    startMs: NOW,
    largeRecordings: 0,
    largeRecordingBytes: 1_000_000,
    longConversations: 2,
    ...overrides,
  });
}

/** Everything the API could show at `at`: conversations, all messages and all insights. */
function snapshot(ds: Dataset, at = NOW): string {
  return JSON.stringify(
    ds.headers.map((h) => ({
      conversation: ds.instance(h, at),
      messages: ds.visibleMessages(h, at).map((m) => m.instance),
      insights: ds.body(h).interactions.map((i) => ds.insights(h, i.id, at) ?? null),
    })),
  );
}

function allInsights(ds: Dataset, at = NOW) {
  return ds.headers.flatMap((h) =>
    ds
      .body(h)
      .interactions.map((i) => ds.insights(h, i.id, at))
      .filter((x) => x !== undefined),
  );
}

describe('data generator', () => {
  it('when the seed and start time are the same, then the data is byte-identical', () => {
    // Arrange / Act
    const a = snapshot(dataset());
    const b = snapshot(dataset());

    // Assert
    expect(a).toBe(b);
  });

  it('when the seed differs, then the data differs', () => {
    expect(snapshot(dataset({ seed: 2 }))).not.toBe(snapshot(dataset({ seed: 1 })));
  });

  it('when 40 conversations are generated, then every scenario kind and both formats appear', () => {
    const ds = dataset();

    const kinds = new Set(ds.headers.map((h) => h.kind));
    const formats = new Set(ds.headers.map((h) => h.format));

    expect([...kinds].sort()).toEqual([...SCENARIO_KINDS].sort());
    expect([...formats].sort()).toEqual(['text', 'voice']);
  });

  it('when only five conversations are generated, then each scenario kind still appears once', () => {
    const kinds = dataset({ conversations: 5 }).headers.map((h) => h.kind);

    expect([...kinds].sort()).toEqual([...SCENARIO_KINDS].sort());
  });

  it('when insights are generated, then all 7 transition kinds, long and null-output tool calls appear', () => {
    const insights = allInsights(dataset());
    const toolCalls = insights.flatMap((i) => [
      ...i.select_next_action_tool_call_logs.flat(),
      ...i.engage_user_tool_call_logs.flat(),
    ]);

    const kinds = new Set(insights.flatMap((i) => i.state_transition_logs.map((l) => l.type)));

    expect([...kinds].sort()).toEqual([...TRANSITION_KINDS].sort());
    expect(toolCalls.some((t) => t.duration > 10)).toBe(true);
    expect(toolCalls.some((t) => t.output === null)).toBe(true);
    expect(insights.some((i) => i.triggered_dynamic_behavior_set_version_info === null)).toBe(true);
    expect(insights.some((i) => i.triggered_dynamic_behavior_set_version_info !== null)).toBe(true);
    expect(insights.some((i) => i.reflections.length > 0 && i.working_memory.length > 0)).toBe(true);
  });

  it('when every generated object is checked against the spec, then all pass', () => {
    const ds = dataset();
    const failures: unknown[] = [];

    for (const h of ds.headers) {
      const conversation = ds.instance(h, NOW);
      const c = checkSchema('ConversationInstance', conversation);
      if (!c.ok) failures.push({ id: h.id, issues: c.issues });
      for (const m of ds.body(h).messages) {
        const r = checkSchema('MessageInstance', m.instance);
        if (!r.ok) failures.push({ id: m.instance.id, issues: r.issues });
      }
      for (const i of ds.body(h).interactions) {
        const insights = ds.insights(h, i.id, NOW);
        if (!insights) continue;
        const r = checkSchema(
          'src__app__endpoints__conversation__get_interaction_insights__Response',
          insights,
        );
        if (!r.ok) failures.push({ id: i.id, issues: r.issues });
      }
    }

    expect(failures).toEqual([]);
  });

  it('when the dataset is inspected, then it has the shapes the pipeline must cope with', () => {
    const ds = dataset();
    const instances = ds.headers.map((h) => ds.instance(h, NOW));
    const types = new Set(ds.headers.flatMap((h) => ds.body(h).messages.map((m) => m.instance.message_type)));

    expect(instances.filter((c) => c.num_messages > 500).length).toBeGreaterThanOrEqual(2);
    expect(instances.filter((c) => Object.keys(c.tags).length >= 18).length).toBeGreaterThanOrEqual(2);
    expect(instances.every((c) => Object.keys(c.tags).length <= 20)).toBe(true);
    expect(instances.some((c) => c.version_set_info === null)).toBe(true);
    expect(instances.some((c) => c.version_set_info !== null)).toBe(true);
    expect([...types].sort()).toEqual([
      'agent-inner-thought',
      'agent-message',
      'external-event',
      'user-message',
    ]);
  });

  it('when a conversation is shown, then num_messages and final_message describe all its visible messages', () => {
    const ds = dataset();

    for (const h of ds.headers) {
      const c = ds.instance(h, NOW);
      const visible = ds.visibleMessages(h, NOW);
      expect(c.num_messages).toBe(visible.length);
      expect(c.final_message).toBe(visible.at(-1)?.instance.message ?? '');
      expect(visible.every((m) => m.createdMs <= NOW)).toBe(true);
    }
  });

  it('when scenarios are checked at the start, then each kind has its defining state', () => {
    const ds = dataset();
    const lastMessage = (h: ConversationHeader) => ds.visibleMessages(h, NOW).at(-1);

    for (const h of ds.headers) {
      const c = ds.instance(h, NOW);
      switch (h.kind) {
        case 'finished-analyzed':
          expect([c.is_finished, c.is_analyzed]).toEqual([true, true]);
          break;
        case 'finished-unanalyzed':
          expect([c.is_finished, c.is_analyzed]).toEqual([true, false]);
          break;
        case 'active': {
          const last = lastMessage(h);
          expect(c.is_finished).toBe(false);
          expect(
            last?.instance.message_type === 'user-message' || NOW - (last?.createdMs ?? 0) < 5 * 60_000,
          ).toBe(true);
          break;
        }
        case 'stalled': {
          const latest = ds.latestInteraction(h, NOW);
          expect(c.is_finished).toBe(false);
          expect(latest && ds.isCompleted(h, latest, NOW)).toBe(true);
          expect(NOW - (lastMessage(h)?.createdMs ?? NOW)).toBeGreaterThan(60 * 60_000);
          break;
        }
        case 'finishes-during-run':
          expect([c.is_finished, c.is_analyzed]).toEqual([false, false]);
          break;
      }
    }
  });

  it('when sim time passes 20 minutes, then finishes-during-run conversations are finished and analyzed', () => {
    const ds = dataset();
    const later = NOW + 20 * 60_000;
    const moving = ds.headers.filter((h) => h.kind === 'finishes-during-run');

    const before = moving.map((h) => ds.instance(h, NOW));
    const after = moving.map((h) => ds.instance(h, later));

    expect(moving.length).toBeGreaterThan(0);
    expect(after.every((c) => c.is_finished && c.is_analyzed)).toBe(true);
    expect(after.every((c, i) => c.num_messages > (before[i]?.num_messages ?? 0))).toBe(true);
  });

  it('when 10,000 conversations are requested, then only their headers are built and messages wait until asked', () => {
    // What keeps a large dataset quick to start: no conversation's messages are generated up front.
    const generated = vi.spyOn(Dataset.prototype as unknown as { generateBody(): unknown }, 'generateBody');

    const ds = dataset({ conversations: 10_000 });
    const upFront = generated.mock.calls.length;
    const body = ds.body(ds.headers[0] as ConversationHeader);
    const afterOne = generated.mock.calls.length;
    generated.mockRestore();

    expect(ds.headers).toHaveLength(10_000);
    expect(new Set(ds.headers.map((h) => h.id)).size).toBe(10_000);
    expect(upFront).toBe(0);
    expect(body.messages.length).toBeGreaterThan(0);
    expect(afterOne).toBe(1);
  });

  it('when a message id is looked up alone, then its conversation is found from the id', () => {
    const ds = dataset();
    const h = ds.headers[3] as ConversationHeader;
    const message = ds.body(h).messages[0];

    const found = ds.findMessage(message?.instance.id ?? '');

    expect(found?.header.id).toBe(h.id);
    expect(ds.findMessage('0'.repeat(24))).toBeUndefined();
  });

  it('when large recordings are requested, then that many voice messages carry the large size', () => {
    const ds = dataset({ largeRecordings: 2, largeRecordingBytes: 5_000_000 });

    const large = ds.headers.flatMap((h) => ds.body(h).messages.filter((m) => m.audioBytes === 5_000_000));

    expect(large).toHaveLength(2);
    expect(large.every((m) => m.instance.format === 'voice')).toBe(true);
  });
});

describe('long conversations', () => {
  it('when longConversations is 0, then no conversation has more than 500 messages; with 2, two do', () => {
    const count = (long: number) => {
      const ds = dataset({ longConversations: long });
      return Array.from({ length: 40 }, (_, i) => ds.headerByIndex(i)).filter(
        (h) => h !== undefined && ds.body(h).messages.length > 500,
      ).length;
    };

    expect(count(0)).toBe(0);
    expect(count(2)).toBe(2);
  });
});
