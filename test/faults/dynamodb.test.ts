// DynamoDB faults on the shared rate budget (issue #12): throttling, and a storm of conditional-
// check failures. The budget must fail safe: slower, never over Amigo's limit. Each ends with the
// same audit (test/support/fault-audit.ts), whose check of the budget's own grants in every window
// is the "never over" proof; "slower" is the run time against a clean run on the same data (the
// first scenario), recorded with FAULTS_RESULTS (bench/README.md, "faults").
import { afterEach, describe, expect, it } from 'vitest';
import { audit } from '../support/fault-audit.ts';
import { type FaultWorld, startFaultWorld } from '../support/fault-world.ts';

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('DynamoDB faults on the rate budget', () => {
  it('when nothing is faulted (the baseline the faulted runs are timed against), then every conversation is archived and every window of grants is within the budget', async () => {
    world = await startFaultWorld({});
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
    expect(report.grants).toBeGreaterThan(0);
    expect(report.peakBudgetShare).toBeLessThanOrEqual(1);
  });

  it('when 30% of the budget reads and writes are throttled for 10 s, then every conversation is archived and no window goes over the limit', async () => {
    world = await startFaultWorld({});
    const untilMs = Date.now() + 10_000;
    world.proxies.dynamodb.script(
      {
        operation: 'PutItem',
        action: { kind: 'error', status: 400, code: 'ProvisionedThroughputExceededException' },
        rate: 0.3,
        untilMs,
      },
      {
        operation: 'GetItem',
        action: { kind: 'error', status: 400, code: 'ThrottlingException' },
        rate: 0.3,
        untilMs,
      },
    );
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(world.proxies.dynamodb.fired()).toBeGreaterThan(0);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
    expect(report.grants).toBeGreaterThan(0);
    expect(report.peakBudgetShare).toBeLessThanOrEqual(1);
    expect(report.peakWindowShare).toBeLessThanOrEqual(1);
  });

  it('when half of the budget writes lose a conditional check for 10 s, then the budget retries slower and no window goes over the limit', async () => {
    world = await startFaultWorld({});
    world.proxies.dynamodb.script({
      operation: 'PutItem',
      action: { kind: 'error', status: 400, code: 'ConditionalCheckFailedException' },
      rate: 0.5,
      untilMs: Date.now() + 10_000,
    });
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(world.proxies.dynamodb.fired('PutItem')).toBeGreaterThan(0);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
    expect(report.grants).toBeGreaterThan(0);
    expect(report.peakBudgetShare).toBeLessThanOrEqual(1);
    expect(report.peakWindowShare).toBeLessThanOrEqual(1);
  });
});
