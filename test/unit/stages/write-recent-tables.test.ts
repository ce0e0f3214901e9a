// The tables writer's round: one run whose documents cannot be read does not stop the others.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { outcomeKey, runKey } from '../../../shared/archive-format/keys.ts';
import { recentTablesFailure, writeRecentTables } from '../../../shared/stages/write-recent-tables.ts';
import { manualClock } from '../../support/manual-clock.ts';
import { listedRunRecord } from '../../support/run-record.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

describe('writeRecentTables', () => {
  it('when one run holds an unreadable outcome record, then the other run is written and the bad one is reported failed', async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), 'recent-tables-'));
    roots.push(root);
    const store = new FsArchiveStore(root);
    const good = '2026-11-26T02-00-00Z-aaaaaa';
    const bad = '2026-11-26T03-00-00Z-bbbbbb';
    for (const id of [good, bad]) await store.put(runKey(id), JSON.stringify(listedRunRecord(id)));
    await store.put(outcomeKey(bad, 'c1'), '{"conversation_id": 7}');

    // Act
    const result = await writeRecentTables(
      { store, clock: manualClock(Date.parse('2026-11-26T06:00:00Z')), log: silentTelemetry.log },
      { lookbackHours: 36 },
    );

    // Assert
    expect(result.failed).toEqual([bad]);
    expect(result.runs.map((r) => r.runId)).toEqual([good]);
    expect(recentTablesFailure(result)).toMatchObject({
      retryable: true,
      message: `The tables of run ${bad} could not be written`,
    });
  });

  it('when runs and the stall-only scans fail, then the failure names both; when nothing failed, there is none', () => {
    // Arrange
    const round = { runs: [], unreadable: [], failed: ['r1', 'r2'], scans: 'failed' as const };

    // Act
    const failure = recentTablesFailure(round);
    const none = recentTablesFailure({
      ...round,
      failed: [],
      scans: { parts: [], removed: [], conversations: 0, stalls: 0, ms: 0 },
    });

    // Assert
    expect(failure?.message).toBe(
      "The tables of 2 runs (r1, r2) and of the stall-only scans' stall records could not be written",
    );
    expect(failure?.context).toEqual({ runs: ['r1', 'r2'], scans: true });
    expect(none).toBeUndefined();
  });

  it('when it looks for recent runs, then it lists only the look-back days of runs/, and an older run is left alone', async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), 'recent-tables-'));
    roots.push(root);
    const fs = new FsArchiveStore(root);
    const old = '2026-11-20T02-00-00Z-cccccc';
    await fs.put(runKey(old), JSON.stringify(listedRunRecord(old)));
    await fs.put(outcomeKey(old, 'c1'), '{"conversation_id": 7}');
    const listed: string[] = [];
    const store = Object.assign(Object.create(fs) as FsArchiveStore, {
      list: (prefix: string) => {
        listed.push(prefix);
        return fs.list(prefix);
      },
    });

    // Act
    const result = await writeRecentTables(
      { store, clock: manualClock(Date.parse('2026-11-26T06:00:00Z')), log: silentTelemetry.log },
      { lookbackHours: 36 },
    );

    // Assert
    expect(listed).toEqual(['runs/2026-11-24', 'runs/2026-11-25', 'runs/2026-11-26', 'stalled/']);
    expect(result).toMatchObject({ runs: [], failed: [], scans: { parts: [] } });
  });
});
