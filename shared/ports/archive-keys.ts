// Which keys an archive store accepts: part of the ArchiveStore contract, so that a key is valid on
// S3 exactly when it is valid in a folder. Both adapters apply it.
import { PermanentError } from '../errors.ts';

/** Segment prefix reserved for the folder store's own files (temp, lock, etag sidecar). */
export const RESERVED_SEGMENT_PREFIX = '.~';
const MAX_KEY_BYTES = 1024; // S3's limit
const MAX_SEGMENT_BYTES = 240; // NAME_MAX (255) minus room for the lock/sidecar name prefix

/**
 * Checks an archive key and returns it. Keys are relative, '/'-separated, without empty, `.` or `..`
 * segments, control characters, backslashes or reserved (`.~`) segments. Both adapters apply it, so
 * a key is valid for S3 exactly when it is valid for a folder.
 */
export function validateArchiveKey(key: string): string {
  const problem = keyProblem(key, false);
  if (problem) throw invalidKey(key, problem);
  return key;
}

/**
 * Checks a listing prefix and returns it: '' (everything), or a key prefix that may end with '/' or
 * in the middle of a segment.
 */
export function validateArchivePrefix(prefix: string): string {
  const problem = keyProblem(prefix, true);
  if (problem) throw invalidKey(prefix, problem, 'prefix');
  return prefix;
}

export function keyProblem(key: string, asPrefix: boolean): string | undefined {
  if (typeof key !== 'string') return 'it is not a string';
  if (key === '') return asPrefix ? undefined : 'it is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it contains a control character';
  if (key.includes('\\')) return 'it contains a backslash (use / to separate segments)';
  if (key.startsWith('/')) return 'it is absolute (starts with /)';
  const segments = key.split('/');
  // A prefix may end with '/' (empty last segment) or mid-segment; its last piece is not a whole segment.
  const whole = asPrefix ? segments.slice(0, -1) : segments;
  for (const segment of whole) {
    if (segment === '') return 'it has an empty segment (// or a trailing /)';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) {
      return `a segment starts with "${RESERVED_SEGMENT_PREFIX}" (reserved)`;
    }
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)
      return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

function invalidKey(key: unknown, problem: string, what = 'key'): PermanentError {
  return new PermanentError(`Invalid archive ${what} ${JSON.stringify(key)}: ${problem}`, {
    context: { [what]: key, problem },
    hint: 'Archive keys are relative paths like "conversations/2025/01/abc.json".',
  });
}
