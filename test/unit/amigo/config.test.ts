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

describe('AMIGO_BASE_URL and credential values that can never work', () => {
  it('when AMIGO_BASE_URL carries a user name and password, then it is refused naming the variable, without the password', () => {
    const error = errorOf(() =>
      amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: 'https://ops:hunter2-pass@api.amigo.ai' }),
    );

    expect(error.field).toBe('AMIGO_BASE_URL');
    expect(error.message).toMatch(/AMIGO_BASE_URL: must not contain a user name or password/);
    expect(error.hint).toMatch(/AMIGO_API_KEY/);
    expect(JSON.stringify(error)).not.toMatch(/hunter2|ops:/);
    expect(`${error.message} ${error.hint}`).not.toMatch(/hunter2|ops:/);
  });

  it.each(['not-a-url', 'api.amigo.ai', 'https://'])(
    'when AMIGO_BASE_URL is %j, then the error names the variable and the fix',
    (value) => {
      const error = errorOf(() => amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: value }));

      expect(error.field).toBe('AMIGO_BASE_URL');
      expect(error.message).toMatch(/AMIGO_BASE_URL: is not a URL/);
      expect(error.hint).toMatch(/https:\/\/api-eu-central-1\.amigo\.ai/);
    },
  );

  it('when AMIGO_BASE_URL has a query string, then it is refused (it would end up inside every path)', () => {
    const error = errorOf(() => amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: 'https://api.amigo.ai/?x=1' }));

    expect(error.message).toMatch(/AMIGO_BASE_URL: must not have a query string or fragment/);
  });

  it('when AMIGO_BASE_URL is ftp, then it is refused as not http(s)', () => {
    expect(() => amigoConfigFromEnv({ ...env, AMIGO_BASE_URL: 'ftp://api.amigo.ai' })).toThrow(
      /AMIGO_BASE_URL: must be an http\(s\) URL/,
    );
  });

  it.each([
    ['AMIGO_API_KEY', 'key-value\n1234567890'],
    ['AMIGO_API_KEY_ID', 'key\u0000id'],
    ['AMIGO_USER_ID', 'user-\u20ac'],
  ])(
    'when %s holds a character an HTTP header cannot carry, then it is refused naming the variable, without the value',
    (name, value) => {
      const error = errorOf(() => amigoConfigFromEnv({ ...env, [name]: value }));

      expect(error.field).toBe(name);
      expect(error.message).toMatch(/cannot carry/);
      expect(JSON.stringify(error)).not.toContain(JSON.stringify(value).slice(1, -1));
      expect(error.message).not.toContain(value);
    },
  );
});

function errorOf(act: () => unknown): ConfigurationError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}
