// The job fate policy, decided without queues: every boundary of the receive count, the deferral
// and continuation budgets, and the order in which the rules apply.
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { AmigoUnavailableError } from '../../../shared/amigo/errors.ts';
import { ContinueLaterError, PermanentError, RetryableError } from '../../../shared/errors.ts';
import { type FatePolicy, fateOf, parseJobBody } from '../../../shared/stages/job-fate.ts';

const policy: FatePolicy = { maxReceiveCount: 5, maxDeferrals: 3, maxContinuations: 2, random: () => 0 };

function aJob(overrides: { deferrals?: number; continuations?: number } = {}) {
  return { id: 'c-1', deferrals: 0, continuations: 0, ...overrides };
}

function throttled(status = 429, retryAfterMs: number | undefined = 30_000) {
  return new AmigoUnavailableError(
    { operationId: 'get-interaction-insights', status, attempts: 6 },
    undefined,
    retryAfterMs,
  );
}

class Stopped extends ContinueLaterError {
  readonly progressed: boolean;
  constructor(progressed: boolean) {
    super('time ran out after 40 of 300 interactions');
    this.progressed = progressed;
  }
}

describe('fateOf', () => {
  it('when an ordinary failure happens before the last allowed receive, then the job is retried', () => {
    const fate = fateOf(new Error('socket hang up'), aJob(), 4, policy);

    expect(fate).toMatchObject({ kind: 'retry', reason: { code: 'Error' }, receives: 4 });
  });

  it('when an ordinary failure happens on the last allowed receive, then the job is dead-lettered', () => {
    const fate = fateOf(new RetryableError('still failing'), aJob(), 5, policy);

    expect(fate).toEqual({
      kind: 'dead-letter',
      reason: { code: 'RetryableError', message: 'still failing' },
    });
  });

  it('when the receive count is past the limit (a redrive raced), then the job is dead-lettered', () => {
    expect(fateOf(new Error('x'), aJob(), 9, policy).kind).toBe('dead-letter');
  });

  it('when the error is permanent, then the job is dead-lettered on its first receive', () => {
    const fate = fateOf(new PermanentError('conversation not found'), aJob(), 1, policy);

    expect(fate).toEqual({
      kind: 'dead-letter',
      reason: { code: 'PermanentError', message: 'conversation not found' },
    });
  });

  it.each([429, 503])(
    'when Amigo answered %i, then the job is put back with one more deferral, even on its last receive',
    (status) => {
      const fate = fateOf(throttled(status), aJob({ deferrals: 1 }), 5, policy);

      expect(fate).toEqual({
        kind: 'put-back',
        job: aJob({ deferrals: 2 }),
        putBack: { delaySeconds: 30, status, operationId: 'get-interaction-insights', retryAfterSeconds: 30 },
      });
    },
  );

  it('when Amigo failed with another status, then it is an ordinary failure', () => {
    expect(fateOf(throttled(500, undefined), aJob(), 1, policy).kind).toBe('retry');
  });

  it('when the job was put back as often as allowed, then the next throttle counts as a failure', () => {
    expect(fateOf(throttled(), aJob({ deferrals: 3 }), 1, policy).kind).toBe('retry');
    expect(fateOf(throttled(), aJob({ deferrals: 3 }), 5, policy).kind).toBe('dead-letter');
  });

  it('when a test range is configured, then the put-back delay is drawn from it', () => {
    const fate = fateOf(throttled(), aJob(), 1, { ...policy, deferralSeconds: [1, 2], random: () => 0.99 });

    expect(fate).toMatchObject({ kind: 'put-back', putBack: { delaySeconds: 2 } });
  });

  it('when the work ran out of time after progress, then the job continues with one more continuation, even on its last receive', () => {
    const fate = fateOf(new Stopped(true), aJob({ continuations: 1 }), 5, policy);

    expect(fate).toEqual({
      kind: 'continue',
      job: aJob({ continuations: 2 }),
      reason: 'time ran out after 40 of 300 interactions',
    });
  });

  it('when the work ran out of time without progress, then it is an ordinary failure', () => {
    expect(fateOf(new Stopped(false), aJob(), 1, policy).kind).toBe('retry');
    expect(fateOf(new Stopped(false), aJob(), 5, policy).kind).toBe('dead-letter');
  });

  it('when the job continued as often as allowed, then running out of time counts as a failure', () => {
    expect(fateOf(new Stopped(true), aJob({ continuations: 2 }), 1, policy).kind).toBe('retry');
  });

  it('when no limits are given, then 48 deferrals and 50 continuations are allowed', () => {
    const defaults: FatePolicy = { maxReceiveCount: 5, random: () => 0 };

    expect(fateOf(throttled(), aJob({ deferrals: 47 }), 1, defaults).kind).toBe('put-back');
    expect(fateOf(throttled(), aJob({ deferrals: 48 }), 1, defaults).kind).toBe('retry');
    expect(fateOf(new Stopped(true), aJob({ continuations: 49 }), 1, defaults).kind).toBe('continue');
    expect(fateOf(new Stopped(true), aJob({ continuations: 50 }), 1, defaults).kind).toBe('retry');
  });

  it('when a foreign error message carries a token, then the reason is redacted', () => {
    const fate = fateOf(new Error('failed with Authorization: Bearer abc.def.ghi'), aJob(), 5, policy);

    expect(fate.kind).toBe('dead-letter');
    expect(JSON.stringify(fate)).not.toContain('abc.def.ghi');
  });
});

describe('parseJobBody', () => {
  const schema = z.object({ conversationId: z.string().length(24), deferrals: z.number() });

  it('when the body is not JSON, then the reason says so', () => {
    expect(parseJobBody('{not json', schema)).toEqual({
      ok: false,
      reason: { code: 'InvalidJob', message: 'The message body is not JSON' },
    });
  });

  it('when a field is wrong, then the reason names the field', () => {
    const parsed = parseJobBody(JSON.stringify({ conversationId: 'short', deferrals: 0 }), schema);

    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason.message).toMatch(/^Field conversationId: /);
  });

  it('when the body is a job, then it is returned parsed', () => {
    const body = { conversationId: '6650f0c1a2b3c4d5e6f70812', deferrals: 2 };

    expect(parseJobBody(JSON.stringify(body), schema)).toEqual({ ok: true, job: body });
  });
});
