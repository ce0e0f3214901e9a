// How the command line prints an error: its message once and its hint once (a ConfigurationError's
// message already ends with its fix, which is also its hint), with credentials removed.
import { AmigoQaError, redactText } from '../shared/errors.ts';

/** `scheme://user:password@host` -> `scheme://[REDACTED]@host`, for messages of errors not our own. */
function withoutUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi, '$1[REDACTED]@');
}

/** The text to print for an error: the message, then `  hint: ...` unless the message already says it. */
export function formatError(error: unknown): string {
  if (error instanceof AmigoQaError) {
    const message = withoutUrlCredentials(error.message);
    const hint = error.hint ? withoutUrlCredentials(redactText(error.hint)) : undefined;
    return hint && !message.includes(hint) ? `${message}\n  hint: ${hint}` : message;
  }
  const text = error instanceof Error ? error.message : String(error);
  return withoutUrlCredentials(redactText(text));
}
