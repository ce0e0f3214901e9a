// The run summary folds the workers' outcome records, each read and validated, into the run record.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { readRunRecord, summarizeRun, writeOutcome, writeRunRecord } from '../../../shared/archive/state.ts';
import type { RunRecord } from '../../../shared/archive-format/documents.ts';
import { outcomeKey, runKey } from '../../../shared/archive-format/keys.ts';
import { listedRunRecord } from '../../support/run-record.ts';

const runId = '2026-11-26T02-00-00Z-a1b2c3';
const at = '2026-11-26T02:10:00.000Z';

function listed(): RunRecord {
  return listedRunRecord(runId);
}

describe('summarizeRun', () => {
  let root: string;
  let store: FsArchiveStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'amigo-qa-summarize-'));
    store = new FsArchiveStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('when one outcome record is unreadable, then it is counted as a failure with the reason and the others are summarised', async () => {
    // Arrange
    await writeRunRecord(store, listed());
    await writeOutcome(store, runId, { conversation_id: 'a', status: 'archived', audio_bytes: 10, at });
    await writeOutcome(store, runId, {
      conversation_id: 'b',
      status: 'archived',
      flags: ['num_messages_mismatch'],
      at,
    });
    await store.put(outcomeKey(runId, 'c'), JSON.stringify({ conversation_id: 'c', status: 'done', at }));

    // Act
    const summary = await summarizeRun(store, runId, Date.parse('2026-11-27T02:00:00.000Z'));

    // Assert
    expect(summary?.status).toBe('summarized');
    expect(summary?.archive).toMatchObject({
      archived: 2,
      failed: 1,
      numMessagesMismatch: 1,
      audioBytes: 10,
    });
    expect(summary?.num_messages_mismatches).toEqual(['b']);
    expect(summary?.failures).toEqual([
      { conversation_id: 'c', reason: expect.stringContaining('field status') },
    ]);
    expect(await readRunRecord(store, runId)).toEqual(summary);
  });

  it('when a newer version wrote fields this one does not know, then the summary keeps them', async () => {
    // Arrange
    await store.put(runKey(runId), JSON.stringify({ ...listed(), cost: { usd: 1.5 } }));

    // Act
    await summarizeRun(store, runId, Date.parse('2026-11-27T02:00:00.000Z'));

    // Assert
    expect(await readRunRecord(store, runId)).toMatchObject({ status: 'summarized', cost: { usd: 1.5 } });
  });
});
