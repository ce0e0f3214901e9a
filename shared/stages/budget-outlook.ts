// The operator's view of the rate budget, from what the archive already holds: how full each
// operation's budget was over the last period, what is waiting, and when the pipeline will have
// caught up. An operator should learn that a backlog will take three days from the run record or an
// alarm, not from a dashboard they happen to open. Pure arithmetic: the scheduler gathers the inputs
// from the archive at the end of its listing (./schedule-archive.ts) and writes the result.

const HOUR_MS = 3_600_000;

/** One operation's calls over the period and the budget they were made under. */
export interface OperationUsage {
  readonly calls: number;
  readonly limit: number;
  readonly windowMs: number;
}

export interface OutlookInput {
  /** Length of the period the calls and arrivals were counted over. */
  readonly periodMs: number;
  readonly usage: Readonly<Record<string, OperationUsage>>;
  /** Conversations that started waiting in the period (enqueued for the first time). */
  readonly arrivals: number;
  /** Conversations whose wait ended in the period: the work the period's calls paid for. */
  readonly archived: number;
  /** Conversations waiting at the period's end. */
  readonly backlog: number;
}

export interface OperationOutlook {
  readonly calls: number;
  readonly limit: number;
  readonly window_ms: number;
  /** calls / (limit x period / window): 1 is the whole budget. */
  readonly budget_share: number;
  /** Calls per archived conversation; null when none was archived in the period. */
  readonly per_conversation: number | null;
}

/**
 * `caught-up`: nothing waits. `estimated`: the backlog drains in `catch_up_hours`. `never`: the
 * arrivals alone use the bottleneck's whole budget, so the backlog cannot shrink. `unknown`: no
 * conversation was archived in the period, so the cost of one is not known.
 */
export type CatchUpKind = 'caught-up' | 'estimated' | 'never' | 'unknown';

export interface BudgetOutlook {
  readonly period_hours: number;
  readonly operations: Record<string, OperationOutlook>;
  /** The operation whose budget a conversation uses the most of (calls per conversation / limit rate). */
  readonly bottleneck: string | null;
  readonly catch_up: CatchUpKind;
  readonly catch_up_hours: number | null;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function budgetOutlook(input: OutlookInput): BudgetOutlook {
  const periodMs = Math.max(0, input.periodMs);
  const operations: Record<string, OperationOutlook> = {};
  let bottleneck: { op: string; perConversation: number; perHour: number; load: number } | null = null;
  for (const [op, u] of Object.entries(input.usage).sort(([a], [b]) => a.localeCompare(b))) {
    if (u.limit <= 0 || u.windowMs <= 0) continue;
    const budget = (u.limit * periodMs) / u.windowMs;
    const perConversation = input.archived > 0 ? u.calls / input.archived : null;
    operations[op] = {
      calls: u.calls,
      limit: u.limit,
      window_ms: u.windowMs,
      budget_share: budget > 0 ? round(u.calls / budget, 4) : 0,
      per_conversation: perConversation === null ? null : round(perConversation, 3),
    };
    if (perConversation === null || perConversation === 0) continue;
    const perHour = (u.limit * HOUR_MS) / u.windowMs;
    // Hours of this operation's budget one conversation takes: the largest one limits the drain.
    const load = perConversation / perHour;
    if (!bottleneck || load > bottleneck.load) bottleneck = { op, perConversation, perHour, load };
  }
  const outlook = { period_hours: round(periodMs / HOUR_MS, 3), operations };
  if (input.backlog <= 0) {
    return { ...outlook, bottleneck: bottleneck?.op ?? null, catch_up: 'caught-up', catch_up_hours: 0 };
  }
  if (!bottleneck) return { ...outlook, bottleneck: null, catch_up: 'unknown', catch_up_hours: null };
  const arrivalsPerHour = periodMs > 0 ? (input.arrivals * HOUR_MS) / periodMs : 0;
  // What is left of the bottleneck's budget each hour once the new arrivals are served.
  const spare = bottleneck.perHour - arrivalsPerHour * bottleneck.perConversation;
  if (spare <= 0) return { ...outlook, bottleneck: bottleneck.op, catch_up: 'never', catch_up_hours: null };
  return {
    ...outlook,
    bottleneck: bottleneck.op,
    catch_up: 'estimated',
    catch_up_hours: round((input.backlog * bottleneck.perConversation) / spare, 2),
  };
}
