// The operator's view of the rate budget, from what the archive already holds: how full each
// operation's budget was over the last period, what is waiting, and when the pipeline will have
// caught up. An operator should learn that a backlog will take three days from the run record or an
// alarm, not from a dashboard they happen to open. Pure arithmetic: the scheduler gathers the inputs
// from the archive at the end of its listing (./schedule-archive.ts) and writes the result.

import { readRunRecord, readUsageSince } from '../archive/state.ts';
import { scanWaiting } from '../archive/waiting.ts';
import type { RunOutlook } from '../archive-format/documents.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';

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
  /** Conversations whose wait ended in the period: the work the period's calls paid for (null: not known). */
  readonly archived: number | null;
  /** Conversations waiting at the period's end. */
  readonly backlog: number;
  /**
   * The previous outlook's rates, which this period's are averaged into over about a day (weight
   * period / 24 h): an hourly run should not forecast from one busy office hour or one quiet night.
   * Calls and archived conversations are averaged apart and divided after, so an hour that finished
   * one conversation and started ten does not weigh as a costly conversation for a day.
   */
  /** The span the rates are averaged over. @default 24 hours */
  readonly averagingMs?: number;
  readonly previous?: {
    readonly arrivalsPerHour: number;
    readonly archivedPerHour: number | null;
    readonly callsPerHour: Readonly<Record<string, number | null>>;
  } | null;
}

// A type, not an interface: it is stored in a loose (indexable) zod object.
export type OperationOutlook = {
  readonly calls: number;
  readonly limit: number;
  readonly window_ms: number;
  /** calls / (limit x period / window): 1 is the whole budget. */
  readonly budget_share: number;
  /** Calls an hour, averaged over about a day (null: not known yet). */
  readonly calls_per_hour: number | null;
  /** calls_per_hour / archived_per_hour; null: none archived yet. */
  readonly per_conversation: number | null;
};

/**
 * `caught-up`: nothing waits. `estimated`: the backlog drains in `catch_up_hours`. `never`: the
 * arrivals alone use the bottleneck's whole budget, so the backlog cannot shrink. `unknown`: no
 * conversation was archived in the period, so the cost of one is not known.
 */
export type CatchUpKind = 'caught-up' | 'estimated' | 'never' | 'unknown';

