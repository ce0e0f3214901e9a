import { describe, expect, it } from 'vitest';
import { AmigoRequestError, AmigoUnavailableError, AuthenticationError } from '../../shared/amigo/errors.ts';
import { ConfigurationError, redact, redactText, registerSecret } from '../../shared/errors.ts';

describe('errors', () => {
  it('when an error is serialised, then it carries name, message, context, hint and retryability', () => {
    const error = new AmigoRequestError({
      operationId: 'get-conversations',
      status: 422,
      attempts: 1,
      detail: 'query.limit: too big',
    });

    expect(error.toJSON()).toMatchObject({
      name: 'AmigoRequestError',
      retryable: false,
      message: 'get-conversations was refused (HTTP 422) after 1 attempt: query.limit: too big',
      context: { operationId: 'get-conversations', status: 422, attempts: 1 },
    });
    expect(error.hint).toMatch(/names the field/);
  });

  it('when throttling outlasts the retries, then the error is retryable and says what to change', () => {
    const error = new AmigoUnavailableError({
      operationId: 'get-conversation-messages',
      status: 429,
      attempts: 12,
    });

    expect(error.retryable).toBe(true);
    expect(error.hint).toMatch(/amigo\.rateLimits/);
  });

  it('when a registered secret, a bearer token or a signed URL appears anywhere, then serialisation hides it', () => {
    registerSecret('super-secret-api-key-value');
    const cause = new Error(
      'GET https://bucket.example/a.wav?X-Amz-Signature=abc123 failed with Bearer eyJhbGciOi.payload.sig',
    );
    const error = new AuthenticationError({ operationId: 'sign-in-with-api-key', attempts: 1, status: 401 });
    const wrapped = new AmigoUnavailableError(
      { operationId: 'get-conversations', attempts: 2, detail: 'key super-secret-api-key-value' },
      cause,
    );

    const text = JSON.stringify([
      error,
      wrapped,
      redact({ headers: { 'x-api-key': 'super-secret-api-key-value' } }),
    ]);

    expect(text).not.toContain('super-secret-api-key-value');
    expect(text).not.toContain('X-Amz-Signature');
    expect(text).not.toContain('eyJhbGciOi');
    expect(wrapped.message).not.toContain('super-secret-api-key-value');
  });

  it('when a URL carries a user and password, then redaction keeps the host and drops them', () => {
    expect(redactText('GET https://qa-bot:hunter2secret@api.amigo.ai/v1/x failed')).toBe(
      'GET https://[REDACTED]@api.amigo.ai/v1/x failed',
    );
    expect(redactText('mailto-like text a@b and https://api.amigo.ai/v1')).toBe(
      'mailto-like text a@b and https://api.amigo.ai/v1',
    );
  });

  it('when a configuration error is raised, then it names the field and the fix', () => {
    const error = new ConfigurationError('AMIGO_API_KEY', 'is not set', 'Set AMIGO_API_KEY');

    expect(error.field).toBe('AMIGO_API_KEY');
    expect(error.message).toBe('Invalid configuration AMIGO_API_KEY: is not set. Set AMIGO_API_KEY');
    expect(redactText('plain words')).toBe('plain words');
  });
});
