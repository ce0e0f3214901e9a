// One error hierarchy for amigo-qa. Every error carries a `context` of plain facts (ids, status,
// attempts) and a `hint` for the operator; `toJSON` redacts anything that looks like a credential,
// so an error can be logged or stored whole.

const SECRET_KEY = /(api[-_]?key|token|secret|password|authorization|credential|signature|x-amz-)/i;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const URL_QUERY = /(https?:\/\/[^\s?"']+)\?[^\s"']*/g;
/** `scheme://user:password@` (credentials in a URL): the user and password go. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"']+@/gi;

const registeredSecrets = new Set<string>();

/** Registers a secret value (an API key, a token) so that every redaction replaces it wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) registeredSecrets.add(value);
}

/** Removes registered secrets, bearer/basic credentials, credentials in URLs and signed-URL query strings from a text. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of registeredSecrets) out = out.split(secret).join('[REDACTED]');
  return out
    .replace(BEARER, '$1 [REDACTED]')
    .replace(URL_USERINFO, '$1[REDACTED]@')
    .replace(URL_QUERY, '$1?[REDACTED]');
}

/** Deep copy of `value` with secret-named keys and secret values replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return redactError(value, depth);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? '[REDACTED]' : redact(v, depth + 1);
  }
  return out;
}

function redactError(error: Error, depth: number): Record<string, unknown> {
  if (error instanceof AmigoQaError) return error.toJSON();
  return {
    name: error.name,
    message: redactText(error.message),
    ...((error as { code?: unknown }).code !== undefined ? { code: (error as { code?: unknown }).code } : {}),
    ...(error.cause !== undefined ? { cause: redact(error.cause, depth + 1) } : {}),
  };
}

export interface ErrorOptions {
  readonly context?: Record<string, unknown>;
  readonly cause?: unknown;
  readonly hint?: string;
}

export abstract class AmigoQaError extends Error {
  /** True when the same call may succeed later (throttling, maintenance, a network fault). */
  abstract readonly retryable: boolean;
  readonly context: Readonly<Record<string, unknown>>;
  readonly hint: string | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = Object.freeze({ ...(options.context ?? {}) });
    this.hint = options.hint;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: redactText(this.message),
      retryable: this.retryable,
      ...(this.hint ? { hint: redactText(this.hint) } : {}),
      context: redact(this.context),
      ...(this.cause !== undefined ? { cause: redact(this.cause) } : {}),
    };
  }
}

/** Worth trying again later: the input was fine, the moment was not. */
export class RetryableError extends AmigoQaError {
  readonly retryable = true;
}

/**
 * The work is not finished but has moved forward (what it did is kept): continue in a new
 * delivery at once, without counting it as a failure.
 */
export abstract class ContinueLaterError extends RetryableError {
  /** False when nothing was done this time: then it is an ordinary failure, retried by SQS. */
  abstract readonly progressed: boolean;
}

/** Trying again cannot help: fix the input, the configuration or the data. */
export class PermanentError extends AmigoQaError {
  readonly retryable = false;
}

/** A missing or invalid setting, named by the field (environment variable or config path) to fix. */
export class ConfigurationError extends PermanentError {
  readonly field: string;
  constructor(field: string, problem: string, fix?: string) {
    super(`Invalid configuration ${field}: ${problem}${fix ? `. ${fix}` : ''}`, {
      context: { field },
      ...(fix ? { hint: fix } : {}),
    });
    this.field = field;
  }
}
