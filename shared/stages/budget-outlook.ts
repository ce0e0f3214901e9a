// The operator's view of the rate budget, from what the archive already holds: how full each
// operation's budget was over the last period, what is waiting, and when the pipeline will have
// caught up. An operator should learn that a backlog will take three days from the run record or an
// alarm, not from a dashboard they happen to open. Pure arithmetic: the scheduler gathers the inputs
// from the archive at the end of its listing (./schedule-archive.ts) and writes the result.

import { readOutlookState, readRunRecord, readUsageSince, writeOutlookState } from '../archive/state.ts';
import { scanWaiting } from '../archive/waiting.ts';
import type { RunOutlook } from '../archive-format/documents.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import { DEFAULT_RESERVE_SHARE } from '../ports/rate-budget.ts';

const HOUR_MS = 3_600_000;

/** One operation's calls over the period and the budget they were made under. */
export interface OperationUsage {
  readonly calls: number;
  /** Among `calls`, the archive jobs' (absent: all of them, as before they were counted apart). */
  readonly archiveCalls?: number;
  /** The archive jobs' grants (absent: not counted, as before the waits were). */
  readonly archiveAcquired?: number;
  /** Among `archiveAcquired`, those that waited for the budget. */
  readonly archiveWaited?: number;
  readonly limit: number;
  readonly windowMs: number;
}

/** What the previous outlook had averaged, carried into this one. */
export interface PreviousRates {
  readonly arrivalsPerHour: number;
  /** Hours the arrival rate is averaged over so far (absent: a whole averaging span). */
  readonly arrivalsHours?: number | undefined;
  /** The periods the arrival rate is the mean of (absent: one span of `arrivalsHours` at the rate). */
  readonly arrivalsWindow?: readonly ArrivalsSpan[] | undefined;
  readonly archivedPerHour: number | null;
  /** Conversations archived in all the periods averaged so far (absent: archivedPerHour x ratesHours). */
  readonly archivedTotal?: number | undefined;
  readonly arrivalProfile?: ArrivalProfile | null | undefined;
  /** Hours the cost rates are averaged over so far (absent: a whole averaging span). */
  readonly ratesHours?: number | undefined;
  readonly operations: Readonly<
    Record<
      string,
      {
        readonly archiveCallsPerHour: number | null;
        readonly otherCallsPerHour: number | null;
        readonly drainCallsPerHour: number | null;
        readonly drainHours?: number | undefined;
      }
    >
  >;
}

export interface OutlookInput {
  /** Length of the period the calls and arrivals were counted over. */
  readonly periodMs: number;
  readonly usage: Readonly<Record<string, OperationUsage>>;
  /** Conversations that started waiting in the period (enqueued for the first time). */
  readonly arrivals: number;
  /** Conversations the period's archive jobs archived, counted by them (null: not known). */
  readonly archived: number | null;
  /** Conversations waiting at the period's end. */
  readonly backlog: number;
  /**
   * Among `backlog`, those an earlier run enqueued (or never sent). Absent: all of `backlog` (the
   * first outlook's arrivals are a backlog).
   */
  readonly earlierBacklog?: number;
  /** Conversations waiting at the period's start (null: not known). */
  readonly previousBacklog?: number | null;
  /** When the period ended (epoch ms): places it in the arrival profile (absent: no profile). */
  readonly now?: number;
  /** The span the rates are averaged over. @default 24 hours */
  readonly averagingMs?: number;
  /** The share of each limit the budget keeps for high-priority callers. @default DEFAULT_RESERVE_SHARE */
  readonly reserveShare?: number;
  /**
   * The previous outlook's rates, which this period's are averaged into (null: this is the first
   * outlook, and what it found waiting is the backlog the pipeline starts with, not a rate).
   */
  readonly previous?: PreviousRates | null;
}

// A type, not an interface: it is stored in a loose (indexable) zod object.
export type OperationOutlook = {
  readonly calls: number;
  readonly limit: number;
  readonly window_ms: number;
  /** calls / (limit x period / window): 1 is the whole budget. */
  readonly budget_share: number;
  /** Calls an hour, all of them, averaged over about a day (null: not known yet). */
  readonly calls_per_hour: number | null;
  /**
   * archive_calls_per_hour / archived_per_hour; null: fewer than MIN_ARCHIVED_FOR_COST archived so
   * far, or the averaged archived rate is 0.
   */
  readonly per_conversation: number | null;
  /** The archive jobs' calls an hour, averaged over about a day. */
  readonly archive_calls_per_hour: number | null;
  /** Everyone else's (listing, stall scans, tagging), averaged over about a day. */
  readonly other_calls_per_hour: number | null;
  /** The archive jobs' calls an hour while a backlog kept the budget busy (null: not seen yet). */
  readonly drain_calls_per_hour: number | null;
  /** Busy hours the drain is averaged over so far (up to half the averaging span). */
  readonly drain_hours: number;
  /**
   * The share of the period's archive grants that waited for the budget (null: fewer than
   * MIN_GRANTS_FOR_WAITED_SHARE or half the period's budget, or not counted).
   */
  readonly archive_waited_share: number | null;
  /**
   * The archive calls an hour the backlog can drain on: the measured drain (at most what the limit
   * leaves beside the other callers), else the limit's share.
   */
  readonly capacity_per_hour: number | null;
};

