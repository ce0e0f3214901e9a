import { afterEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { type Api, api } from './http.ts';

const running: TestSimulator[] = [];
async function sim(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSimulator> {
  const s = await startTestSimulator({ conversations: 12, ...options });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function voiceUrl(s: TestSimulator, a: Api): Promise<{ url: string; bytes: number }> {
  for (const c of s.control.conversations()) {
    const m = s.control.messages(c.id).find((x) => x.format === 'voice');
    if (!m) continue;
    const res = await a.get(`/conversation/${c.id}/messages/${m.id}/source`);
    const body = (await res.json()) as string | { url: string };
    return { url: typeof body === 'string' ? body : body.url, bytes: s.control.audio(m.id)?.bytes ?? 0 };
  }
  throw new Error('no voice message');
}

describe('scripted faults', () => {
  it('when a status fault is queued, then the next matching call gets it with Retry-After, and the one after is normal', async () => {
    const s = await sim();
    const a = await api(s);
    s.control.enqueueFaults([
      { operation: 'get-conversations', kind: 'status', status: 503, retryAfterSeconds: 7 },
    ]);

    const other = await a.get(`/conversation/${s.control.conversations()[0]?.id}/messages/`);
    const faulted = await a.get('/conversation/');
    const next = await a.get('/conversation/');

    expect(other.status).toBe(200);
    expect(faulted.status).toBe(503);
    expect(faulted.headers.get('retry-after')).toBe('7');
    expect(next.status).toBe(200);
    expect(s.control.stats().requests.filter((r) => r.fault)).toEqual([
      expect.objectContaining({ operationId: 'get-conversations', status: 503, fault: 'status:503' }),
    ]);
  });

  it('when a faulted call happens, then it does not consume the rate-limit window', async () => {
    const s = await sim({
      rateLimits: { overrides: { 'get-conversations': { limit: 1, windowMs: 60_000 } } },
    });
    const a = await api(s);
    s.control.enqueueFaults([{ kind: 'status', status: 500 }, { kind: 'truncate' }]);

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await a.get('/conversation/')).status);

    expect(statuses).toEqual([500, 200, 200]);
    expect((await a.get('/conversation/')).status).toBe(429);
  });

  it('when a truncate fault is queued, then the 200 body is cut JSON', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const a = await api(s);
    s.control.enqueueFaults([{ operation: 'get-conversations', kind: 'truncate' }]);

    const res = await a.get('/conversation/');
    const text = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(text.startsWith('{"conversations":[')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
  });

  it('when a malformed fault is queued, then the 200 body is an HTML page', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const a = await api(s);
    s.control.enqueueFaults([{ kind: 'malformed' }]);

    const res = await a.get('/conversation/');

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('<html>');
  });

  it('when a reset fault is queued, then the connection is dropped without a response', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const a = await api(s);
    s.control.enqueueFaults([{ operation: 'get-conversations', kind: 'reset' }]);

    await expect(a.get('/conversation/')).rejects.toThrow();
    expect(s.control.stats().calls['get-conversations']).toEqual({ '0': 1 });
  });

  it('when a delay fault is queued, then the call answers normally after the delay', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const a = await api(s);
    s.control.enqueueFaults([{ kind: 'delay', ms: 300 }]);
    const started = performance.now();

    const res = await a.get('/conversation/');

    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(s.control.stats().requests.at(-1)).toMatchObject({ status: 200, fault: 'delay' });
  });

  it('when an audio-fail fault is queued, then the download dies after that many bytes', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const a = await api(s);
    const { url, bytes } = await voiceUrl(s, a);
    s.control.enqueueFaults([{ operation: 'audio', kind: 'audio-fail', afterBytes: 10_000 }]);
    let received = 0;

    const res = await fetch(url);
    const read = (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        received += chunk.byteLength;
    })();

    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBe(bytes);
    await expect(read).rejects.toThrow();
    expect(received).toBe(10_000);
    expect(s.control.stats().requests.at(-1)).toMatchObject({ operationId: 'audio', fault: 'audio-fail' });
  });
});

describe('rate-based faults', () => {
  it('when statusRates give 500 a probability of 1 for one operation, then only that operation fails', async () => {
    const s = await sim({
      rateLimits: { enabled: false },
      faults: { operations: ['get-conversations'], statusRates: { 500: 1 } },
    });
    const a = await api(s);

    const list = await a.get('/conversation/');
    const messages = await a.get(`/conversation/${s.control.conversations()[0]?.id}/messages/`);

    expect([list.status, messages.status]).toEqual([500, 200]);
  });

  it('when a maintenance window covers the sim time, then calls get 503 with Retry-After until it ends', async () => {
    const s = await sim({ rateLimits: { enabled: false } });
    const now = s.control.now().getTime();
    s.control.setFaults({ maintenance: [{ from: new Date(now - 1_000), to: new Date(now + 30_000) }] });

    const during = await fetch(`${s.url}/v1/${s.organizationId}/conversation/`);
    s.control.advanceClock(31_000);
    const a = await api(s);
    const after = await a.get('/conversation/');

    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
    expect(after.status).toBe(200);
  });

  it('when fault rates are set, then the same seed faults the same requests', async () => {
    const pattern = async () => {
      const s = await sim({
        rateLimits: { enabled: false },
        seed: 3,
        faults: { statusRates: { 502: 0.3 }, malformedRate: 0.2 },
      });
      const out: number[] = [];
      for (let i = 0; i < 20; i++)
        out.push((await fetch(`${s.url}/v1/${s.organizationId}/conversation/`)).status);
      return out;
    };

    const first = await pattern();
    const second = await pattern();

    expect(first).toEqual(second);
    expect(first).toContain(502);
    expect(first).toContain(401);
  });
});
