import type { Telemetry } from '../../shared/ports/telemetry.ts';

const quiet = () => {};

/** Reports nothing: for stage tests that assert on what the stage returns and stores. */
export const silentTelemetry: Telemetry = {
  log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  metrics: { addMetric: quiet },
};
