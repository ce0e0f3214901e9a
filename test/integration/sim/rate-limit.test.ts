import { afterEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { api, signInRequest } from './http.ts';

const running: TestSimulator[] = [];
async function sim(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSimulator> {
  const s = await startTestSimulator({ conversations: 5, ...options });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

describe('rate limits', () => {
  it('when the scaled limit is used up, then the next call is 429 with Retry-After and rate headers', async () => {
    const s = await sim({ rateLimits: { scale: 60 } });
    const a = await api(s);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 15; i++) {
      last = await a.get('/conversation/', { limit: 1 });
      statuses.push(last.status);
    }

    const rejected = await a.get('/conversation/', { limit: 1 });

    expect(statuses.every((st) => st === 200)).toBe(true);
    expect(last?.headers.get('x-ratelimit-limit')).toBe('15');
    expect(last?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get('retry-after')).toBe('1');
    expect(rejected.headers.get('x-ratelimit-remaining')).toBe('0');
    const reset = Number(rejected.headers.get('x-ratelimit-reset'));
    expect(Number.isInteger(reset)).toBe(true);
    expect(reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 2);
  });

  it('when calls are rejected, then they do not consume the window and it frees as the clock moves', async () => {
    const s = await sim({
      rateLimits: { overrides: { 'get-conversations': { limit: 2, windowMs: 10_000 } } },
    });
    const a = await api(s);
    await a.get('/conversation/');
    await a.get('/conversation/');
    for (let i = 0; i < 3; i++) expect((await a.get('/conversation/')).status).toBe(429);

    s.control.advanceClock(10_000);
    const after = await a.get('/conversation/');

    expect(after.status).toBe(200);
    expect(after.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(s.control.stats().calls['get-conversations']).toEqual({ '200': 3, '429': 3 });
  });

  it('when one user is throttled, then another user and another operation are not', async () => {
    const other = { apiKey: 'other-key-secret', apiKeyId: 'other-id', userId: 'other-user' };
    const s = await sim({
      credentials: [{ apiKey: 'first-key-secret', apiKeyId: 'first-id', userId: 'first-user' }, other],
      rateLimits: { overrides: { 'get-conversations': { limit: 1, windowMs: 60_000 } } },
    });
    const first = await api(s);
    const second = await api(s, undefined);
    const otherUser = await api(s, await signInAs(s, other));
    await first.get('/conversation/');

    const [sameUser, otherOp, otherUserRes] = await Promise.all([
      second.get('/conversation/'),
      first.get(`/conversation/${s.control.conversations()[0]?.id}/messages/`),
      otherUser.get('/conversation/'),
    ]);

    expect([sameUser.status, otherOp.status, otherUserRes.status]).toEqual([429, 200, 200]);
  });

  it('when sign-in is called a sixth time in a minute for one user, then it is throttled', async () => {
    const s = await sim();
    const statuses: number[] = [];

    for (let i = 0; i < 6; i++) statuses.push((await signInRequest(s)).status);

    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('when rate limiting is disabled, then nothing is throttled and no rate headers are sent', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await signInRequest(s)).status);

    const res = await signInRequest(s);

    expect(statuses.every((st) => st === 200)).toBe(true);
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
  });
});

async function signInAs(
  s: TestSimulator,
  credential: { apiKey: string; apiKeyId: string; userId: string },
): Promise<string> {
  const res = await signInRequest(s, credential);
  return ((await res.json()) as { id_token: string }).id_token;
}
