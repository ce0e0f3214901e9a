// The week bench runs the scheduler as the stack does: the first tick of each simulated day is the
// nightly run (full lookback, moves the watermark), the others are the hourly runs.
import { describe, expect, it } from 'vitest';
import { nightlyRuns } from '../../../bench/week-run.ts';

const DAY = 120_000;
const HOUR = DAY / 24;

/** The ticks (in simulated hours) the week's loop would run as nightly runs. */
function nightlyHours(hours: readonly number[], cadence = HOUR, every = false): number[] {
  const isNightly = nightlyRuns(DAY, cadence, every);
  return hours.filter((h) => isNightly(h * HOUR));
}

describe('nightlyRuns', () => {
  it('when ticks come every simulated hour, then only the one at each midnight is the nightly run', () => {
    // Act / Assert
    expect(nightlyHours(Array.from({ length: 49 }, (_, k) => k + 1))).toEqual([24, 48]);
  });

  it('when a tick comes a little before midnight, then it is that night’s run and the tick after midnight is hourly', () => {
    // Act / Assert
    expect(nightlyHours([23.2, 23.8, 24.6])).toEqual([23.8]);
  });

  it('when the run before midnight overran and the midnight tick was skipped, then the first tick of the new day is the nightly run', () => {
    // Act / Assert
    expect(nightlyHours([22, 25.3, 26])).toEqual([25.3]);
  });

  it('when the scheduler runs once a day, then every tick is the nightly run', () => {
    // Act / Assert
    expect(nightlyHours([24, 48, 72], DAY)).toEqual([24, 48, 72]);
  });

  it('when every run lists the full lookback, then every tick is a nightly run', () => {
    // Act / Assert
    expect(nightlyHours([1, 2, 3], HOUR, true)).toEqual([1, 2, 3]);
  });
});
