// A Clock (shared/ports/clock.ts) that stands still until the test moves it: `now()` changes only
// with `advance`, and a sleeper wakes only when the clock reaches its wake time. Code under test
// that does real I/O in between (a store, an emulator) still runs; only its idea of time is the
// test's. What a wall clock would measure ("granted within 150 ms") becomes exact: "granted before
// the clock moved", "granted at the block's end".
import type { Clock } from '../../shared/ports/clock.ts';

interface Sleeper {
  readonly wakeAt: number;
  readonly wake: () => void;
}

export interface ManualClock extends Clock {
  /** Sleeps started and not yet woken (nor aborted). */
  readonly sleepers: number;
  /** Moves the time forward by `ms` and wakes every sleeper due by then, earliest first. */
  advance(ms: number): void;
  /** When the earliest sleeper wakes, or undefined when none sleeps. */
  nextWake(): number | undefined;
  /**
   * Resolves once at least `count` sleeps are waiting (the code under test got that far), or once
   * `unless` settles (the code under test finished without sleeping).
   */
  untilSleeping(count?: number, unless?: Promise<unknown>): Promise<void>;
}

export function manualClock(startMs = Date.UTC(2026, 0, 1)): ManualClock {
  let now = startMs;
  const sleepers: Sleeper[] = [];
  const clock: ManualClock = {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        if (ms <= 0) {
          resolve();
          return;
        }
        const onAbort = () => {
          sleepers.splice(sleepers.indexOf(sleeper), 1);
          reject(signal?.reason);
        };
        const sleeper: Sleeper = {
          wakeAt: now + ms,
          wake: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    get sleepers() {
      return sleepers.length;
    },
    advance: (ms) => {
      if (!(ms >= 0)) throw new RangeError(`advance needs a non-negative number of ms, got ${ms}`);
      now += ms;
      const due = sleepers.filter((s) => s.wakeAt <= now).sort((a, b) => a.wakeAt - b.wakeAt);
      for (const s of due) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.wake();
      }
    },
    nextWake: () => (sleepers.length === 0 ? undefined : Math.min(...sleepers.map((s) => s.wakeAt))),
    untilSleeping: async (count = 1, unless) => {
      let settled = false;
      const stop = () => {
        settled = true;
      };
      unless?.then(stop, stop);
      // Real I/O (not timers) is what the code under test waits for before it sleeps: poll the
      // event loop, never a wall-clock deadline (the test's own timeout bounds the wait).
      while (sleepers.length < count && !settled) await new Promise((resolve) => setImmediate(resolve));
    },
  };
  return clock;
}
