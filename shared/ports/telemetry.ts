// How stages report what they did without knowing where it goes: in Lambda the Powertools logger
// and metrics (shared/observability.ts), in tests a recorder. Conversation text is health data:
// pass ids, counts and reasons, never message bodies.
import type { MetricName } from '../contract/metric-names.ts';

export interface Log {
  debug(message: string, ...extra: [] | [Record<string, unknown>]): void;
  info(message: string, ...extra: [] | [Record<string, unknown>]): void;
  warn(message: string, ...extra: [] | [Record<string, unknown>]): void;
  error(message: string, ...extra: [] | [Record<string, unknown>]): void;
}

export type MetricUnitName = 'Count' | 'Bytes' | 'None';

export interface Metrics {
  addMetric(name: MetricName, unit: MetricUnitName, value: number): void;
  /** A metric with dimensions of its own (say `operation`), published at once; absent: none. */
  singleMetric?(): {
    addDimension(name: string, value: string): void;
    addMetric(name: MetricName, unit: MetricUnitName, value: number): void;
  };
}

export interface Telemetry {
  readonly log: Log;
  readonly metrics: Metrics;
}
