// A run record as the scheduler leaves it once the listing is done (status `listed`), for tests.
import type { RunRecord } from '../../shared/archive-format/documents.ts';

export function listedRunRecord(runId: string, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    run_id: runId,
    organization_id: 'acme',
    status: 'listed',
    started_at: '2026-11-26T02:00:00.000Z',
    listed_at: '2026-11-26T02:01:00.000Z',
    summarized_at: null,
    cutoff: null,
    watermark: { previous: null, next: '2026-11-25T00:00:00.000Z' },
    scheduler: {
      listed: 3,
      enqueued: 3,
      alreadyArchived: 0,
      deferredUnanalyzed: 0,
      failedToEnqueue: 0,
      pages: 1,
      invocations: 1,
      recovered: 0,
      alreadyPending: 0,
      setAside: 0,
    },
    archive: null,
    num_messages_mismatches: [],
    failures: [],
    ...overrides,
  };
}
