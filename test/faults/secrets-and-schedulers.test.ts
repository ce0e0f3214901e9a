// Secrets Manager unavailable at cold start, the secret rotated mid-run, and two schedulers at
// once (a manual trigger during the nightly run) (issue #12). Each ends with the same audit
// (test/support/fault-audit.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AmigoQaError } from '../../shared/errors.ts';
import { audit } from '../support/fault-audit.ts';
import { type FaultWorld, SECRET_ARN, startFaultWorld } from '../support/fault-world.ts';
import { simulatorAmigoEnv } from '../support/sim-credentials.ts';

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const unavailable = { kind: 'error' as const, status: 500, code: 'InternalServiceError' };

describe('Secrets Manager and scheduler faults', () => {
  it('when Secrets Manager is unavailable at a cold start, then that invocation fails with a clear error and the next one archives everything', async () => {
    world = await startFaultWorld({ visibilityTimeoutSeconds: 2 });
    // Every attempt of the scheduler's cold start (the SDK tries 3 times) fails.
    world.proxies.secretsmanager.script({ operation: 'GetSecretValue', action: unavailable, times: 3 });
    const handlers = await world.coldStart();

    const failed = await world.run(handlers);
    // Then, the scheduler's cold start through, a worker's fails too: its batch comes back after the
    // visibility timeout.
    world.proxies.secretsmanager.script({
      operation: 'GetSecretValue',
      action: unavailable,
      skip: 1,
      times: 3,
    });
    await world.run(handlers);
    const report = await audit(world);

    expect(failed.schedulerErrors).toHaveLength(1);
    // Clear: the service's own error name reaches the invocation's failure, no key or value does.
    expect((failed.schedulerErrors[0] as Error).name).toBe('InternalServiceError');
    expect(JSON.stringify(failed.schedulerErrors[0])).not.toContain(world.sim.credentials.apiKey);
    expect(world.proxies.secretsmanager.fired()).toBe(6);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });

  it('when the API key is rotated mid-run, then warm functions sign in with the new key and nothing is lost', async () => {
    world = await startFaultWorld({ sim: { tokenTtlMs: 3_000 } });
    const { sim, secrets } = world;
    const rotatedKey = 'rotated-key-secret-111111';
    let invocations = 0;
    let rotatedAt = Number.POSITIVE_INFINITY;
    const handlers = await world.coldStart();

    await world.run(handlers, {
      bindings: { 'archive-worker': { batchSize: 1, concurrency: 1 } },
      wrap: {
        // The archive worker is warm (its first invocation read the old key) when the key rotates;
        // its token then expires, so its next sign-in meets the rotation.
        'archive-worker': (handler) => async (event, context) => {
          if (++invocations === 2) {
            sim.control.rotateApiKey(sim.credentials.apiKeyId, rotatedKey);
            secrets.put(SECRET_ARN, JSON.stringify({ ...simulatorAmigoEnv(sim), AMIGO_API_KEY: rotatedKey }));
            rotatedAt = sim.control.now().getTime();
            await sleep(3_500);
          }
          return handler(event, context);
        },
      },
    });
    const report = await audit(world, { secrets: [rotatedKey] });

    const signIns = sim.control.stats().requests.filter((r) => r.operationId === 'sign-in-with-api-key');
    expect(invocations).toBeGreaterThanOrEqual(3);
    expect(signIns.filter((r) => r.at > rotatedAt).length).toBeGreaterThan(0);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });

  it('when two schedulers run at once, then every conversation is archived once and every stalled interaction asked once', async () => {
    world = await startFaultWorld({});
    const handlers = await world.coldStart();

    const { schedulerErrors } = await world.run(handlers, { schedulers: 2 });
    const report = await audit(world);

    expect(schedulerErrors.filter((e) => !(e instanceof AmigoQaError))).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });
});
