import { afterEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { api, signIn, signInRequest } from './http.ts';

const running: TestSimulator[] = [];
async function sim(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSimulator> {
  const s = await startTestSimulator({ conversations: 8, ...options });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

describe('sign-in', () => {
  it('when the API key, key id and user match, then a token and its sim-time expiry are returned', async () => {
    const s = await sim({ now: '2025-01-01T00:00:00Z', tokenTtlMs: 600_000 });

    const res = await signInRequest(s);
    const body = (await res.json()) as { id_token: string; expires_at: string };

    expect(res.status).toBe(200);
    expect(body.id_token.split('.')).toHaveLength(3);
    // Issued at the sim's now, which started at 00:00 and has moved on only as far as it reads now.
    expect(Date.parse(body.expires_at)).toBeGreaterThanOrEqual(Date.parse('2025-01-01T00:10:00Z'));
    expect(Date.parse(body.expires_at)).toBeLessThanOrEqual(s.control.now().getTime() + 600_000);
    expect(s.control.stats().tokensIssued).toBe(1);
  });

  it.each([
    ['the key', { apiKey: 'wrong-key-000000' }],
    ['the key id', { apiKeyId: 'wrong-id' }],
    ['the user', { userId: 'someone-else' }],
  ])('when %s is wrong, then sign-in answers 401', async (_name, credential) => {
    const s = await sim();

    const res = await signInRequest(s, credential);

    expect(res.status).toBe(401);
    expect(s.control.stats().tokensIssued).toBe(0);
  });

  it('when the organization is unknown, then sign-in answers 404', async () => {
    const s = await sim();

    const res = await signInRequest(s, {}, 'other-org');

    expect(res.status).toBe(404);
  });

  it('when a sign-in header is missing, then the answer is 422 naming the header', async () => {
    const s = await sim();

    const res = await fetch(`${s.url}/v1/${s.organizationId}/user/signin_with_api_key`, {
      method: 'POST',
      headers: { 'x-api-key': s.credentials.apiKey },
    });
    const body = (await res.json()) as { detail: Array<{ loc: string[] }> };

    expect(res.status).toBe(422);
    expect(body.detail.map((d) => d.loc)).toEqual([
      ['header', 'x-api-key-id'],
      ['header', 'x-user-id'],
    ]);
  });

  it('when several credentials are configured, then each signs in as its own user', async () => {
    const second = { apiKey: 'second-key-secret', apiKeyId: 'key-2', userId: 'user-2' };
    const s = await sim({
      credentials: [{ apiKey: 'first-key-secret', apiKeyId: 'key-1', userId: 'user-1' }, second],
    });

    await signIn(s, second);

    expect(s.credentials.userId).toBe('user-1');
    expect(s.control.stats().requests.at(-1)).toMatchObject({ status: 200, userId: 'user-2' });
  });
});

describe('authenticated calls', () => {
  it('when a bearer token is sent, then the call succeeds', async () => {
    const s = await sim();
    const a = await api(s);

    const res = await a.get('/conversation/');

    expect(res.status).toBe(200);
  });

  it('when Basic credentials {org}_{user}:{token} are sent, then the call succeeds', async () => {
    const s = await sim();
    const token = await signIn(s);
    const basic = Buffer.from(`${s.organizationId}_${s.credentials.userId}:${token}`).toString('base64');

    const res = await fetch(`${s.url}/v1/${s.organizationId}/conversation/`, {
      headers: { authorization: `Basic ${basic}` },
    });

    expect(res.status).toBe(200);
  });

  it('when Basic credentials name another user, then the answer is 401', async () => {
    const s = await sim();
    const token = await signIn(s);
    const basic = Buffer.from(`${s.organizationId}_intruder:${token}`).toString('base64');

    const res = await fetch(`${s.url}/v1/${s.organizationId}/conversation/`, {
      headers: { authorization: `Basic ${basic}` },
    });

    expect(res.status).toBe(401);
  });

  it.each([
    ['no Authorization header', undefined],
    ['a forged token', 'Bearer aaa.bbb.ccc'],
    ['an unknown scheme', 'Token abc'],
  ])('when the request has %s, then the answer is 401', async (_name, header) => {
    const s = await sim();

    const res = await fetch(`${s.url}/v1/${s.organizationId}/conversation/`, {
      headers: header ? { authorization: header } : {},
    });

    expect(res.status).toBe(401);
    expect(res.headers.get('x-ratelimit-limit')).toBe('15');
  });

  it('when the sim clock passes the token expiry, then the token is rejected with 401', async () => {
    const s = await sim({ tokenTtlMs: 60_000 });
    const a = await api(s);
    expect((await a.get('/conversation/')).status).toBe(200);

    s.control.advanceClock(60_001);
    const res = await a.get('/conversation/');

    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/expired/);
  });

  it('when a token is used for another organization path, then the answer is 404', async () => {
    const s = await sim();
    const token = await signIn(s);

    const res = await fetch(`${s.url}/v1/other-org/conversation/`, {
      headers: { authorization: `Bearer ${token}` },
    });

    expect(res.status).toBe(404);
  });
});
