import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { type Api, api } from './http.ts';

const running: TestSimulator[] = [];
async function sim(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSimulator> {
  const s = await startTestSimulator({ conversations: 12, rateLimits: { enabled: false }, ...options });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function voiceMessages(s: TestSimulator): Array<{ conversationId: string; messageId: string }> {
  return s.control.conversations().flatMap((c) =>
    s.control
      .messages(c.id)
      .filter((m) => m.format === 'voice')
      .map((m) => ({ conversationId: c.id, messageId: m.id })),
  );
}

async function signedUrl(
  a: Api,
  v: { conversationId: string; messageId: string },
  longLived = false,
): Promise<string> {
  const res = await a.get(
    `/conversation/${v.conversationId}/messages/${v.messageId}/source`,
    longLived ? { long_lived: true } : {},
  );
  expect(res.status).toBe(200);
  const body = (await res.json()) as string | { url: string };
  return typeof body === 'string' ? body : body.url;
}

async function download(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { res, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

describe('voice recordings', () => {
  it('when a signed URL is downloaded, then the bytes are a WAV whose size and sha256 match the ground truth', async () => {
    const s = await sim();
    const a = await api(s);
    const [voice] = voiceMessages(s);
    const truth = s.control.audio(voice?.messageId ?? '');

    const { res, bytes, sha256 } = await download(await signedUrl(a, voice as never));

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(Number(res.headers.get('content-length'))).toBe(truth?.bytes);
    expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
    expect(bytes.length).toBe(truth?.bytes);
    expect(sha256).toBe(await truth?.sha256());
  });

  it('when sources are requested for many messages, then URLs come both as plain strings and as {url} objects', async () => {
    const s = await sim();
    const a = await api(s);
    const shapes = new Set<string>();

    for (const v of voiceMessages(s).slice(0, 16)) {
      const res = await a.get(`/conversation/${v.conversationId}/messages/${v.messageId}/source`);
      shapes.add(typeof (await res.json()));
    }

    expect([...shapes].sort()).toEqual(['object', 'string']);
  });

  it('when a download is resumed with Range: bytes=N-, then 206 and the rest of the bytes complete the file', async () => {
    const s = await sim();
    const a = await api(s);
    const [voice] = voiceMessages(s);
    const url = await signedUrl(a, voice as never);
    const whole = await download(url);
    const cut = 12_345;

    const rest = await download(url, { range: `bytes=${cut}-` });

    expect(rest.res.status).toBe(206);
    expect(rest.res.headers.get('content-range')).toBe(
      `bytes ${cut}-${whole.bytes.length - 1}/${whole.bytes.length}`,
    );
    expect(Buffer.concat([whole.bytes.subarray(0, cut), rest.bytes]).equals(whole.bytes)).toBe(true);
  });

  it('when the Range starts past the end, then the answer is 416', async () => {
    const s = await sim();
    const a = await api(s);
    const [voice] = voiceMessages(s);
    const url = await signedUrl(a, voice as never);

    const res = await fetch(url, { headers: { range: 'bytes=999999999-' } });

    expect(res.status).toBe(416);
    await res.arrayBuffer();
  });

  it('when a URL outlives its expiry on the sim clock, then the download is 403; a long-lived URL still works', async () => {
    const s = await sim({ signedUrlTtlMs: 60_000 });
    const a = await api(s);
    const [voice] = voiceMessages(s);
    const short = await signedUrl(a, voice as never);
    const long = await signedUrl(a, voice as never, true);

    s.control.advanceClock(120_000);
    const expired = await fetch(short);
    const stillValid = await fetch(long);

    expect(expired.status).toBe(403);
    expect(stillValid.status).toBe(200);
    await Promise.all([expired.arrayBuffer(), stillValid.arrayBuffer()]);
  });

  it('when the signature is tampered with, then the download is 403', async () => {
    const s = await sim();
    const a = await api(s);
    const [voice] = voiceMessages(s);
    const url = new URL(await signedUrl(a, voice as never));
    url.searchParams.set('signature', '0'.repeat(64));

    const res = await fetch(url);

    expect(res.status).toBe(403);
    await res.arrayBuffer();
  });

  it('when a large recording is configured, then it streams completely with the right size and hash', async () => {
    const s = await sim({ audio: { largeRecordings: 1, largeRecordingBytes: 8 * 1024 * 1024 } });
    const a = await api(s);
    const large = voiceMessages(s).find((v) => s.control.audio(v.messageId)?.bytes === 8 * 1024 * 1024);
    const url = await signedUrl(a, large as never);

    const res = await fetch(url);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }

    expect(bytes).toBe(8 * 1024 * 1024);
    expect(hash.digest('hex')).toBe(await s.control.audio(large?.messageId ?? '')?.sha256());
  });
});
