// Amigo faults through the simulator (sim/faults.ts), on the deployed handlers (issue #12):
// Retry-After as seconds and as an HTTP date, connections reset, requests that hang past the
// timeout, audio that stops mid-stream, signed URLs expiring mid-download. Each ends with the same
// audit (test/support/fault-audit.ts).
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptedFault } from '../../sim/index.ts';
import { audit } from '../support/fault-audit.ts';
import { type FaultWorld, startFaultWorld } from '../support/fault-world.ts';

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const times = (n: number, fault: ScriptedFault): ScriptedFault[] => Array.from({ length: n }, () => fault);

describe('Amigo faults', () => {
  it.each<[string, ScriptedFault[]]>([
    [
      '429 with Retry-After in seconds',
      times(3, { operation: 'get-interaction-insights', kind: 'status', status: 429, retryAfterSeconds: 1 }),
    ],
    [
      '503 with Retry-After as an HTTP date',
      times(3, {
        operation: 'get-conversation-messages',
        kind: 'status',
        status: 503,
        retryAfterSeconds: 2,
        retryAfterAs: 'http-date',
      }),
    ],
    [
      'connections reset',
      [
        ...times(2, { operation: 'get-conversation-messages', kind: 'reset' }),
        ...times(2, { operation: 'get-interaction-insights', kind: 'reset' }),
        { operation: 'recommend-responses-for-interaction', kind: 'reset' },
      ],
    ],
    [
      'requests that hang past the timeout',
      [
        { operation: 'get-conversation-messages', kind: 'delay', ms: 4_000 },
        { operation: 'get-interaction-insights', kind: 'delay', ms: 4_000 },
      ],
    ],
  ])(
    'when Amigo answers with %s, then every conversation is archived once and the audit is clean',
    async (_name, faults) => {
      world = await startFaultWorld({ amigo: { timeout: '2s' } });
      world.sim.control.enqueueFaults(faults);
      const handlers = await world.coldStart();

      await world.run(handlers);
      const report = await audit(world);
      const faulted = world.sim.control.stats().requests.filter((r) => r.fault !== undefined);

      expect(faulted.length).toBe(faults.length);
      expect(report.problems).toEqual([]);
      expect(report.archived).toBe(report.eligible);
      expect(report.deadLetters).toEqual([]);
    },
  );

  it.each<[string, ScriptedFault]>([
    ['a recording that stops mid-stream', { operation: 'audio', kind: 'audio-fail', afterBytes: 40_000 }],
    [
      'a signed URL that expires mid-download',
      { operation: 'audio', kind: 'audio-fail', afterBytes: 40_000, expireUrl: true },
    ],
  ])(
    'when Amigo serves %s, then the archived recording is whole (its sha256 is the one Amigo serves)',
    async (_name, fault) => {
      world = await startFaultWorld({
        sim: { audio: { largeRecordings: 1, largeRecordingBytes: 4 * 1024 * 1024 } },
      });
      world.sim.control.enqueueFaults([fault, fault]);
      const handlers = await world.coldStart();

      await world.run(handlers);
      const report = await audit(world);
      const audio = world.sim.control.stats().requests.filter((r) => r.operationId === 'audio');

      expect(audio.filter((r) => r.fault !== undefined)).toHaveLength(2);
      expect(report.problems).toEqual([]);
      expect(report.archived).toBe(report.eligible);
    },
  );
});
