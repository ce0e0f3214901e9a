// The fault scenarios (test/faults/, `npm run test:faults`) in small: three representative faults,
// one per side of the wire, through the deployed handlers and followed by the same audit
// (test/support/fault-audit.ts): S3 answering 503 SlowDown mid-multipart, SQS failing part of a
// batch twice, Amigo resetting connections and asking to wait with an HTTP-date Retry-After.
import { afterEach, describe, expect, it } from 'vitest';
import { audit } from '../support/fault-audit.ts';
import { type FaultWorld, startFaultWorld } from '../support/fault-world.ts';

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('faults (small setting)', () => {
  it('when S3 answers 503 SlowDown on an UploadPart and on PutObjects, then every conversation is archived once and the audit is clean', async () => {
    world = await startFaultWorld({
      sim: { audio: { largeRecordings: 1, largeRecordingBytes: 12 * 1024 * 1024 } },
    });
    const slowDown = { kind: 'error' as const, status: 503, code: 'SlowDown' };
    world.proxies.s3.script(
      { operation: 'UploadPart', action: slowDown, times: 1 },
      { operation: 'PutObject', action: slowDown, skip: 3, times: 3 },
    );
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(world.proxies.s3.fired()).toBe(4);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });

  it('when SendMessageBatch fails two entries twice in a row, then they stay pending and the next run archives them', async () => {
    world = await startFaultWorld({});
    world.proxies.sqs.script({
      operation: 'SendMessageBatch',
      action: { kind: 'partial-batch', failEntries: [0, 2] },
      times: 2,
    });
    const handlers = await world.coldStart();

    await world.run(handlers);
    const first = await audit(world);
    await world.run(handlers);
    const report = await audit(world);

    expect(first.pending).toBeGreaterThan(0);
    expect(first.archived + first.pending).toBe(first.eligible);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });

  it('when Amigo resets connections and answers 503 with an HTTP-date Retry-After, then every conversation is archived once and the audit is clean', async () => {
    world = await startFaultWorld({});
    world.sim.control.enqueueFaults([
      { operation: 'get-conversation-messages', kind: 'reset' },
      { operation: 'get-interaction-insights', kind: 'reset' },
      {
        operation: 'get-interaction-insights',
        kind: 'status',
        status: 503,
        retryAfterSeconds: 2,
        retryAfterAs: 'http-date',
      },
    ]);
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(world.sim.control.stats().requests.filter((r) => r.fault !== undefined)).toHaveLength(3);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });
});
