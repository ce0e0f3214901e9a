import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { AmigoUnavailableError } from '../../shared/amigo/errors.ts';
import { runJobRecord } from '../../shared/runtime/job-worker.ts';
import { MAX_DELAY_SECONDS, putBackDelaySeconds } from '../../shared/stages/job-fate.ts';

const record = {
  messageId: 'm-1',
  body: JSON.stringify({ deferrals: 0 }),
  attributes: { ApproximateReceiveCount: '1' },
  messageAttributes: {},
} as unknown as SQSRecord;

function throttledBy(retryAfterMs: number | undefined) {
  return new AmigoUnavailableError(
    { operationId: 'get-interaction-insights', status: 429, attempts: 6 },
    undefined,
    retryAfterMs,
  );
}

describe('put-back delays', () => {
  it('when Amigo said Retry-After, then the job comes back no sooner and at most a fifth later', () => {
    for (const r of [0, 0.5, 0.999]) {
      const delay = putBackDelaySeconds(120_000, 3, () => r);
      expect(delay).toBeGreaterThanOrEqual(120);
      expect(delay).toBeLessThanOrEqual(145);
    }
    expect(putBackDelaySeconds(2_000, 0, () => 0)).toBe(2);
  });

  it('when Amigo asked for longer than SQS can delay, then the delay is 900 s', () => {
    expect(putBackDelaySeconds(3_600_000, 0, () => 0.5)).toBe(MAX_DELAY_SECONDS);
  });

  it('when Amigo did not say, then the backoff doubles from 30 s and stays in the upper half of each step, up to 900 s', () => {
    const bands = [0, 1, 2, 3, 4, 5, 9].map((d) => [
      putBackDelaySeconds(undefined, d, () => 0),
      putBackDelaySeconds(undefined, d, () => 0.999),
    ]);

    expect(bands).toEqual([
      [15, 30],
      [30, 60],
      [60, 120],
      [120, 240],
      [240, 480],
      [450, 900],
      [450, 900],
    ]);
  });

  it('when a job is throttled with Retry-After, then it is put back for that long and the caller is told why', async () => {
    const delays: number[] = [];
    const told: unknown[] = [];

    const fate = await runJobRecord(
      record,
      {
        schema: z.object({ deferrals: z.number() }),
        deadLetters: { send: async () => {} },
        requeue: async (_job, delay) => void delays.push(delay),
        maxReceiveCount: 3,
        random: () => 0,
        onPutBack: (p) => told.push(p),
      },
      async () => {
        throw throttledBy(45_000);
      },
    );

    expect(fate).toBe('deferred');
    expect(delays).toEqual([45]);
    expect(told).toEqual([
      { delaySeconds: 45, status: 429, operationId: 'get-interaction-insights', retryAfterSeconds: 45 },
    ]);
  });
});
