import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimStats } from '../../../sim/index.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { api } from './http.ts';

let s: TestSimulator;

beforeAll(async () => {
  s = await startTestSimulator({
    conversations: 10,
    faults: { statusRates: { 500: 1 }, operations: ['get-conversations'] },
  });
});
afterAll(async () => {
  await s.stop();
});

async function control(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${s.url}/__sim${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
}

describe('/__sim control endpoints', () => {
  it('when the clock is read and advanced over HTTP, then the sim time moves', async () => {
    const before = (await (await control('GET', '/clock')).json()) as { now: string };

    const advanced = await control('POST', '/clock', { advanceMs: 3_600_000 });

    expect(advanced.status).toBe(200);
    expect(s.control.now().getTime() - Date.parse(before.now)).toBeGreaterThanOrEqual(3_600_000);
    expect((await control('POST', '/clock', { advanceMs: -1 })).status).toBe(400);
  });

  it('when faults are replaced and queued over HTTP, then requests see them and stats record them', async () => {
    const a = await api(s);
    expect((await a.get('/conversation/')).status).toBe(500);

    expect((await control('PUT', '/faults', {})).status).toBe(204);
    expect((await control('POST', '/faults/queue', [{ kind: 'status', status: 502 }])).status).toBe(204);
    const faulted = await a.get('/conversation/');
    const normal = await a.get('/conversation/');
    const stats = (await (await control('GET', '/stats')).json()) as SimStats;

    expect([faulted.status, normal.status]).toEqual([502, 200]);
    expect(stats.calls['get-conversations']).toEqual({ '500': 1, '502': 1, '200': 1 });
    expect(stats.tokensIssued).toBe(1);
  });

  it('when stats are reset over HTTP, then they are empty', async () => {
    const res = await control('POST', '/stats/reset');
    const stats = (await (await control('GET', '/stats')).json()) as SimStats;

    expect(res.status).toBe(204);
    expect(stats).toEqual({ calls: {}, requests: [], writes: [], violations: [], tokensIssued: 0 });
  });

  it('when a conversation is read over HTTP, then its scenario, messages and interactions are shown', async () => {
    const id = s.control.conversations()[0]?.id as string;

    const res = await control('GET', `/conversations/${id}`);
    const body = (await res.json()) as {
      scenario: string;
      conversation: { id: string };
      messages: unknown[];
    };

    expect(res.status).toBe(200);
    expect(body.scenario).toBe(s.control.scenario(id));
    expect(body.conversation.id).toBe(id);
    expect(body.messages).toHaveLength(s.control.messages(id).length);
    expect((await control('GET', '/conversations/nope')).status).toBe(404);
  });

  it('when control endpoints are called without auth under a 100% fault rate, then they are neither faulted nor limited', async () => {
    s.control.setFaults({ statusRates: { 500: 1 } });
    const results = await Promise.all(Array.from({ length: 30 }, () => control('GET', '/clock')));
    s.control.setFaults({});

    expect(results.every((r) => r.status === 200)).toBe(true);
  });
});
