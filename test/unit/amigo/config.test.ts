import { describe, expect, it } from 'vitest';
import { amigoConfigFromEnv, REGION_BASE_URLS, resolveAmigoConfig } from '../../../shared/amigo/config.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const env = {
  AMIGO_API_KEY: 'key-value-1234567890',
  AMIGO_API_KEY_ID: 'key-id',
  AMIGO_USER_ID: 'user-1',
  AMIGO_ORGANIZATION_ID: 'acme-health',
};

describe('amigoConfigFromEnv', () => {
  it('when the four required variables are set, then the defaults fill the rest', () => {
    const config = amigoConfigFromEnv(env);

    expect(config.baseUrl).toBe('https://api.amigo.ai');
    expect(config.organizationId).toBe('acme-health');
    expect(config.rateLimits['get-conversations']).toEqual({ limit: 15, windowMs: 60_000 });
    expect(config.timeoutMs).toBe(30_000);
    expect(config.maxAttempts).toBe(6);
  });

  it.each(['AMIGO_API_KEY', 'AMIGO_API_KEY_ID', 'AMIGO_USER_ID', 'AMIGO_ORGANIZATION_ID'])(
    'when %s is missing, then the error names that variable and how to fix it',
    (name) => {
      const act = () => amigoConfigFromEnv({ ...env, [name]: undefined });
      expect(act).toThrow(ConfigurationError);
      expect(act).toThrow(new RegExp(`${name}: is not set\\. Set ${name}`));
    },
  );

  it('when AMIGO_BASE_URL is plain http to a remote host, then it is refused naming the variable', () => {
    expect(() => amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: 'http://api.amigo.ai' })).toThrow(
      /AMIGO_BASE_URL: must use https/,
    );
  });

  it('when AMIGO_BASE_URL is http on localhost, then it is accepted (the simulator)', () => {
    expect(amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: 'http://127.0.0.1:8080/' }).baseUrl).toBe(
      'http://127.0.0.1:8080',
    );
  });

  it('when AMIGO_REGION names a region, then its base URL is used', () => {
    expect(amigoConfigFromEnv({ ...env, AMIGO_REGION: 'eu-central-1' }).baseUrl).toBe(
      REGION_BASE_URLS['eu-central-1'],
    );
  });

  it('when AMIGO_REGION is unknown, then the error names the variable', () => {
    expect(() => amigoConfigFromEnv({ ...env, AMIGO_REGION: 'mars-1' })).toThrow(/AMIGO_REGION/);
  });

  it('when the config is printed or serialised, then the API key is not in it', () => {
    const config = amigoConfigFromEnv(env);

    expect(JSON.stringify(config)).not.toContain(env.AMIGO_API_KEY);
    expect(Object.keys(config)).not.toContain('apiKey');
    expect(config.apiKey).toBe(env.AMIGO_API_KEY);
  });
});

describe('resolveAmigoConfig', () => {
  it('when a rate override is malformed, then the error names its path', () => {
    const act = () =>
      resolveAmigoConfig(
        {
          apiKey: 'k'.repeat(10),
          apiKeyId: 'i',
          userId: 'u',
          organizationId: 'o',
          rateLimits: { 'get-conversations': 'fast' },
        },
        { rateLimits: 'amigo.rateLimits' },
      );
    expect(act).toThrow(/amigo\.rateLimits\.get-conversations: "fast" is not a rate/);
  });

  it('when an unknown option is given, then it is refused rather than silently ignored', () => {
    const act = () =>
      resolveAmigoConfig({
        apiKey: 'k',
        apiKeyId: 'i',
        userId: 'u',
        organizationId: 'o',
        timeout: 5,
      } as never);
    expect(act).toThrow(ConfigurationError);
  });
});