/**
 * `caught-up`: nothing waits that an earlier run enqueued. `estimated`: that backlog drains in
 * `catch_up_hours`. `never`: the
 * arrivals alone use the bottleneck's whole budget, so the backlog cannot shrink, or archive jobs
 * call on while nothing has been archived over the averaging span. `unknown`: no
 * conversation was archived in the period, so the cost of one is not known.
 */
export type CatchUpKind = 'caught-up' | 'estimated' | 'never' | 'unknown';

export interface BudgetOutlook {
  readonly period_hours: number;
  /** Conversations arriving per hour over the last day: the mean of `arrivals_window`. */
  readonly arrivals_per_hour: number;
  readonly arrivals_window: ArrivalsSpan[];
  /** Conversations archived per hour, averaged over about a day (null: not known yet). */
  readonly archived_per_hour: number | null;
  /** Conversations archived in all the periods the averages hold, the first outlook's on. */
  readonly archived_total: number;
  /** Hours the cost rates are averaged over (up to the averaging span). */
  readonly rates_hours: number;
  /** Hours the arrival rate is averaged over (up to the averaging span). */
  readonly arrivals_hours: number;
  readonly arrival_profile: ArrivalProfile | null;
  readonly operations: Record<string, OperationOutlook>;
  /**
   * What keeps the pipeline behind: the conversations an earlier run enqueued, and those this run
   * found beyond a cadence of the drain (the whole backlog on the first outlook, or without a drain).
   */
  readonly catch_up_backlog: number;
  /** The runs' cadence the catch-up is walked in, hours: the median of the day's periods (see cadenceOf). */
  readonly catch_up_cadence_hours: number;
  /** The operation whose capacity a conversation uses the most of (calls per conversation / capacity). */
  readonly bottleneck: string | null;
  readonly catch_up: CatchUpKind;
  readonly catch_up_hours: number | null;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Digits the stored spans of hours keep (the next outlook averages on from them): to the 3.6 ms.
 * At 3 digits (3.6 s) a fast clock's periods of a second stored a span of 0, and every period
 * replaced the averages instead of joining them.
 */
const SPAN_DIGITS = 6;

/** The span the rates are averaged over. */
const SMOOTHING_MS = 24 * HOUR_MS;

/**
 * The share of a limit the pipeline reaches while a backlog keeps it busy, until it has been
 * measured here: the efficiency bench measures 0.90-0.97 (bench/README.md), 0.95 is its middle.
 */
export const ACHIEVABLE_SHARE = 0.95;

/**
 * A period measures the drain when the operation's calls, averaged over about a day, used this
 * share of its limit (an operation that is not the bottleneck never gets there). The period's own
 * share is not the test: its calls are counted by the documents that ended in it, a few minutes
 * either way, and picking the periods that counted more measured a drain above the limit.
 */
const BUSY_SHARE = 0.8;

/**
 * A period also measures the drain when this share of its archive grants waited for the budget
 * while a backlog an earlier run enqueued waited throughout: the budget, not the work, set the
 * archive jobs' pace, whatever the day's average (an organisation using 62% of a day's budget uses
 * 87% of the office hours', where a forecast matters most). The share is a ratio within the
 * period's documents, so, unlike the period's calls, it does not pick the periods that happened to
 * count more.
 */
export const WAITED_SHARE = 0.8;

/**
 * Archive grants a period needs before its waited share counts: this many, or half the period's
 * budget where that is fewer (an hour of a small organisation's scaled limits in the week bench).
 */
const MIN_GRANTS_FOR_WAITED_SHARE = 20;

/**
 * Conversations an earlier run enqueued, still waiting at a period's end, that show the archive
 * jobs had work throughout it: this many, and a quarter of what the period archived. One or two
 * could be a job in flight or put back after a 429 while the workers idle.
 */
const MIN_HELD_BACKLOG = 10;

/**
 * Conversations archived, counted since the averages began, before a cost per conversation is
 * claimed. The calls of the jobs still in flight are counted before their conversations are: over
 * the first few archived the cost reads up to twice what it is, which said `never` at a backlog's
 * start. Counted, not read off the day's average: a tenant archiving fewer a day would never get one.
 */
export const MIN_ARCHIVED_FOR_COST = 10;

/** One period's arrivals, kept for the arrival rate over the last day. */
// A type, not an interface: it is stored in a loose (indexable) zod object.
export type ArrivalsSpan = { readonly hours: number; readonly arrivals: number };

/** Periods the arrivals window keeps apart at most: beyond it the shortest two neighbours are merged. */
const MAX_WINDOW_PERIODS = 96;

/**
 * The last `spanHours` of periods, oldest first, `period` added: the oldest cut to the share of it
 * that falls inside the span. A sliding window, not an exponential average: after office hours an
 * exponential day-average reads above the day's mean (the recent hours weigh more: 9% for 12 office
 * hours at three times the night's rate), and the catch-up, a small difference of drain and
 * arrivals, is the longer by several times that.
 */
function nextWindow(
  window: readonly ArrivalsSpan[],
  period: ArrivalsSpan | null,
  spanHours: number,
): ArrivalsSpan[] {
  const all = [...window, ...(period ? [period] : [])].filter((p) => p.hours > 0);
  const kept: ArrivalsSpan[] = [];
  let hours = 0;
  for (let i = all.length - 1; i >= 0 && hours < spanHours; i--) {
    const p = all[i] as ArrivalsSpan;
    const share = Math.min(1, (spanHours - hours) / p.hours);
    kept.unshift({ hours: p.hours * share, arrivals: p.arrivals * share });
    hours += p.hours * share;
  }
  // Over the cap, the two neighbours shortest together are merged: every part of the day keeps
  // about the same resolution, and a merged span holds only its own hours' arrivals.
  while (kept.length > MAX_WINDOW_PERIODS) {
    let at = 0;
    for (let i = 1; i < kept.length - 1; i++) {
      const pair = (j: number) => (kept[j] as ArrivalsSpan).hours + (kept[j + 1] as ArrivalsSpan).hours;
      if (pair(i) < pair(at)) at = i;
    }
    const [a, b] = kept.splice(at, 2) as [ArrivalsSpan, ArrivalsSpan];
    kept.splice(at, 0, { hours: a.hours + b.hours, arrivals: a.arrivals + b.arrivals });
  }
  return kept;
}

/** `previous` moved towards `current` by `weight`; either alone when the other is unknown. */
function blend(previous: number | null | undefined, current: number | null, weight: number): number | null {
  if (current === null) return previous ?? null;
  if (previous === null || previous === undefined) return current;
  return previous + weight * (current - previous);
}

/**
 * The weight of a period in a running average over `averagingMs`: a plain mean until the average
 * has a whole span behind it, then an exponential one. The first hour must not count as a day's
 * worth (an average started from one office hour said `never` for a day).
 */
function weightOf(periodMs: number, spanMs: number, averagingMs: number): number {
  if (periodMs <= 0) return 0;
  return Math.min(1, periodMs / Math.min(averagingMs, spanMs + periodMs));
}

/**
 * Arrivals an hour in each 24th of the averaging span (an hour of the day, UTC, as deployed): slot
 * 0 starts at a multiple of the span since the epoch. The catch-up walks forward through it, so a
 * backlog met by office hours drains in the evening, not at the day's average pace.
 */
// A type, not an interface: it is stored in a loose (indexable) zod object.
export type ArrivalProfile = {
  readonly slot_ms: number;
  /** Null: no period ended in that slot yet (the day's average stands in). */
  readonly per_hour: Array<number | null>;
  /** Periods averaged into each slot so far, up to PROFILE_DAYS. */
  readonly samples: number[];
};

/** Each slot is a plain mean of its periods up to this many, then an exponential one. */
const PROFILE_DAYS = 7;

/** How far ahead the catch-up walks before it falls back to the day's averages. */
const MAX_WALK_SLOTS = 24 * 60;

/**
 * The runs' cadence: the median of the periods in the arrivals window (the last day's runs, the
 * oldest left out where the window cut it; a window of one period is this one), so that an outage's
 * one long period or a manual run minutes after the last does not set it. Kept within a quarter of
 * a slot (an hour deployed) and the averaging span; out of that range, and on the first outlook
 * (no window), a slot: the hourly runs'.
 */
function cadenceOf(window: readonly ArrivalsSpan[], periodMs: number, averagingMs: number): number {
  const slotMs = averagingMs / 24;
  const periods = window.length > 1 ? window.slice(1).map((p) => p.hours * HOUR_MS) : [periodMs];
  const sorted = periods.filter(Number.isFinite).sort((a, b) => a - b);
  const median = sorted.length ? (sorted[Math.floor((sorted.length - 1) / 2)] as number) : 0;
  return median >= slotMs / 4 && median <= averagingMs ? median : slotMs;
}

/** `profile` with the arrival rate of the period that ended at `endMs` averaged into its slot. */
function nextProfile(
  profile: ArrivalProfile | null | undefined,
  perHour: number | null,
  endMs: number | undefined,
  periodMs: number,
  averagingMs: number,
): ArrivalProfile | null {
  const slotMs = averagingMs / 24;
  const kept = profile && profile.slot_ms === slotMs ? profile : null;
  // A period longer than two slots says nothing about one of them.
  if (perHour === null || endMs === undefined || periodMs <= 0 || periodMs > 2 * slotMs) return kept;
  const slot = Math.floor(((((endMs - periodMs / 2) % averagingMs) + averagingMs) % averagingMs) / slotMs);
  const values: Array<number | null> = kept ? [...kept.per_hour] : Array.from({ length: 24 }, () => null);
  const samples = kept ? [...kept.samples] : Array.from({ length: 24 }, () => 0);
  const n = Math.min(PROFILE_DAYS, (samples[slot] ?? 0) + 1);
  values[slot] = blend(values[slot], perHour, 1 / n);
  samples[slot] = n;
  return { slot_ms: slotMs, per_hour: values, samples };
}

/**
 * A slot's arrivals an hour, averaged with its two neighbours: a slot holds a few hours' arrivals,
 * as noisy as a handful of conversations; the mean of three keeps the day's total (the walk sums
 * over hours) and blurs only the edges of the office hours.
 */
function smoothed(profile: ArrivalProfile, slot: number, flatPerHour: number): number {
  let sum = 0;
  for (const d of [-1, 0, 1]) sum += profile.per_hour[(slot + d + 24) % 24] ?? flatPerHour;
  return sum / 3;
}

/**
 * Hours until nothing an earlier run enqueued waits: the runs' queue (`waiting`, this run's
 * conversations among them) drains at `drainPerHour`, and each next run, `cadenceMs` apart, adds the
 * conversations that arrived since. The pipeline has caught up in the cadence in which the queue
 * empties before the next run adds to it, and that run's arrivals fit a cadence's drain: at that
 * moment, which the next run reports (`catch_up_backlog` 0). The arrivals are walked slot by slot
 * through the arrival profile from `atMs` (a slot not seen yet takes the day's average
 * `flatPerHour`); null when the day's average alone takes the whole drain (never). Without a
 * profile, the day's average throughout.
 *
 * The queue a run leaves is what must drain before the next one, so the catch-up ends when what
 * the runs add is small again: a drain walked on a backlog net of this run's conversations (as
 * before 2026-12-02) allowed an office hour's run its own arrivals at the end of the walk too, where
 * an evening run's are a third of them, and read short by about an hour.
 *
 * The profile gives the day's shape only, scaled to the day's average: its slots are 7-day means
 * and lag a change in traffic, and unscaled they could grow the backlog every hour of a walk that
 * the day's average (which judges `never`) says drains.
 */
function drainHours(
  waiting: number,
  drainPerHour: number,
  flatPerHour: number,
  cadenceMs: number,
  profile: ArrivalProfile | null | undefined,
  atMs: number | undefined,
): number | null {
  if (waiting <= 0) return 0;
  if (flatPerHour >= drainPerHour) return null;
  const cadenceHours = cadenceMs / HOUR_MS;
  const perCadence = drainPerHour * cadenceHours;
  if (!profile || atMs === undefined || !Number.isFinite(atMs) || profile.slot_ms <= 0)
    return flatDrainHours(waiting, drainPerHour, flatPerHour, cadenceHours);
  const slotMs = profile.slot_ms;
  const shape = Array.from({ length: 24 }, (_, slot) => smoothed(profile, slot, flatPerHour));
  const shapeMean = shape.reduce((a, b) => a + b, 0) / 24;
  const perHourIn = (slot: number) =>
    shapeMean > 0 ? ((shape[slot] ?? shapeMean) * flatPerHour) / shapeMean : flatPerHour;
  // Slot by slot by index: a slot's end computed from the time could round onto the time itself.
  const arrivalsBetween = (fromMs: number, toMs: number) => {
    let sum = 0;
    let ms = fromMs;
    for (let k = Math.floor(fromMs / slotMs); ms < toMs; k++) {
      const end = Math.min(toMs, (k + 1) * slotMs);
      if (end <= ms) continue;
      sum += (perHourIn(((k % 24) + 24) % 24) * (end - ms)) / HOUR_MS;
      ms = end;
    }
    return sum;
  };
  const runs = Math.ceil((MAX_WALK_SLOTS * slotMs) / cadenceMs);
  let queue = waiting;
  for (let run = 0; run < runs; run++) {
    const from = atMs + run * cadenceMs;
    const next = arrivalsBetween(from, from + cadenceMs);
    // The next run, finding no more than a cadence drains, reports it caught up; one that finds
    // more (an office hour over the drain) is behind again.
    if (queue <= perCadence && next <= perCadence) return run * cadenceHours + queue / drainPerHour;
    queue = Math.max(0, queue - perCadence) + next;
  }
  return runs * cadenceHours + flatDrainHours(queue, drainPerHour, flatPerHour, cadenceHours);
}

/**
 * The same walk at a steady `flatPerHour` (under the drain, so every run's arrivals fit a cadence):
 * run k starts with the queue `waiting` less k cadences of the net drain, and the first whose queue
 * the drain empties within a cadence ends it.
 */
function flatDrainHours(waiting: number, drainPerHour: number, flatPerHour: number, cadenceHours: number) {
  const perCadence = drainPerHour * cadenceHours;
  if (waiting <= perCadence) return waiting / drainPerHour;
  const netPerCadence = (drainPerHour - flatPerHour) * cadenceHours;
  const run = Math.ceil((waiting - perCadence) / netPerCadence);
  return run * cadenceHours + (waiting - run * netPerCadence) / drainPerHour;
}

/**
 * The catch-up hours an outlook's stored figures give: the waiting conversations against what the
 * bottleneck's capacity drains, the arrivals added run by run at the stored cadence (an hour in
 * older outlooks) through the arrival profile (null: never or not known). The outlook's own
 * `catch_up_hours` is the same walk over its figures before they were rounded (3 digits), so near
 * the end of a cadence the two can fall a run apart; bench/week-run.ts recomputes it to turn a fast
 * clock's hours into simulated ones.
 */
export function catchUpHoursOf(outlook: {
  readonly at?: string;
  readonly backlog: number;
  readonly catch_up_backlog?: number | undefined;
  readonly catch_up_cadence_hours?: number | undefined;
  readonly bottleneck: string | null;
  readonly arrivals_per_hour: number;
  readonly arrival_profile?: ArrivalProfile | null | undefined;
  readonly operations: Readonly<
    Record<
      string,
      { readonly per_conversation: number | null; readonly capacity_per_hour?: number | null | undefined }
    >
  >;
}): number | null {
  const behind = outlook.catch_up_backlog ?? outlook.backlog;
  if (behind <= 0) return 0;
  const b = outlook.bottleneck ? outlook.operations[outlook.bottleneck] : undefined;
  if (!b?.per_conversation || !b.capacity_per_hour) return null;
  return drainHours(
    outlook.backlog,
    b.capacity_per_hour / b.per_conversation,
    outlook.arrivals_per_hour,
    (outlook.catch_up_cadence_hours ?? 1) * HOUR_MS,
    outlook.arrival_profile,
    outlook.at === undefined ? undefined : Date.parse(outlook.at),
  );
}

export function budgetOutlook(input: OutlookInput): BudgetOutlook {
  // An unparsable stored start must not put NaN into the record: a period of 0 measures nothing.
  const periodMs = Number.isFinite(input.periodMs) ? Math.max(0, input.periodMs) : 0;
  const averagingMs = input.averagingMs ?? SMOOTHING_MS;
  const reserveShare = input.reserveShare ?? DEFAULT_RESERVE_SHARE;
  const previous = input.previous ?? null;
  const perHour = (n: number | null) => (n === null || periodMs <= 0 ? null : (n * HOUR_MS) / periodMs);
  const ratesSpanMs = previous ? (previous.ratesHours ?? averagingMs / HOUR_MS) * HOUR_MS : 0;
  const weight = weightOf(periodMs, ratesSpanMs, averagingMs);
  const measured = input.archived !== null && periodMs > 0;
  const ratesHours = Math.min(averagingMs, ratesSpanMs + (measured ? periodMs : 0)) / HOUR_MS;
  const archivedPerHour = blend(previous?.archivedPerHour, perHour(input.archived), weight);
  const archivedTotal =
    (previous ? (previous.archivedTotal ?? ((previous.archivedPerHour ?? 0) * ratesSpanMs) / HOUR_MS) : 0) +
    (measured ? (input.archived ?? 0) : 0);
  // A backlog at both ends of the period, twice what the day's average archives in it, kept the
  // workers waiting on the budget throughout (a few waiting drain at the workers' own pace).
  const waitedThrough =
    Math.min(input.backlog, input.previousBacklog ?? 0) >=
    Math.max(1, (2 * (previous?.archivedPerHour ?? 0) * periodMs) / HOUR_MS);
  // Conversations an earlier run enqueued (so waiting since the period's start at the latest) still
  // waited at its end: the archive jobs had work throughout, and their grants' waits say whether
  // the budget set their pace.
  const heldThrough =
    input.previousBacklog !== null &&
    input.previousBacklog !== undefined &&
    Math.min(input.previousBacklog, input.backlog, input.earlierBacklog ?? input.backlog) >=
      Math.max(MIN_HELD_BACKLOG, 0.25 * (measured ? (input.archived ?? 0) : 0));
  const operations: Record<string, OperationOutlook> = {};
  let bottleneck: { op: string; perConversation: number; capacity: number; load: number } | null = null;
  for (const [op, u] of Object.entries(input.usage).sort(([a], [b]) => a.localeCompare(b))) {
    if (u.limit <= 0 || u.windowMs <= 0) continue;
    const budget = (u.limit * periodMs) / u.windowMs;
    const share = budget > 0 ? u.calls / budget : 0;
    const archiveCalls = Math.min(u.calls, u.archiveCalls ?? u.calls);
    const before = previous?.operations[op];
    // Counted over the same periods as the archived conversations, or not at all.
    const archivePerHour = blend(
      before?.archiveCallsPerHour,
      measured ? perHour(archiveCalls) : null,
      weight,
    );
    const otherPerHour = blend(
      before?.otherCallsPerHour,
      measured ? perHour(u.calls - archiveCalls) : null,
      weight,
    );
    const limitPerHour = (u.limit * HOUR_MS) / u.windowMs;
    const other = otherPerHour ?? 0;
    const waitedShare =
      u.archiveAcquired !== undefined &&
      u.archiveAcquired > 0 &&
      u.archiveAcquired >= Math.min(MIN_GRANTS_FOR_WAITED_SHARE, budget / 2)
        ? Math.min(1, (u.archiveWaited ?? 0) / u.archiveAcquired)
        : null;
    // What the archive jobs reach when they never run out of work: measured, it holds the pipeline's
    // own efficiency, the reserve while it held and the other callers' share all at once. Averaged
    // over half the span (a plain mean until then): a capacity does not follow the office hours.
    const busy =
      measured &&
      ((waitedThrough && (archivePerHour ?? 0) + (otherPerHour ?? 0) >= BUSY_SHARE * limitPerHour) ||
        (heldThrough && waitedShare !== null && waitedShare >= WAITED_SHARE));
    const drainSpanMs = (before?.drainHours ?? 0) * HOUR_MS;
    // A period's calls are counted by the documents that ended in it, a few minutes either way, so
    // one period reads above the limit (2.6 times it, in the week bench) and its neighbours below:
    // the samples are averaged as they are (capping each one read the drain a tenth low and the
    // catch-up two thirds long), and the average is capped where it becomes the capacity.
    const drainSample = busy ? perHour(archiveCalls) : null;
    const drainPerHour = blend(
      before?.drainCallsPerHour,
      drainSample,
      weightOf(periodMs, drainSpanMs, averagingMs / 2),
    );
    const drainHours = Math.min(averagingMs / 2, drainSpanMs + (busy ? periodMs : 0)) / HOUR_MS;
    // Until measured: the limit less the other callers' calls, and less the reserve for the high
    // class while it holds. It holds for two windows after each high call, and the other callers
    // (stall scans, tag jobs) call as high, so it is taken to hold whenever they use the operation:
    // pessimistic by up to the reserve, until a busy period measures the drain.
    const modelled =
      ACHIEVABLE_SHARE * limitPerHour - Math.max(other, other > 0 ? reserveShare * limitPerHour : 0);
    const capacity = Math.max(
      0,
      drainPerHour === null ? modelled : Math.min(drainPerHour, limitPerHour - other),
    );
    // Calls over nothing archived (the averaged archived rate is exactly 0 after a period as long as
    // the averaging span without an archive) are an infinite cost: no conversation drains, and the
    // outlook says `never`. Nothing called over nothing archived is no cost at all (not 0/0).
    const perConversation =
      archivePerHour !== null &&
      archivedPerHour !== null &&
      archivedTotal >= MIN_ARCHIVED_FOR_COST &&
      (archivedPerHour > 0 || archivePerHour > 0)
        ? archivePerHour / archivedPerHour
        : null;
    operations[op] = {
      calls: u.calls,
      limit: u.limit,
      window_ms: u.windowMs,
      budget_share: round(share, 4),
      calls_per_hour:
        archivePerHour === null && otherPerHour === null ? null : round((archivePerHour ?? 0) + other, 3),
      // Stored as not known when infinite (JSON would write null anyway, silently).
      per_conversation:
        perConversation === null || !Number.isFinite(perConversation) ? null : round(perConversation, 3),
      archive_calls_per_hour: archivePerHour === null ? null : round(archivePerHour, 3),
      other_calls_per_hour: otherPerHour === null ? null : round(otherPerHour, 3),
      drain_calls_per_hour: drainPerHour === null ? null : round(drainPerHour, 3),
      drain_hours: round(drainHours, SPAN_DIGITS),
      capacity_per_hour: round(capacity, 3),
      archive_waited_share: waitedShare === null ? null : round(waitedShare, 4),
    };
    if (perConversation === null || perConversation === 0) continue;
    // Hours of this operation's capacity one conversation takes: the largest one limits the drain.
    const load = capacity > 0 ? perConversation / capacity : Number.POSITIVE_INFINITY;
    if (!bottleneck || load > bottleneck.load) bottleneck = { op, perConversation, capacity, load };
  }
  // The first outlook's arrivals are what the pipeline found at its start (the lookback's worth),
  // a backlog, not a rate: the rate starts with the second period.
  const window = previous
    ? nextWindow(
        previous.arrivalsWindow ?? [
          {
            hours: previous.arrivalsHours ?? averagingMs / HOUR_MS,
            arrivals: previous.arrivalsPerHour * (previous.arrivalsHours ?? averagingMs / HOUR_MS),
          },
        ],
        { hours: periodMs / HOUR_MS, arrivals: input.arrivals },
        averagingMs / HOUR_MS,
      )
    : [];
  const windowHours = window.reduce((sum, p) => sum + p.hours, 0);
  const arrivalsPerHour = windowHours > 0 ? window.reduce((sum, p) => sum + p.arrivals, 0) / windowHours : 0;
  const profile = previous
    ? nextProfile(previous.arrivalProfile, perHour(input.arrivals), input.now, periodMs, averagingMs)
    : null;
  const outlook = {
    period_hours: round(periodMs / HOUR_MS, 3),
    arrivals_per_hour: round(arrivalsPerHour, 3),
    archived_per_hour: archivedPerHour === null ? null : round(archivedPerHour, 3),
    archived_total: Math.round(archivedTotal),
    rates_hours: round(ratesHours, SPAN_DIGITS),
    arrivals_hours: round(windowHours, SPAN_DIGITS),
    arrivals_window: window.map((p) => ({
      hours: round(p.hours, SPAN_DIGITS),
      arrivals: round(p.arrivals, 4),
    })),
    arrival_profile: profile
      ? { ...profile, per_hour: profile.per_hour.map((v) => (v === null ? null : round(v, 3))) }
      : null,
    operations,
  };
  // What this run found, up to a cadence of the drain, waits no longer than the runs' cadence once
  // the rest has drained: the pipeline is then as current as its schedule lets it be (a fluid
  // drain never empties the queue while arrivals go on). Beyond a cadence's drain (the first run
  // after an outage lists hours of arrivals at once) it is a backlog like any other.
  const cadenceMs = previous ? cadenceOf(window, periodMs, averagingMs) : averagingMs / 24;
  const earlier = Math.min(input.backlog, input.earlierBacklog ?? input.backlog);
  const drained = bottleneck ? ((bottleneck.capacity / bottleneck.perConversation) * cadenceMs) / HOUR_MS : 0;
  // A cost or capacity out of range (an hour of seconds, a cost read off almost nothing) drains
  // nothing here: what this run found then counts whole, and the figure stays a number.
  const drainedInACadence = Number.isFinite(drained) ? drained : 0;
  const behind = Math.round(earlier + Math.max(0, input.backlog - earlier - drainedInACadence));
  const counted = {
    ...outlook,
    catch_up_backlog: behind,
    catch_up_cadence_hours: round(cadenceMs / HOUR_MS, SPAN_DIGITS),
  };
  if (behind <= 0) {
    return { ...counted, bottleneck: bottleneck?.op ?? null, catch_up: 'caught-up', catch_up_hours: 0 };
  }
  if (!bottleneck) return { ...counted, bottleneck: null, catch_up: 'unknown', catch_up_hours: null };
  // `never` from the rates averaged over a day, not the hour's: office hours bring more than the
  // budget for an hour or two while the day's arrivals leave a third of it, and a backlog that
  // grows until the evening and drains overnight is not one that never drains. How long it takes
  // does depend on the hour: walked through the day's arrival profile.
  // The runs' whole queue drains, this run's conversations among it (see drainHours).
  const hours = drainHours(
    input.backlog,
    bottleneck.capacity / bottleneck.perConversation,
    arrivalsPerHour,
    cadenceMs,
    profile,
    input.now,
  );
  if (hours === null)
    return { ...counted, bottleneck: bottleneck.op, catch_up: 'never', catch_up_hours: null };
  return { ...counted, bottleneck: bottleneck.op, catch_up: 'estimated', catch_up_hours: round(hours, 2) };
}

/**
 * How long before its time an outlook's usage period ends. Workers write a usage document when their
 * invocation ends, seconds after its last call (a minute or more when a large recording is still
 * being copied): one that ended just before the outlook may not be stored yet when it reads, and
 * one written while it scans the markers (seconds, at thousands) ends after it. Each period counts
 * the documents whose calls end in (the last period's end, time - settle], and the next outlook
 * reads the runs this one read too (`usage_runs`), so each is counted once. A document written more
 * than this after its last call (an invocation stuck that long after it) is missed.
 */
export const USAGE_SETTLE_MS = 5 * 60_000;

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
    /** The budget's reserve for high-priority callers (`amigo.priorityReserve`). @default DEFAULT_RESERVE_SHARE */
    readonly reserveShare?: number;
    /** @default USAGE_SETTLE_MS */
    readonly usageSettleMs?: number;
  },
): Promise<RunOutlook> {
  const previous = args.previousRunId ? await readRunRecord(store, args.previousRunId) : undefined;
  // A previous run whose outlook failed must not start the averages over: the last outlook taken
  // is kept apart too, and its period runs on from there.
  const before = previous?.outlook ?? (await readOutlookState(store, args.organizationId))?.outlook ?? null;
  const from =
    [before?.at, previous?.listed_at, previous?.started_at].find(
      (t) => t !== undefined && t !== null && Number.isFinite(Date.parse(t)),
    ) ?? args.runStartedAt;
  const waiting = await scanWaiting(store, args.organizationId, {
    runId: args.runId,
    ...(args.concurrency ? { concurrency: args.concurrency } : {}),
    ...(args.timeLeft ? { timeLeft: args.timeLeft } : {}),
  });
  // The runs with jobs out at this scan or the last one; and those the last outlook read, whose
  // documents it may have left to settle though their last marker has cleared since.
  const live = new Set([...(before?.waiting_runs ?? []), ...waiting.runs, args.runId]);
  if (args.previousRunId) live.add(args.previousRunId);
  const runs = new Set([...live, ...(before?.usage_runs ?? [])]);
  // The usage period runs on from where the last one ended (an outlook from before it was kept: its
  // time); the first outlook has nothing to hand documents on from and reads up to now.
  const usageFrom = before ? (before.usage_until ?? from) : from;
  const usageUntil = before ? args.now - (args.usageSettleMs ?? USAGE_SETTLE_MS) : args.now;
  const used = await readUsageSince(store, runs, usageFrom, {
    until: usageUntil,
    ...(args.timeLeft ? { timeLeft: args.timeLeft } : {}),
  });
  // Counted by the archive jobs; not known while documents from before they counted are read (or
  // the read was cut short), and then the previous rates carry on.
  const archived = used.legacy > 0 || used.partial ? null : used.archived;
  const outlook = budgetOutlook({
    periodMs: args.now - Date.parse(from),
    usage: {
      // An operation not called in the period (a quiet night) made 0 calls under the budget it had:
      // left out, its day of averages would be lost and start again from the next busy hour.
      ...Object.fromEntries(
        Object.entries(before?.operations ?? {}).map(([op, o]) => [
          op,
          { calls: 0, archiveCalls: 0, limit: o.limit, windowMs: o.window_ms },
        ]),
      ),
      ...Object.fromEntries(
        Object.entries(used.calls).map(([op, c]) => [
          op,
          {
            calls: c.answered,
            ...(used.legacy > 0 ? {} : { archiveCalls: c.archive }),
            archiveAcquired: c.archiveAcquired,
            archiveWaited: c.archiveWaited,
            limit: c.limit,
            windowMs: c.windowMs,
          },
        ]),
      ),
    },
    arrivals: args.arrivals,
    archived,
    backlog: waiting.backlog,
    // The first outlook's arrivals are the backlog the pipeline starts with.
    ...(before ? { earlierBacklog: waiting.earlier } : {}),
    previousBacklog: before?.backlog ?? null,
    now: args.now,
    ...(args.averagingMs ? { averagingMs: args.averagingMs } : {}),
    ...(args.reserveShare === undefined ? {} : { reserveShare: args.reserveShare }),
    previous: before
      ? {
          arrivalsPerHour: before.arrivals_per_hour,
          arrivalsHours: before.arrivals_hours,
          arrivalsWindow: before.arrivals_window,
          arrivalProfile: before.arrival_profile ?? null,
          archivedPerHour: before.archived_per_hour,
          archivedTotal: before.archived_total,
          ratesHours: before.rates_hours,
          operations: Object.fromEntries(
            Object.entries(before.operations).map(([op, o]) => [
              op,
              {
                // An outlook from before the archive calls were counted apart: all its calls were taken as theirs.
                archiveCallsPerHour: o.archive_calls_per_hour ?? o.calls_per_hour,
                otherCallsPerHour: o.other_calls_per_hour ?? null,
                drainCallsPerHour: o.drain_calls_per_hour ?? null,
                drainHours: o.drain_hours,
              },
            ]),
          ),
        }
      : null,
  });
  const taken: RunOutlook = {
    at: new Date(args.now).toISOString(),
    from,
    ...outlook,
    arrivals: args.arrivals,
    archived,
    backlog: waiting.backlog,
    given_up: waiting.givenUp,
    oldest_waiting_since: waiting.oldestSince,
    waiting_runs: waiting.runs.slice(-MAX_WAITING_RUNS),
    usage_until: new Date(usageUntil).toISOString(),
    usage_runs: [...live].slice(-MAX_WAITING_RUNS),
    partial: waiting.partial || used.partial || used.unreadable > 0,
  };
  // Two schedulers at once (a manual trigger during the nightly run): the last writer wins. Both
  // periods began at the same outlook, so either carries the averages on; the other is dropped,
  // not counted twice.
  await writeOutlookState(store, args.organizationId, { run_id: args.runId, outlook: taken });
  return taken;
}
