import { describe, expect, it } from 'vitest';
import { extractSignedUrl } from '../../../shared/amigo/audio.ts';

const url = 'https://storage.example/rec.wav?expires=1&signature=abc';

describe('extractSignedUrl', () => {
  it.each([
    ['a plain URL string', url],
    ['an object with url', { url }],
    ['an object with signed_url', { signed_url: url, expires_in: 60 }],
    ['a nested object', { source: { href: url } }],
    ['an object with an unknown key', { location: url }],
  ])('when the source answer is %s, then the URL is found', (_name, body) => {
    expect(extractSignedUrl(body)).toBe(url);
  });

  it.each([
    ['a non-URL string', 'not a url'],
    ['a file URL', 'file:///etc/passwd'],
    ['null', null],
    ['an object without a URL', { expires_in: 60 }],
  ])('when the source answer is %s, then nothing is found', (_name, body) => {
    expect(extractSignedUrl(body)).toBeUndefined();
  });
});
