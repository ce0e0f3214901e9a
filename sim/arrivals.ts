// Conversations that arrive over simulated days: an organisation finishing `perDay` conversations a
// day, more of them in the daytime, on a fast clock where one simulated day lasts `dayMs` of sim time.
// The conversation's own messages keep their real spacing (seconds apart): only arrival times are on
// the fast clock, so a conversation runs for a few minutes of sim time before it finishes.
import type { Rng } from './prng.ts';

export interface Arrivals {
  /** Simulated days over which conversations finish. */
  readonly days: number;
  /** Conversations finishing per simulated day. */
  readonly perDay: number;
  /** Sim time one simulated day lasts (86_400_000 is real time). */
  readonly dayMs: number;
  /** Interactions of each conversation. */
  readonly interactions: number;
  /** Share of voice conversations, 0 to 1. */
  readonly voiceShare: number;
  /**
   * Conversations that all finish within ten simulated minutes (the first, unless `burstAgeMs`), on
   * top of the daily ones: a backlog to work off (after an outage, say). They take the first
   * indices. @default 0
   */
  readonly burst?: number;
  /**
   * Sim time before the start at which the burst's ten minutes begin: a backlog already old when the
   * pipeline first lists it (an outage's), which a `newerThan` priority must tell from the new
   * arrivals. @default 0 (the burst finishes in the first ten minutes)
   */
  readonly burstAgeMs?: number;
}

/** The share of the first day in which a burst finishes: ten minutes. */
export const BURST_FRACTION = 1 / 144;

/** How many conversations an arrivals dataset holds: the daily ones and the burst. */
export function arrivalCount(arrivals: Arrivals): number {
  return arrivals.days * arrivals.perDay + (arrivals.burst ?? 0);
}

/**
 * Relative weight of each hour of the simulated day: office hours carry three times the night's
 * traffic (so the daytime builds a backlog the night has to work off).
 */
export const HOURLY_WEIGHTS: readonly number[] = Array.from({ length: 24 }, (_, h) =>
  h >= 8 && h < 20 ? 3 : 1,
);

/** Longest a conversation's messages may take, per interaction (the generator's gaps stay under it). */
export const INTERACTION_SPAN_MS = 30_000;

export interface ArrivalTiming {
  readonly createdMs: number;
  readonly endMs: number;
  /** The arrival: when the conversation reads as finished. */
  readonly finishMs: number;
  readonly analyzedMs: number;
}

/** The simulated day (0-based) and the fraction of it at which conversation `index` finishes. */
export function arrivalPoint(arrivals: Arrivals, index: number, rng: Rng): { day: number; fraction: number } {
  const burst = arrivals.burst ?? 0;
  if (index < burst) return { day: 0, fraction: rng.float(0, BURST_FRACTION) };
  const day = Math.floor((index - burst) / arrivals.perDay);
  const total = HOURLY_WEIGHTS.reduce((a, b) => a + b, 0);
  let pick = rng.float(0, total);
  let hour = 0;
  while (hour < 23 && pick >= (HOURLY_WEIGHTS[hour] as number)) {
    pick -= HOURLY_WEIGHTS[hour] as number;
    hour++;
  }
  return { day, fraction: (hour + rng.float(0, 1)) / 24 };
}

export function arrivalTiming(arrivals: Arrivals, index: number, startMs: number, rng: Rng): ArrivalTiming {
  const { day, fraction } = arrivalPoint(arrivals, index, rng);
  const age = index < (arrivals.burst ?? 0) ? (arrivals.burstAgeMs ?? 0) : 0;
  const finishMs = Math.round(startMs - age + (day + fraction) * arrivals.dayMs);
  const endMs = finishMs - 1_000;
  const createdMs = endMs - arrivals.interactions * INTERACTION_SPAN_MS;
  // Analysis follows the finish within a few simulated minutes (at least a second of sim time).
  const analyzedMs =
    finishMs + Math.max(1_000, Math.round((rng.int(1, 5) * 60_000 * arrivals.dayMs) / 86_400_000));
  return { createdMs, endMs, finishMs, analyzedMs };
}

/** The finish (arrival) time of a conversation of an arrivals dataset, from its created_at. */
export function finishFromCreated(arrivals: Arrivals, createdMs: number): number {
  return createdMs + arrivals.interactions * INTERACTION_SPAN_MS + 1_000;
}