export interface BudgetOutlook {
  readonly period_hours: number;
  /** Conversations arriving per hour, averaged over about a day. */
  readonly arrivals_per_hour: number;
  /** Conversations archived per hour, averaged over about a day (null: not known yet). */
  readonly archived_per_hour: number | null;
  readonly operations: Record<string, OperationOutlook>;
  /** The operation whose budget a conversation uses the most of (calls per conversation / limit rate). */
  readonly bottleneck: string | null;
  readonly catch_up: CatchUpKind;
  readonly catch_up_hours: number | null;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The span the rates are averaged over. */
const SMOOTHING_MS = 24 * HOUR_MS;

/** `previous` moved towards `current` by `weight`; either alone when the other is unknown. */
function blend(previous: number | null | undefined, current: number | null, weight: number): number | null {
  if (current === null) return previous ?? null;
  if (previous === null || previous === undefined) return current;
  return previous + weight * (current - previous);
}

export function budgetOutlook(input: OutlookInput): BudgetOutlook {
  const periodMs = Math.max(0, input.periodMs);
  const weight = Math.min(1, periodMs / (input.averagingMs ?? SMOOTHING_MS));
  const perHour = (n: number | null) => (n === null || periodMs <= 0 ? null : (n * HOUR_MS) / periodMs);
  const archivedPerHour = blend(input.previous?.archivedPerHour, perHour(input.archived), weight);
  const operations: Record<string, OperationOutlook> = {};
  let bottleneck: { op: string; perConversation: number; perHour: number; load: number } | null = null;
  for (const [op, u] of Object.entries(input.usage).sort(([a], [b]) => a.localeCompare(b))) {
    if (u.limit <= 0 || u.windowMs <= 0) continue;
    const budget = (u.limit * periodMs) / u.windowMs;
    // Counted over the same periods as the archived conversations, or not at all.
    const callsPerHour = blend(
      input.previous?.callsPerHour[op],
      input.archived === null ? null : perHour(u.calls),
      weight,
    );
    const perConversation =
      callsPerHour !== null && archivedPerHour !== null && archivedPerHour > 0
        ? callsPerHour / archivedPerHour
        : null;
    operations[op] = {
      calls: u.calls,
      limit: u.limit,
      window_ms: u.windowMs,
      budget_share: budget > 0 ? round(u.calls / budget, 4) : 0,
      calls_per_hour: callsPerHour === null ? null : round(callsPerHour, 3),
      per_conversation: perConversation === null ? null : round(perConversation, 3),
    };
    if (perConversation === null || perConversation === 0) continue;
    const limitPerHour = (u.limit * HOUR_MS) / u.windowMs;
    // Hours of this operation's budget one conversation takes: the largest one limits the drain.
    const load = perConversation / limitPerHour;
    if (!bottleneck || load > bottleneck.load)
      bottleneck = { op, perConversation, perHour: limitPerHour, load };
  }
  const arrivalsPerHour = blend(input.previous?.arrivalsPerHour, perHour(input.arrivals), weight) ?? 0;
  const outlook = {
    period_hours: round(periodMs / HOUR_MS, 3),
    arrivals_per_hour: round(arrivalsPerHour, 3),
    archived_per_hour: archivedPerHour === null ? null : round(archivedPerHour, 3),
    operations,
  };
  if (input.backlog <= 0) {
    return { ...outlook, bottleneck: bottleneck?.op ?? null, catch_up: 'caught-up', catch_up_hours: 0 };
  }
  if (!bottleneck) return { ...outlook, bottleneck: null, catch_up: 'unknown', catch_up_hours: null };
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

/** Runs named in an outlook's `waiting_runs`, at most (the runs whose jobs were still out). */
const MAX_WAITING_RUNS = 200;

/**
 * The outlook of the period since the previous run's outlook, read from the archive: the waiting
 * markers now, the usage documents of every run whose jobs could have run in the period (those
 * waiting then and now, the previous run and this one), and this run's new arrivals.
 */
export async function takeOutlook(
  store: ArchiveStore,
  args: {
    readonly organizationId: string;
    readonly runId: string;
    readonly runStartedAt: string;
    /** The run whose listing finished before this one's (state/org=<org>/last-run.json). */
    readonly previousRunId: string | undefined;
    /** Conversations this run enqueued for the first time. */
    readonly arrivals: number;
    readonly now: number;
    readonly concurrency?: number;
    readonly timeLeft?: () => boolean;
    /** @default 24 hours */
    readonly averagingMs?: number;
  },
): Promise<RunOutlook> {
  const previous = args.previousRunId ? await readRunRecord(store, args.previousRunId) : undefined;
  const before = previous?.outlook ?? null;
  const from = before?.at ?? previous?.listed_at ?? previous?.started_at ?? args.runStartedAt;
  const waiting = await scanWaiting(store, args.organizationId, {
    ...(args.concurrency ? { concurrency: args.concurrency } : {}),
    ...(args.timeLeft ? { timeLeft: args.timeLeft } : {}),
  });
  const runs = new Set([...(before?.waiting_runs ?? []), ...waiting.runs, args.runId]);
  if (args.previousRunId) runs.add(args.previousRunId);
  const used = await readUsageSince(store, runs, from);
  // What left the backlog in the period: it was waiting before or arrived since, and waits no more.
  const archived = before ? Math.max(0, before.backlog + args.arrivals - waiting.backlog) : null;
  const outlook = budgetOutlook({
    periodMs: args.now - Date.parse(from),
    usage: Object.fromEntries(
      Object.entries(used.calls).map(([op, c]) => [
        op,
        { calls: c.answered, limit: c.limit, windowMs: c.windowMs },
      ]),
    ),
    arrivals: args.arrivals,
    archived,
    backlog: waiting.backlog,
    ...(args.averagingMs ? { averagingMs: args.averagingMs } : {}),
    previous: before
      ? {
          arrivalsPerHour: before.arrivals_per_hour,
          archivedPerHour: before.archived_per_hour,
          callsPerHour: Object.fromEntries(
            Object.entries(before.operations).map(([op, o]) => [op, o.calls_per_hour]),
          ),
        }
      : null,
  });
  return {
    at: new Date(args.now).toISOString(),
    from,
    ...outlook,
    arrivals: args.arrivals,
    archived,
    backlog: waiting.backlog,
    given_up: waiting.givenUp,
    oldest_waiting_since: waiting.oldestSince,
    waiting_runs: waiting.runs.slice(-MAX_WAITING_RUNS),
    partial: waiting.partial || used.unreadable > 0,
  };
}
