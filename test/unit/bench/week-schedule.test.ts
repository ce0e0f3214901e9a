// The week bench runs the scheduler as the stack does: the first tick of each simulated day is the
// nightly run (full lookback, moves the watermark), the others are the hourly runs.
import { describe, expect, it } from 'vitest';
import { nightlyDayOf } from '../../../bench/week-run.ts';

const DAY = 120_000;
const HOUR = DAY / 24;

/** The ticks that would be nightly runs, as the week's loop picks them. */
function nightlyTicks(ticks: readonly number[], cadence: number): number[] {
  let served = 0;
  return ticks.filter((t) => {
    const day = nightlyDayOf(t, DAY, cadence);
    if (day <= served) return false;
    served = day;
    return true;
  });
}

describe('nightlyDayOf', () => {
  it('when ticks come every simulated hour, then only the one at each midnight is the nightly run', () => {
    // Arrange
    const ticks = Array.from({ length: 49 }, (_, k) => (k + 1) * HOUR);

    // Act / Assert
    expect(nightlyTicks(ticks, HOUR).map((t) => t / HOUR)).toEqual([24, 48]);
  });

  it('when a tick comes a little before midnight, then it is that night’s run and the tick after midnight is hourly', () => {
    // Act / Assert
    expect(nightlyTicks([23.2 * HOUR, 23.8 * HOUR, 24.6 * HOUR], HOUR).map((t) => t / HOUR)).toEqual([23.8]);
  });

  it('when the run before midnight overran and the midnight tick was skipped, then the first tick of the new day is the nightly run', () => {
    // Act / Assert
    expect(nightlyTicks([22 * HOUR, 25.3 * HOUR, 26 * HOUR], HOUR).map((t) => t / HOUR)).toEqual([25.3]);
  });

  it('when the scheduler runs once a day, then every tick is the nightly run', () => {
    // Act / Assert
    expect(nightlyTicks([DAY, 2 * DAY, 3 * DAY], DAY)).toEqual([DAY, 2 * DAY, 3 * DAY]);
  });
});
