// A storage server that stalls part-way through a recording: the simulator's faults break streams
// but never stall them, so this test serves the bytes itself (real HTTP on 127.0.0.1).
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadSignedUrl } from '../../../shared/amigo/audio.ts';
import { systemClock } from '../../../shared/ports/clock.ts';

const body = Buffer.alloc(64 * 1024, 7);
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function stallingServer(stallAfter: number) {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const part = body.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      'content-type': 'audio/wav',
      'content-length': String(part.byteLength),
      ...(start > 0 ? { 'content-range': `bytes ${start}-${body.byteLength - 1}/${body.byteLength}` } : {}),
    });
    if (requests === 1)
      res.write(part.subarray(0, stallAfter)); // then nothing, ever
    else res.end(part);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  closers.push(
    () => server.close(),
    () => server.closeAllConnections(),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.wav`,
    requests: () => requests,
  };
}

describe('recording download', () => {
  it('when the storage stops sending part-way, then the idle attempt is abandoned and the download resumes byte-exact', async () => {
    const server = await stallingServer(10_000);

    const download = await downloadSignedUrl({
      fetch,
      freshUrl: async () => server.url,
      maxResumes: 2,
      timeoutMs: 300,
      backoff: () => 0,
      clock: systemClock,
      conversationId: 'c',
      signal: undefined,
      logger: undefined,
    });
    const hash = createHash('sha256');
    for await (const chunk of download.stream) hash.update(chunk as Buffer);

    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(server.requests()).toBe(2);
  });
});
