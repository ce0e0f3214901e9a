import { describe, expect, it } from 'vitest';
import { formatError } from '../../../cli/format-error.ts';
import { ConfigurationError, PermanentError } from '../../../shared/errors.ts';

describe('formatError', () => {
  it('when a configuration error already ends with its fix, then the fix is printed once', () => {
    const text = formatError(
      new ConfigurationError(
        '--workers',
        'must be at least 1, not -3',
        'Give --workers a whole number from 1 to 64',
      ),
    );

    expect(text).toBe(
      'Invalid configuration --workers: must be at least 1, not -3. Give --workers a whole number from 1 to 64',
    );
    expect(text.split('from 1 to 64')).toHaveLength(2);
  });

  it('when an error has a hint its message does not contain, then the hint follows on its own line', () => {
    expect(formatError(new PermanentError('The run failed', { hint: 'Run it again' }))).toBe(
      'The run failed\n  hint: Run it again',
    );
  });

  it('when a foreign error quotes a URL with a user name and password, then they are not printed', () => {
    const text = formatError(
      new TypeError(
        'Request cannot be constructed from a URL that includes credentials: https://ops:hunter2@api.example.com/v1',
      ),
    );

    expect(text).not.toMatch(/hunter2|ops:/);
    expect(text).toContain('https://[REDACTED]@api.example.com/v1');
  });
});
