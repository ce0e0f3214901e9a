// Waits and backlog per class of a simulated week (bench/week-priorities.ts): pure, from the
// week's per-conversation detail, so a run with priorities off is judged by the same rules.
import type { PriorityRule } from '../shared/config/pipeline-config.ts';
import { priorityOf } from '../shared/stages/archive-priority.ts';
import type { ConversationDetail } from './week-run.ts';

export type PriorityClass = 'priority' | 'normal';

export interface Spread {
  median: number;
  p95: number;
  max: number;
}

export interface ClassFigures {
  conversations: number;
  archived: number;
  /** Finish to the manifest's archived_at, simulated hours. */
  waitHours: Spread;
  /** The first job's send (the scheduler run that listed it) to archived_at, simulated hours. */
  queuedHours: Spread;
  /** Share of waits at most one scheduler cadence. */
  withinCadence: number;
}

export interface BacklogPoint {
  hour: number;
  priority: number;
  normal: number;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  // The same rank as the week's table (bench/week-run.ts): the value at floor(q x n).
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { median: round(at(0.5)), p95: round(at(0.95)), max: round(sorted.at(-1) ?? 0) };
}

/**
 * A `newerThan` threshold, in simulated ms as an operator writes it, as the week must be given it
 * (runWeek divides durations by the scale). On the fast clock a conversation's messages keep their
 * real spacing, so its created_at lies `createdBeforeFinishMs` of sim time before its finish, where
 * the same conversation on the simulated clock would lie that / scale before it: the threshold
 * carries the difference, so the rule judges each conversation by its simulated age.
 */
export function newerThanForWeek(
  simulatedMs: number,
  timeScale: number,
  createdBeforeFinishMs: number,
): number {
  return simulatedMs + createdBeforeFinishMs * (timeScale - 1);
}

/** The rules as the run's config holds them (sim time), scaled as runWeek scales them. */
export function rulesInSimTime(rules: readonly PriorityRule[], timeScale: number): PriorityRule[] {
  return rules.map((r) => ({
    ...r,
    newerThanMs: r.newerThanMs === null ? null : r.newerThanMs / timeScale,
  }));
}

/**
 * The class the rules give a conversation when the scheduler lists it (its first send; its finish
 * if never sent): what it was routed as with priorities on, what it would have been with them off.
 * `rules` are in sim time (scaled like the run's config).
 */
export function classOf(c: ConversationDetail, rules: readonly PriorityRule[]): PriorityClass {
  const facts = { service_id: c.serviceId, created_at: new Date(c.createdMs).toISOString() };
  return priorityOf(facts, rules, c.sentMs ?? c.finishMs) === 'high' ? 'priority' : 'normal';
}

export function classFigures(
  conversations: readonly ConversationDetail[],
  rules: readonly PriorityRule[],
  dayMs: number,
  cadenceMs: number,
): Record<PriorityClass, ClassFigures> {
  const hours = (ms: number) => (ms / dayMs) * 24;
  const of = (k: PriorityClass) => {
    const members = conversations.filter((c) => classOf(c, rules) === k);
    const done = members.filter((c) => c.archivedMs !== null);
    const waits = done.map((c) => (c.archivedMs as number) - c.finishMs);
    return {
      conversations: members.length,
      archived: done.length,
      waitHours: spread(waits.map(hours)),
      queuedHours: spread(
        done
          .filter((c) => c.sentMs !== null)
          .map((c) => hours((c.archivedMs as number) - (c.sentMs as number))),
      ),
      withinCadence: done.length ? round(waits.filter((w) => w <= cadenceMs).length / done.length, 3) : 0,
    };
  };
  return { priority: of('priority'), normal: of('normal') };
}

/** Finished, not yet archived, per class at each `stepMs` from the start until all are archived. */
export function backlogOverTime(
  conversations: readonly ConversationDetail[],
  rules: readonly PriorityRule[],
  startMs: number,
  dayMs: number,
  stepMs: number,
): BacklogPoint[] {
  const classes = conversations.map((c) => ({ c, k: classOf(c, rules) }));
  const end = Math.max(...conversations.map((c) => c.archivedMs ?? c.finishMs));
  const points: BacklogPoint[] = [];
  for (let t = startMs; t <= end + stepMs; t += stepMs) {
    const waiting = (k: PriorityClass) =>
      classes.filter(({ c, k: ck }) => ck === k && c.finishMs <= t && (c.archivedMs ?? Infinity) > t).length;
    points.push({
      hour: round(((t - startMs) / dayMs) * 24, 2),
      priority: waiting('priority'),
      normal: waiting('normal'),
    });
  }
  return points;
}
