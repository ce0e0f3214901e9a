// Errors of Amigo API calls. Each carries the operationId, the HTTP status (when there was one),
// the number of attempts made and a hint; none ever carries a credential or a signed URL.
import { type ErrorOptions, PermanentError, RetryableError } from '../errors.ts';
import { formatIssues, type OperationId, type SchemaIssue } from '../openapi/index.ts';

export interface CallFacts {
  readonly operationId: OperationId | 'download';
  readonly status?: number | undefined;
  readonly attempts: number;
  readonly conversationId?: string | undefined;
  readonly detail?: string | undefined;
  /** host[:port] the call went to (never credentials, path or query). */
  readonly host?: string | undefined;
}

function options(facts: CallFacts, hint: string, cause?: unknown): ErrorOptions {
  const context: Record<string, unknown> = { operationId: facts.operationId, attempts: facts.attempts };
  if (facts.status !== undefined) context.status = facts.status;
  if (facts.conversationId !== undefined) context.conversationId = facts.conversationId;
  if (facts.host !== undefined) context.host = facts.host;
  return { context, hint, ...(cause === undefined ? {} : { cause }) };
}

function describe(facts: CallFacts, what: string): string {
  const status = facts.status === undefined ? '' : ` (HTTP ${facts.status})`;
  const detail = facts.detail ? `: ${facts.detail}` : '';
  const tries = facts.attempts === 1 ? '1 attempt' : `${facts.attempts} attempts`;
  return `${facts.operationId} ${what}${status} after ${tries}${detail}`;
}

/** The API key, key id or user was refused, or a fresh token was refused too. */
export class AuthenticationError extends PermanentError {
  constructor(facts: CallFacts) {
    super(
      describe(facts, 'was not authenticated'),
      options(
        facts,
        'Check AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID and AMIGO_ORGANIZATION_ID; the key may have been revoked or may belong to another organization',
      ),
    );
  }
}

/** A 400, 403, 404 or 422: the request itself cannot succeed as it is. */
export class AmigoRequestError extends PermanentError {
  readonly status: number;
  readonly operationId: string;
  constructor(facts: CallFacts & { status: number }) {
    super(
      describe(facts, 'was refused'),
      options(facts, HINTS[facts.status] ?? 'The request cannot succeed as sent'),
    );
    this.status = facts.status;
    this.operationId = facts.operationId;
  }
}

const HINTS: Record<number, string> = {
  400: 'Amigo refused the request in the current state of the conversation (see the detail)',
  403: 'The signed-in user lacks a permission this operation needs; grant it in Amigo',
  404: 'The organization, conversation, message or interaction does not exist (or is not visible to this user)',
  422: 'A path, query or body value failed Amigo validation; the detail names the field',
};

/** Still failing after every allowed retry: throttling, maintenance, 5xx, network or timeouts. */
export class AmigoUnavailableError extends RetryableError {
  readonly status: number | undefined;
  readonly operationId: string;
  /** How long Amigo asked to wait (Retry-After), when its last answer said. */
  readonly retryAfterMs: number | undefined;
  constructor(facts: CallFacts, cause?: unknown, retryAfterMs?: number) {
    const hint =
      facts.status === 429
        ? 'Amigo kept throttling: lower this operation in amigo.rateLimits or run fewer workers'
        : facts.status === 503
          ? 'Amigo is in maintenance; the call can be retried later'
          : 'Amigo or the network failed repeatedly; the call can be retried later';
    super(describe(facts, 'failed'), options(facts, hint, cause));
    this.status = facts.status;
    this.operationId = facts.operationId;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The request could not be sent at all and never will be as configured: a port fetch refuses, a URL
 * with credentials, an invalid URL, a header value HTTP cannot carry. Not retried. The message says
 * which, never the offending value (it may be a password or the API key).
 */
export class UnsendableRequestError extends PermanentError {
  readonly operationId: string;
  constructor(facts: CallFacts & { detail: string }, hint: string) {
    const to = facts.host ? ` to ${facts.host}` : '';
    const tries = facts.attempts === 1 ? '1 attempt' : `${facts.attempts} attempts`;
    super(
      `${facts.operationId} could not be sent${to} after ${tries}: ${facts.detail}`,
      options(facts, hint),
    );
    this.operationId = facts.operationId;
  }
}

/** A 2xx body that is not what the spec describes (a contract change, not a transient fault). */
export class ResponseValidationError extends PermanentError {
  readonly issues: readonly SchemaIssue[];
  constructor(facts: CallFacts, issues: readonly SchemaIssue[]) {
    super(
      `${facts.operationId} returned a body that does not match the Amigo API spec: ${formatIssues(issues)}`,
      options(
        facts,
        'Amigo answered in a shape the spec does not describe: check for an API change and update shared/openapi (npm run gen)',
      ),
    );
    this.issues = issues;
  }
}

/** A download of a recording failed permanently (its size does not match, or it was refused). */
export class DownloadError extends RetryableError {
  constructor(facts: CallFacts, cause?: unknown) {
    super(describe(facts, 'failed'), options(facts, 'The recording download can be retried', cause));
  }
}
