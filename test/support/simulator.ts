// Starts the simulator for a test with small defaults, and makes any spec violation in the simulator's
// own responses fail the test: `stop()` (and `assertNoViolations()`) check every recorded violation,
// including those recorded before a `resetStats()`.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import {
  type RunningSimulator,
  type SimStats,
  type SimulatorOptions,
  startSimulator,
} from '../../sim/index.ts';

export interface TestSimulator extends RunningSimulator {
  /** Fails (vitest `expect`) when any response of the simulator broke the spec. */
  assertNoViolations(): void;
}

/** Test defaults: no large recordings (override by passing `audio`). */
export const TEST_DEFAULTS: SimulatorOptions = { audio: { largeRecordings: 0 } };

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<TestSimulator> {
  const sim = await startSimulator({ ...TEST_DEFAULTS, ...options });
  const earlier: SimStats['violations'] = [];
  const resetStats = sim.control.resetStats.bind(sim.control);
  sim.control.resetStats = () => {
    earlier.push(...sim.control.stats().violations);
    resetStats();
  };
  const assertNoViolations = (): void => {
    expect(
      [...earlier, ...sim.control.stats().violations],
      'simulator responses that violate the spec',
    ).toEqual([]);
  };
  return {
    ...sim,
    assertNoViolations,
    stop: async () => {
      try {
        assertNoViolations();
      } finally {
        await sim.stop();
      }
    },
  };
}

/**
 * One simulator per test file: started before all tests, checked for violations after each test and
 * stopped after all. Read it with `get()` inside tests.
 */
export function useTestSimulator(options: SimulatorOptions = {}): { get(): TestSimulator } {
  let sim: TestSimulator | undefined;
  beforeAll(async () => {
    sim = await startTestSimulator(options);
  });
  afterEach(() => {
    sim?.assertNoViolations();
  });
  afterAll(async () => {
    await sim?.stop();
  });
  return {
    get: () => {
      if (!sim) throw new Error('The test simulator is not running (use get() inside a test or hook).');
      return sim;
    },
  };
}
