import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalizeWavSize, parseRange, wavBytes, wavChunks, wavHeader, wavSha256 } from '../../../sim/wav.ts';

const source = { totalBytes: normalizeWavSize(200_001), seed: 42 };

describe('WAV generation', () => {
  it('when a header is built, then it is a valid 16-bit mono PCM RIFF header', () => {
    const header = wavHeader(1000);

    expect(header).toHaveLength(44);
    expect(header.toString('ascii', 0, 4)).toBe('RIFF');
    expect(header.readUInt32LE(4)).toBe(1036);
    expect(header.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(header.readUInt16LE(20)).toBe(1);
    expect(header.readUInt16LE(22)).toBe(1);
    expect(header.readUInt32LE(24)).toBe(16_000);
    expect(header.readUInt32LE(28)).toBe(32_000);
    expect(header.readUInt16LE(34)).toBe(16);
    expect(header.toString('ascii', 36, 40)).toBe('data');
    expect(header.readUInt32LE(40)).toBe(1000);
  });

  it('when a recording is generated, then its header states its own data size', () => {
    const bytes = wavBytes(source, 0, 44);

    expect(source.totalBytes % 2).toBe(0);
    expect(bytes.readUInt32LE(40)).toBe(source.totalBytes - 44);
    expect(bytes.readUInt32LE(4)).toBe(source.totalBytes - 8);
  });

  it('when any byte range is generated on its own, then it equals that slice of the whole recording', () => {
    const whole = Buffer.concat([...wavChunks(source)]);
    const ranges: Array<[number, number]> = [
      [0, 10],
      [7, 101],
      [43, 45],
      [44, 46],
      [1001, 70_003],
      [source.totalBytes - 3, source.totalBytes],
    ];

    expect(whole).toHaveLength(source.totalBytes);
    for (const [start, end] of ranges)
      expect(wavBytes(source, start, end).equals(whole.subarray(start, end))).toBe(true);
  });

  it('when the same recording is hashed twice, then the digests match the streamed bytes', async () => {
    const expected = createHash('sha256')
      .update(Buffer.concat([...wavChunks(source)]))
      .digest('hex');

    expect(await wavSha256(source)).toBe(expected);
    expect(await wavSha256({ ...source, seed: 43 })).not.toBe(expected);
  });

  it('when sizes are normalised, then there is always a header and an even data length', () => {
    expect(normalizeWavSize(0)).toBe(44);
    expect(normalizeWavSize(45)).toBe(44);
    expect(normalizeWavSize(47)).toBe(46);
    expect(normalizeWavSize(1000)).toBe(1000);
  });
});

describe('Range header', () => {
  it.each([
    [undefined, { kind: 'full' }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=0-0', { kind: 'partial', start: 0, end: 0 }],
    ['bytes=10-19', { kind: 'partial', start: 10, end: 19 }],
    ['bytes=990-5000', { kind: 'partial', start: 990, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=20-10', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['items=1-2', { kind: 'full' }],
  ])('when Range is %s on 1000 bytes, then the result is %o', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });
});
