// S3 faults on the deployed handlers' side of the wire (issue #12): 503 SlowDown and 500 on
// PutObject, UploadPart and CompleteMultipartUpload, a 412 race on the manifest, and a multipart
// upload cut by the function's deadline. Each ends with the same audit (test/support/fault-audit.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { audit } from '../support/fault-audit.ts';
import { type FaultWorld, startFaultWorld } from '../support/fault-world.ts';

const MiB = 1024 * 1024;
/** One recording of 20 MiB: three 8 MiB parts through the archive store's multipart upload. */
const LARGE = { audio: { largeRecordings: 1, largeRecordingBytes: 20 * MiB } };

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('S3 faults', () => {
  it.each([
    ['503 SlowDown', 503, 'SlowDown'],
    ['500 InternalError', 500, 'InternalError'],
  ])(
    'when PutObject, UploadPart and CompleteMultipartUpload answer %s, then every conversation is archived once and the audit is clean',
    async (_name, status, code) => {
      world = await startFaultWorld({ sim: LARGE });
      const error = { kind: 'error' as const, status, code };
      world.proxies.s3.script(
        { operation: 'PutObject', action: error, skip: 2, times: 4 },
        { operation: 'UploadPart', action: error, skip: 1, times: 2 },
        { operation: 'CompleteMultipartUpload', action: error, times: 1 },
      );
      const handlers = await world.coldStart();

      await world.run(handlers);
      const report = await audit(world);

      expect(world.proxies.s3.fired('PutObject')).toBe(4);
      expect(world.proxies.s3.fired('UploadPart')).toBe(2);
      expect(world.proxies.s3.fired('CompleteMultipartUpload')).toBe(1);
      expect(report.problems).toEqual([]);
      expect(report.archived).toBe(report.eligible);
      expect(report.deadLetters).toEqual([]);
    },
  );

  it("when S3 refuses one conversation's writes (403 AccessDenied), then its job is dead-lettered with that reason, it stays pending, and the next run archives it", async () => {
    world = await startFaultWorld({});
    const [refused] = world.sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    if (!refused) throw new Error('the world needs an eligible conversation');
    world.proxies.s3.script({
      operation: 'PutObject',
      path: new RegExp(`conversation%3D${refused.id}/`), // the SDK escapes '=' in keys
      action: { kind: 'error', status: 403, code: 'AccessDenied' },
    });
    const handlers = await world.coldStart();

    await world.run(handlers);
    const first = await audit(world, { deadLetters: [/AccessDenied|denied/i] });
    world.proxies.s3.clear();
    await world.run(handlers);
    const report = await audit(world, { deadLetters: [/AccessDenied|denied/i] });

    expect(first.problems).toEqual([]);
    expect(first.deadLetters.map((d) => d.conversationId)).toEqual([refused.id]);
    expect(first.archived + first.pending).toBe(first.eligible);
    expect(first.pending).toBe(1);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
    expect(report.manifestWrites).toBe(report.eligible);
  });

  it('when another writer commits the manifest first (412 on the create-only PutObject), then the conversation counts once and nothing is dead-lettered', async () => {
    world = await startFaultWorld({});
    world.proxies.s3.script({
      operation: 'PutObject',
      path: /\/manifest\.json$/,
      // The manifest lands (a twin delivery committed the same folder first), then this writer is
      // told 412, as S3 answers the loser of a create-only race.
      action: { kind: 'error', status: 412, code: 'PreconditionFailed', afterForward: true },
      times: 1,
    });
    const handlers = await world.coldStart();

    await world.run(handlers);
    const report = await audit(world);

    expect(world.proxies.s3.fired('PutObject')).toBe(1);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });

  it('when the function deadline cuts a multipart upload, then the upload is aborted or finished by a later delivery and no half object counts as archived', async () => {
    world = await startFaultWorld({ sim: LARGE });
    // The first parts crawl: a 16 s function (the worker stops 10 s before its deadline) runs out
    // of time mid-upload; the next delivery finds S3 fast again.
    world.proxies.s3.script({ operation: 'UploadPart', action: { kind: 'delay', ms: 8_000 }, times: 2 });
    const handlers = await world.coldStart();

    await world.run(handlers, {
      bindings: { 'archive-worker': { functionTimeoutMs: 16_000, batchSize: 1 } },
      drainTimeoutMs: 150_000,
    });
    const report = await audit(world);

    const created = world.proxies.s3.calls.filter((c) => c.operation === 'CreateMultipartUpload');
    expect(world.proxies.s3.fired('UploadPart')).toBe(2);
    // The cut upload and the one a later delivery finished.
    expect(created.length).toBeGreaterThanOrEqual(2);
    expect(report.problems).toEqual([]);
    expect(report.archived).toBe(report.eligible);
  });
});
