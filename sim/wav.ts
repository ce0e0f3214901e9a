// Deterministic WAV recordings produced as streams: any byte range can be generated without the bytes
// before it, so a 300 MiB recording streams with constant memory and a Range request resumes cheaply.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { mix32 } from './prng.ts';

export const WAV_CONTENT_TYPE = 'audio/wav';
export const SAMPLE_RATE = 16_000;
const HEADER_BYTES = 44;
const CHUNK_BYTES = 64 * 1024;

export interface WavSource {
  /** Total file size in bytes: 44-byte header plus 16-bit mono PCM. */
  totalBytes: number;
  /** 32-bit seed of the samples. */
  seed: number;
}

/** A size that a 16-bit PCM WAV can have: at least the header, and an even number of data bytes. */
export function normalizeWavSize(bytes: number): number {
  return HEADER_BYTES + Math.max(0, Math.floor((bytes - HEADER_BYTES) / 2) * 2);
}

export function wavHeader(
  dataBytes: number,
  sampleRate = SAMPLE_RATE,
  channels = 1,
  bitsPerSample = 16,
): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  const blockAlign = (channels * bitsPerSample) / 8;
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(bitsPerSample, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/** Sample n: a triangle tone whose loudness changes every ~0.25 s, plus a little noise. Integer maths only. */
function sample(n: number, seed: number, period: number): number {
  const amplitude = 1500 + (mix32((n >>> 12) ^ seed) & 7) * 1100;
  const phase = n % period;
  const half = period / 2;
  const tri =
    phase < half
      ? (phase * 2 * amplitude) / half - amplitude
      : amplitude - ((phase - half) * 2 * amplitude) / half;
  const noise = (mix32(n ^ (seed << 1)) & 0x3ff) - 512;
  return Math.max(-32768, Math.min(32767, Math.round(tri + noise)));
}

/** Bytes [start, end) of the recording. */
export function wavBytes(source: WavSource, start: number, end: number): Buffer {
  const total = source.totalBytes;
  const from = Math.max(0, start);
  const to = Math.min(total, end);
  if (to <= from) return Buffer.alloc(0);
  const out = Buffer.alloc(to - from);
  let written = 0;
  if (from < HEADER_BYTES) {
    const header = wavHeader(total - HEADER_BYTES);
    written = header.copy(out, 0, from, Math.min(HEADER_BYTES, to));
  }
  const dataFrom = Math.max(from, HEADER_BYTES) - HEADER_BYTES;
  const dataTo = to - HEADER_BYTES;
  if (dataTo > dataFrom) {
    const firstSample = Math.floor(dataFrom / 2);
    const lastSample = Math.ceil(dataTo / 2);
    const pcm = Buffer.alloc((lastSample - firstSample) * 2);
    const period = 20 + (source.seed % 60);
    for (let n = firstSample; n < lastSample; n++)
      pcm.writeInt16LE(sample(n, source.seed, period), (n - firstSample) * 2);
    const offset = dataFrom - firstSample * 2;
    pcm.copy(out, written, offset, offset + (dataTo - dataFrom));
  }
  return out;
}

/** Chunks covering bytes [start, end). */
export function* wavChunks(source: WavSource, start = 0, end = source.totalBytes): Generator<Buffer> {
  for (let at = start; at < end; at += CHUNK_BYTES)
    yield wavBytes(source, at, Math.min(end, at + CHUNK_BYTES));
}

export function wavStream(source: WavSource, start = 0, end = source.totalBytes): Readable {
  return Readable.from(wavChunks(source, start, end), { objectMode: false });
}

export async function wavSha256(source: WavSource): Promise<string> {
  const hash = createHash('sha256');
  let count = 0;
  for (const chunk of wavChunks(source)) {
    hash.update(chunk);
    // Yield to the event loop now and then so hashing a large recording does not starve the server.
    if (++count % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return hash.digest('hex');
}

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/**
 * Interprets a `Range` header against a resource of `total` bytes. Supports one range in the forms
 * `bytes=N-`, `bytes=N-M` and `bytes=-S`; `end` is inclusive as in Content-Range. Anything else
 * that is not a byte range is ignored (full response), as HTTP allows.
 */
export function parseRange(header: string | undefined, total: number): RangeResult {
  if (!header) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || total === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, total - suffix), end: total - 1 };
  }
  const start = Number(first);
  const end = last === '' ? total - 1 : Math.min(Number(last), total - 1);
  if (start >= total || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

export function contentRange(start: number, end: number, total: number): string {
  return `bytes ${start}-${end}/${total}`;
}
