// The week bench runs the scheduler as the stack does: the tick nearest each simulated midnight is
// the nightly run (full lookback, moves the watermark), the others are the hourly runs.
import { describe, expect, it } from 'vitest';
import { nearMidnight } from '../../../bench/week-run.ts';

const DAY = 120_000;
const HOUR = DAY / 24;

describe('nearMidnight', () => {
  it('when ticks come every simulated hour, then only the one at each midnight is the nightly run', () => {
    // Arrange
    const ticks = Array.from({ length: 49 }, (_, k) => (k + 1) * HOUR);

    // Act
    const nightly = ticks.filter((t) => nearMidnight(t, DAY, HOUR)).map((t) => t / HOUR);

    // Assert
    expect(nightly).toEqual([24, 48]);
  });

  it('when a tick drifts a little past or before midnight, then it is still the nightly run; half an hour off, it is not', () => {
    // Act / Assert
    expect(nearMidnight(DAY + 0.2 * HOUR, DAY, HOUR)).toBe(true);
    expect(nearMidnight(2 * DAY - 0.2 * HOUR, DAY, HOUR)).toBe(true);
    expect(nearMidnight(DAY + 0.6 * HOUR, DAY, HOUR)).toBe(false);
  });

  it('when the scheduler runs once a day, then every tick is the nightly run', () => {
    // Act / Assert
    expect([1, 2, 3].every((d) => nearMidnight(d * DAY, DAY, DAY))).toBe(true);
  });
});
