// A RateBudget decorator that counts, per Amigo operation, the calls Amigo answered and the 429s
// among them, and publishes both as CloudWatch metrics (Powertools EMF, dimension `operation`)
// once per invocation: the dashboard's "Amigo calls and 429s per operation".
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC, metrics } from '../observability.ts';
import type { OperationId } from '../openapi/index.ts';
import type { RateBudget, RateFeedback } from '../ports/rate-budget.ts';

export class MeteredRateBudget implements RateBudget {
  readonly #inner: RateBudget;
  readonly #calls = new Map<OperationId, { answered: number; throttled: number }>();

  constructor(inner: RateBudget) {
    this.#inner = inner;
  }

  acquire(operationId: OperationId, signal?: AbortSignal): Promise<number> {
    return this.#inner.acquire(operationId, signal);
  }

  observe(operationId: OperationId, feedback: RateFeedback): void {
    if (!feedback.lost) {
      const counts = this.#calls.get(operationId) ?? { answered: 0, throttled: 0 };
      counts.answered++;
      if (feedback.status === 429) counts.throttled++;
      this.#calls.set(operationId, counts);
    }
    this.#inner.observe(operationId, feedback);
  }

  /** What was counted since the last publish, by operation. */
  counts(): ReadonlyMap<OperationId, { answered: number; throttled: number }> {
    return new Map(this.#calls);
  }

  /** Publishes and resets the counts: two metrics per operation called, each with its `operation`. */
  publish(): void {
    for (const [operation, { answered, throttled }] of this.#calls) {
      for (const [name, value] of [
        [METRIC.amigoCalls, answered],
        [METRIC.amigoThrottled, throttled],
      ] as const) {
        // A single-metric instance publishes on addMetric and then forgets its dimensions: one each.
        const single = metrics.singleMetric();
        single.addDimension('operation', operation);
        single.addMetric(name, MetricUnit.Count, value);
      }
    }
    this.#calls.clear();
  }
}
