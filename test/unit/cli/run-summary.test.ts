import { describe, expect, it } from 'vitest';
import { printSummary } from '../../../cli/commands/run.ts';
import type { LocalCycleResult } from '../../../local/pipeline.ts';
import type { RunRecord } from '../../../shared/archive-format/documents.ts';
import { emptyStallCounts } from '../../../shared/stages/find-stalls.ts';

function result(
  overrides: { interrupted?: boolean; record?: Partial<RunRecord> } & Partial<
    Pick<LocalCycleResult, 'stalls' | 'stallScanFailed'>
  > = {},
): LocalCycleResult {
  const record: RunRecord = {
    run_id: 'run-2',
    organization_id: 'org',
    status: 'summarized',
    started_at: '2026-12-01T10:00:00.000Z',
    listed_at: '2026-12-01T10:00:01.000Z',
    summarized_at: '2026-12-01T10:00:09.000Z',
    cutoff: null,
    watermark: { previous: null, next: '2026-11-30T00:00:00.000Z' },
    scheduler: {
      listed: 4,
      enqueued: 2,
      alreadyArchived: 0,
      deferredUnanalyzed: 0,
      failedToEnqueue: 0,
      pages: 1,
      invocations: 1,
      recovered: 2,
      alreadyPending: 2,
      setAside: 0,
    },
    archive: {
      archived: 4,
      alreadyArchived: 0,
      duplicates: 0,
      failed: 0,
      numMessagesMismatch: 0,
      audioBytes: 0,
    },
    num_messages_mismatches: [],
    failures: [],
    set_aside: [],
    recovery: null,
    ...overrides.record,
  };
  return {
    runId: 'run-2',
    interrupted: overrides.interrupted ?? false,
    record,
    deadLetters: [],
    stalls: overrides.stalls,
    stallScanFailed: overrides.stallScanFailed,
    recommendations: {},
    tagging: undefined,
    archive: '/tmp/archive',
    seconds: 9.2,
  };
}

function print(r: LocalCycleResult): { ok: boolean; text: string } {
  const lines: string[] = [];
  const ok = printSummary(r, (l) => lines.push(l));
  return { ok, text: lines.join('\n') };
}

describe('the run summary', () => {
  it('when the run was interrupted, then it says so and the exit is a failure', () => {
    const { ok, text } = print(result({ interrupted: true }));

    expect(text).toMatch(
      /Run run-2 INTERRUPTED after 9\.2 s: what it had not archived, the next run archives/,
    );
    expect(ok).toBe(false);
  });

  it('when the run picked up what an earlier run left, then it names that run and how many', () => {
    const { ok, text } = print(
      result({
        record: {
          recovery: { fromRuns: { 'run-1': 2 }, givenUp: [], givenUpTotal: 0, invalid: [] },
        },
      }),
    );

    expect(text).toMatch(/recovered +2 conversation\(s\) that run run-1 did not finish/);
    expect(ok).toBe(true);
  });

  it('when conversations were given up or set aside, then each is listed with its reason and the exit is a failure', () => {
    const { ok, text } = print(
      result({
        record: {
          recovery: {
            fromRuns: {},
            givenUp: [{ conversation_id: 'c1', reason: 'AmigoRequestError: 403', runs: 3 }],
            givenUpTotal: 1,
            invalid: [],
          },
          set_aside: [{ id: 'bad id', reason: 'not a 24-character hex id' }],
        },
      }),
    );

    expect(text).toMatch(/GIVEN UP +1 conversation\(s\) failed in 3 runs/);
    expect(text).toMatch(/c1 \(3 runs\) AmigoRequestError: 403/);
    expect(text).toMatch(/SET ASIDE +"bad id": not a 24-character hex id/);
    expect(ok).toBe(false);
  });

  it('when the stall scan failed, then it says why beside what the scan had sent before, and the exit is a failure', () => {
    const { ok, text } = print(
      result({
        stalls: { ...emptyStallCounts(), unfinished: 14, enqueued: 3 },
        stallScanFailed: { code: 'QueueUnavailable', message: 'queue gone' },
      }),
    );

    expect(text).toMatch(/stalls +3 stalled interaction\(s\) found among 14 unfinished/);
    expect(text).toMatch(/stall scan +failed \(QueueUnavailable: queue gone\); the next run scans again/);
    expect(ok).toBe(false);
  });
});
