// The client when the request cannot reach Amigo: a closed local port (a network error worth
// retrying) and requests that can never be sent (a port fetch refuses, a URL with credentials, an
// invalid URL, a header value HTTP cannot carry), which must fail at once. Everything is local: the
// simulator, or a port on 127.0.0.1 that nothing listens on. The configurations that
// `resolveAmigoConfig` refuses are built by hand here, as a caller bypassing it would.
import { afterEach, describe, expect, it } from 'vitest';
import {
  AmigoClient,
  type AmigoClientConfig,
  AmigoUnavailableError,
  UnsendableRequestError,
} from '../../../shared/amigo/index.ts';
import { AmigoQaError, PermanentError } from '../../../shared/errors.ts';
import { clientFor } from '../../support/client.ts';
import { closedPort } from '../../support/closed-port.ts';
import { startTestSimulator } from '../../support/simulator.ts';

type TestSim = Awaited<ReturnType<typeof startTestSimulator>>;
const running: TestSim[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

async function simulator(): Promise<TestSim> {
  const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 2 });
  running.push(sim);
  return sim;
}

/** A valid configuration for the simulator with fields replaced (the API key is not enumerable). */
function configWith(sim: TestSim, changes: Partial<AmigoClientConfig>): AmigoClientConfig {
  const base = clientFor(sim, { maxAttempts: 4 }).config;
  return { ...base, apiKey: base.apiKey, ...changes };
}

async function failure(act: () => Promise<unknown>): Promise<AmigoQaError> {
  const error = await act().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AmigoQaError);
  return error as AmigoQaError;
}

function calls(sim: TestSim): number {
  return Object.values(sim.control.stats().calls).reduce(
    (sum, byStatus) => sum + Object.values(byStatus).reduce((a, b) => a + b, 0),
    0,
  );
}

describe('network errors', () => {
  it('when nothing listens on the port, then the call is retried and the error names the host and port', async () => {
    const sim = await simulator();
    const port = await closedPort();
    const warnings: Record<string, unknown>[] = [];
    const logger = {
      debug: () => undefined,
      warn: (_: string, extra?: Record<string, unknown>) => warnings.push(extra ?? {}),
    };
    const client = new AmigoClient(configWith(sim, { baseUrl: `http://127.0.0.1:${port}/amigo` }), {
      logger,
    });

    const error = await failure(() => client.warmUp());

    expect(error).toBeInstanceOf(AmigoUnavailableError);
    expect(error.retryable).toBe(true);
    expect(error.context).toMatchObject({ attempts: 4 });
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).not.toContain('/amigo');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatchObject({ host: `127.0.0.1:${port}` });
  });
});

describe('requests that can never be sent fail at once, as permanent errors', () => {
  it('when the port is one fetch refuses (a "bad port"), then there is one attempt and the error says so, naming the host', async () => {
    const sim = await simulator();
    const client = new AmigoClient(configWith(sim, { baseUrl: 'http://127.0.0.1:1' }));

    const error = await failure(() => client.warmUp());

    expect(error.context).toMatchObject({ attempts: 1 });
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toBeInstanceOf(UnsendableRequestError);
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).toMatch(/port/);
    expect(error.hint).toMatch(/AMIGO_BASE_URL/);
  });

  it('when the base URL carries a user name and password, then nothing is sent and the password appears nowhere', async () => {
    const sim = await simulator();
    const base = new URL(sim.url);
    const client = new AmigoClient(configWith(sim, { baseUrl: `http://ops:hunter2@${base.host}` }));

    const error = await failure(() => client.warmUp());

    expect(error.context).toMatchObject({ attempts: 1 });
    expect(error.retryable).toBe(false);
    expect(error).toBeInstanceOf(UnsendableRequestError);
    expect(error.message).toMatch(/user name or password/);
    const everything = `${error.message} ${error.hint} ${JSON.stringify(error)} ${String(error.cause ?? '')}`;
    expect(everything).not.toMatch(/hunter2|ops:/);
    expect(calls(sim)).toBe(0);
  });

  it('when the base URL is not a URL, then there is one attempt and the error names AMIGO_BASE_URL', async () => {
    const sim = await simulator();
    const client = new AmigoClient(configWith(sim, { baseUrl: 'not-a-url' }));

    const error = await failure(() => client.warmUp());

    expect(error.context).toMatchObject({ attempts: 1 });
    expect(error.retryable).toBe(false);
    expect(error).toBeInstanceOf(UnsendableRequestError);
    expect(error.message).toMatch(/not a valid URL/);
    expect(error.hint).toMatch(/AMIGO_BASE_URL/);
  });

  it('when the API key holds a line break, then nothing is sent and the key appears nowhere', async () => {
    const sim = await simulator();
    const secret = 'line-break-secret-value';
    const client = new AmigoClient(configWith(sim, { apiKey: `first\n${secret}` }));

    const error = await failure(() => client.warmUp());

    expect(error.context).toMatchObject({ attempts: 1 });
    expect(error.retryable).toBe(false);
    expect(error).toBeInstanceOf(UnsendableRequestError);
    expect(error.message).toMatch(/header/);
    expect(error.hint).toMatch(/AMIGO_API_KEY/);
    const everything = `${error.message} ${error.hint} ${JSON.stringify(error)} ${String(error.cause ?? '')}`;
    expect(everything).not.toContain(secret);
    expect(calls(sim)).toBe(0);
  });
});
