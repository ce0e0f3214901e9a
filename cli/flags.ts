// Flags more than one command takes, checked the same way everywhere.
import { parseSince } from '../shared/config/pipeline-config.ts';
import { ConfigurationError } from '../shared/errors.ts';

/** `--since <YYYY-MM-DD>`: a real calendar day, not later than now; undefined when not given. */
export function sinceDayFlag(raw: string | undefined, now: number): string | undefined {
  if (raw === undefined) return undefined;
  const since = raw.trim();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(since)) {
    throw new ConfigurationError('--since', `"${raw}" is not a day`, 'Write it like 2026-11-01');
  }
  parseSince(since, '--since', now);
  return since;
}
