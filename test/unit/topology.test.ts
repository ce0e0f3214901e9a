import { describe, expect, it } from 'vitest';
import { resolveRateLimits } from '../../shared/amigo/rate-limit.ts';
import {
  consumerOf,
  FUNCTIONS,
  MAX_EVENT_SOURCE_CONCURRENCY,
  MIN_EVENT_SOURCE_CONCURRENCY,
  maxConcurrency,
  QUEUE_IDS,
  queueSettings,
  TABLES_WRITER,
} from '../../shared/contract/topology.ts';

const published = { rateLimits: resolveRateLimits(), insightsConcurrency: 4 };

describe('topology', () => {
  it("when Amigo's published limits apply, then the functions run at Lambda's floor of two, the tag worker (50/min) at three", () => {
    expect(maxConcurrency('scheduler', published)).toBe(MIN_EVENT_SOURCE_CONCURRENCY);
    expect(maxConcurrency('archiveWorker', published)).toBe(MIN_EVENT_SOURCE_CONCURRENCY);
    expect(maxConcurrency('stallWorker', published)).toBe(MIN_EVENT_SOURCE_CONCURRENCY);
    // 50/60 calls/s x 2 s = 1.7 -> 2 busy invocations, plus one.
    expect(maxConcurrency('tagWorker', published)).toBe(3);
  });

  it('when a raised limit is configured, then the concurrency of the function it bounds grows with it, and only that one', () => {
    const raised = { ...published, rateLimits: resolveRateLimits({ 'get-interaction-insights': '600/min' }) };

    // 10 calls/s x 2 s per call / 4 in flight = 5 busy invocations, plus one.
    expect(maxConcurrency('archiveWorker', raised)).toBe(6);
    expect(maxConcurrency('tagWorker', raised)).toBe(maxConcurrency('tagWorker', published));
  });

  it('when fewer insight calls are in flight per invocation, then more invocations are allowed', () => {
    const raised = {
      insightsConcurrency: 1,
      rateLimits: resolveRateLimits({ 'get-interaction-insights': '600/min' }),
    };

    expect(maxConcurrency('archiveWorker', raised)).toBe(21);
  });

  it('when a limit is huge, then concurrency stops at the ceiling', () => {
    const huge = { ...published, rateLimits: resolveRateLimits({ 'modify-tags-of-conversation': '1000/s' }) };

    expect(maxConcurrency('tagWorker', huge)).toBe(MAX_EVENT_SOURCE_CONCURRENCY);
  });

  it('when a queue is described, then its visibility is six times its consumer timeout and its retention the maximum', () => {
    for (const queue of QUEUE_IDS) {
      const settings = queueSettings(queue, 5);
      expect(settings.visibilityTimeoutSeconds).toBe(6 * consumerOf(queue).timeoutSeconds);
      expect(settings.retentionSeconds).toBe(14 * 86_400);
      expect(settings.deadLetterRetentionSeconds).toBe(14 * 86_400);
      expect(settings.maxReceiveCount).toBe(5);
    }
    // AWS refuses visibility over 12 hours.
    expect(
      Math.max(...QUEUE_IDS.map((q) => queueSettings(q, 5).visibilityTimeoutSeconds)),
    ).toBeLessThanOrEqual(43_200);
  });

  it('when a function is declared, then its timeout is within Lambda limits and its entry is its own folder', () => {
    for (const spec of Object.values(FUNCTIONS)) {
      expect(spec.timeoutSeconds).toBeLessThanOrEqual(900);
      expect(spec.entry).toBe(`functions/${spec.name}/handler.ts`);
      expect(spec.batchSize).toBeGreaterThanOrEqual(1);
      expect(spec.batchSize).toBeLessThanOrEqual(10);
    }
  });

  it('when the tables writer is declared, then its entry is its own folder, it runs within Lambda limits, and each look-back overlaps the next round', () => {
    expect(TABLES_WRITER.entry).toBe(`functions/${TABLES_WRITER.name}/handler.ts`);
    expect(TABLES_WRITER.timeoutSeconds).toBeLessThanOrEqual(900);
    // A run is rewritten by several rounds, so the jobs it finishes hours later still land.
    expect(TABLES_WRITER.lookbackHours).toBeGreaterThanOrEqual(4 * TABLES_WRITER.everyHours);
    expect(Object.values(FUNCTIONS).map((f) => f.name)).not.toContain(TABLES_WRITER.name);
  });
});
