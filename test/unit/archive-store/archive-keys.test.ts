import { describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { PermanentError } from '../../../shared/errors.ts';
import { validateArchiveKey, validateArchivePrefix } from '../../../shared/ports/archive-keys.ts';

function failure(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('archive key validation', () => {
  it.each([
    'c.json',
    'conversations/2025/01/abc.json',
    'a-b/a.b/a_b',
    '..hidden-but-not-parent',
    'x/.dotfile',
    'unicode/é/会話.json',
    'spaces are fine/a b.json',
  ])('when the key is %j, then it is accepted unchanged', (key) => {
    expect(validateArchiveKey(key)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['a parent segment', '../x'],
    ['a parent segment inside', 'a/../../etc/passwd'],
    ['a final parent segment', 'a/..'],
    ['a current-folder segment', 'a/./b'],
    ['an absolute path', '/etc/passwd'],
    ['an empty segment', 'a//b'],
    ['a trailing slash', 'a/b/'],
    ['a backslash', 'a\\..\\b'],
    ['a NUL byte', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['a reserved internal segment', 'a/.~lock.b'],
    ['a segment over 240 bytes', `a/${'x'.repeat(241)}`],
    ['more than 1024 bytes', `${'abcdefgh/'.repeat(114)}x`],
  ])('when the key has %s, then it is a PermanentError naming the key', (_what, key) => {
    const error = failure(() => validateArchiveKey(key));

    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).message).toContain(JSON.stringify(key));
    expect((error as PermanentError).context).toMatchObject({ key });
    expect((error as PermanentError).retryable).toBe(false);
  });

  it('when the key is not a string, then it is a PermanentError', () => {
    expect(failure(() => validateArchiveKey(42 as unknown as string))).toBeInstanceOf(PermanentError);
  });

  it.each(['', 'a/', 'a/b', 'conversations/2025-0', 'a/..b'])(
    'when the listing prefix is %j, then it is accepted',
    (prefix) => {
      expect(validateArchivePrefix(prefix)).toBe(prefix);
    },
  );

  it.each(['/a', 'a//', '../', 'a/../b', 'a\\b'])(
    'when the listing prefix is %j, then it is refused',
    (prefix) => {
      const error = failure(() => validateArchivePrefix(prefix));

      expect(error).toBeInstanceOf(PermanentError);
      expect((error as PermanentError).message).toContain(JSON.stringify(prefix));
    },
  );

  it('when the folder store is asked for an invalid key, then it refuses before touching the disk', async () => {
    const store = new FsArchiveStore('/nonexistent/never-created');

    await expect(store.get('../../etc/passwd')).rejects.toBeInstanceOf(PermanentError);
    await expect(store.put('../../etc/passwd', 'x')).rejects.toThrow(/"\.\.\/\.\.\/etc\/passwd"/);
  });
});
