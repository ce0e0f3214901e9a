// A rotated API key reaching a client that signed in before the rotation (a warm Lambda): found by
// the fault scenario "API key rotated mid-run" (test/faults/secrets-and-schedulers.test.ts), here
// in small against the simulator over real HTTP.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthenticationError } from '../../../shared/amigo/index.ts';
import { clientFor, collect } from '../../support/client.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';

const ROTATED = 'rotated-key-secret-222222';
let sim: TestSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

async function rotatedAfterSignIn(reload: boolean) {
  sim = await startTestSimulator({ conversations: 2, tokenTtlMs: 500, rateLimits: { enabled: false } });
  const running = sim;
  let reloads = 0;
  const client = clientFor(
    running,
    {},
    reload
      ? {
          reloadApiKey: async () => {
            reloads++;
            return { apiKey: ROTATED, apiKeyId: running.credentials.apiKeyId };
          },
        }
      : {},
  );
  await collect(client.conversations({}));
  running.control.rotateApiKey(running.credentials.apiKeyId, ROTATED);
  await sleep(600); // the token expires: the next call signs in again
  const outcome = await collect(client.conversations({})).then(
    (all) => all.length,
    (error: unknown) => error,
  );
  return { outcome, reloads };
}

describe('a rotated API key', () => {
  it('when the key is rotated after sign-in and the client can read it again, then the next sign-in uses the new key', async () => {
    const { outcome, reloads } = await rotatedAfterSignIn(true);

    expect(outcome).toBe(2);
    expect(reloads).toBe(1);
  });

  it('when the key is rotated after sign-in and the client cannot read it again, then the call fails as an authentication error', async () => {
    const { outcome } = await rotatedAfterSignIn(false);

    expect(outcome).toBeInstanceOf(AuthenticationError);
  });
});
