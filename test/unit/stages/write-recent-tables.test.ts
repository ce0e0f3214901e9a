// The tables writer's round: one run whose documents cannot be read does not stop the others.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import type { RunRecord } from '../../../shared/archive-format/documents.ts';
import { outcomeKey, runKey } from '../../../shared/archive-format/keys.ts';
import { writeRecentTables } from '../../../shared/stages/write-recent-tables.ts';
import { manualClock } from '../../support/manual-clock.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

function runRecord(runId: string): RunRecord {
  return {
    run_id: runId,
    organization_id: 'acme',
    status: 'listed',
    started_at: '2026-11-26T02:00:00.000Z',
    listed_at: '2026-11-26T02:05:00.000Z',
    summarized_at: null,
    cutoff: null,
    watermark: { previous: null, next: null },
    scheduler: {
      listed: 0,
      enqueued: 0,
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
  };
}

describe('writeRecentTables', () => {
  it('when one run holds an unreadable outcome record, then the other run is written and the bad one is reported failed', async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), 'recent-tables-'));
    roots.push(root);
    const store = new FsArchiveStore(root);
    const good = '2026-11-26T02-00-00Z-aaaaaa';
    const bad = '2026-11-26T03-00-00Z-bbbbbb';
    for (const id of [good, bad]) await store.put(runKey(id), JSON.stringify(runRecord(id)));
    await store.put(outcomeKey(bad, 'c1'), '{"conversation_id": 7}');

    // Act
    const result = await writeRecentTables(
      { store, clock: manualClock(Date.parse('2026-11-26T06:00:00Z')), log: silentTelemetry.log },
      { lookbackHours: 36 },
    );

    // Assert
    expect(result.failed).toEqual([bad]);
    expect(result.runs.map((r) => r.runId)).toEqual([good]);
  });
});
