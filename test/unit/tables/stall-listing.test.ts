// Which stall records the tables writer lists and reads: the cost of a run's parts, or of a rebuild
// from a day on, must follow what the run or the window can hold, not the organisation's history.
// A real folder store, wrapped to note the prefixes it is asked to list and the keys it is asked to
// read; a record's age is its file's modification time, which the listing reports.
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { prettyJson, type StallRecord } from '../../../shared/archive-format/documents.ts';
import { runKey, stallKey } from '../../../shared/archive-format/keys.ts';
import { MessageIdSchema, newRunId } from '../../../shared/ids.ts';
import type { ArchiveStore } from '../../../shared/ports/archive-store.ts';
import { writeRecentTables } from '../../../shared/stages/write-recent-tables.ts';
import { rebuildTables, writeRunTables, writeScanStallTables } from '../../../shared/stages/write-tables.ts';
import { manualClock } from '../../support/manual-clock.ts';
import { listedRunRecord } from '../../support/run-record.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';

const NOW = Date.parse('2026-11-26T06:00:00Z');
const RUN_STARTED = Date.parse('2026-11-26T02:00:00Z');
const RUN = newRunId(RUN_STARTED, () => 0.5);
const EARLIER_RUN = newRunId(Date.parse('2026-11-12T02:00:00Z'), () => 0.25);

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

function record(org: string, createdAt: string, conversation: string, runId: string | null): StallRecord {
  return {
    schema: 'amigo-qa/stall-record',
    schema_version: 1,
    status: 'recommended',
    organization_id: org,
    conversation_id: conversation,
    interaction_id: `${conversation}-i`,
    service_id: 's1',
    conversation_created_at: createdAt,
    run_id: runId,
    requested_at: new Date(RUN_STARTED + 60_000).toISOString(),
    answered_at: new Date(RUN_STARTED + 61_000).toISOString(),
    context: null,
    recommended_responses: ['Are you still there?'],
    last_agent_message: {
      id: MessageIdSchema.parse('a'.repeat(24)),
      created_at: createdAt,
      message: 'How can I help?',
      format: 'text',
    },
    num_messages: 4,
  };
}

/** A folder archive with stall records, each written (its file's mtime) when `writtenAt` says. */
async function archive(
  records: ReadonlyArray<{ record: StallRecord; writtenAt: number }>,
): Promise<{ root: string; keys: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'stall-listing-'));
  roots.push(root);
  const fs = new FsArchiveStore(root);
  const keys: string[] = [];
  for (const { record: r, writtenAt } of records) {
    const key = stallKey(r.organization_id, r.conversation_created_at, r.conversation_id, r.interaction_id);
    await fs.put(key, prettyJson(r));
    await utimes(join(root, ...key.split('/')), writtenAt / 1000, writtenAt / 1000);
    keys.push(key);
  }
  return { root, keys };
}

/** The store over `root`, noting what it is asked to list and to read under `stalled/`. */
function noting(root: string) {
  const fs = new FsArchiveStore(root);
  const listed: string[] = [];
  const read: string[] = [];
  const store: ArchiveStore = {
    location: fs.location,
    list: (prefix) => {
      if (prefix.startsWith('stalled/')) listed.push(prefix);
      return fs.list(prefix);
    },
    get: (key) => {
      if (key.startsWith('stalled/')) read.push(key);
      return fs.get(key);
    },
    getStream: (key) => fs.getStream(key),
    head: (key) => fs.head(key),
    put: (key, body, options) => fs.put(key, body, options),
    putStream: (key, body, options) => fs.putStream(key, body, options),
    delete: (key) => fs.delete(key),
  };
  return { store, listed, read };
}

const deps = (store: ArchiveStore) => ({ store, clock: manualClock(NOW), log: silentTelemetry.log });

describe("the tables writer's stall records", () => {
  it('when a run writes its parts, then it reads only the records written since it started, of any conversation day', async () => {
    // Arrange: an old conversation found stalled by this run, and older records of an earlier run.
    const { root, keys } = await archive([
      {
        record: record('acme', '2026-10-02T09:00:00Z', 'c-old-found-now', RUN),
        writtenAt: RUN_STARTED + 60_000,
      },
      {
        record: record('acme', '2026-11-10T09:00:00Z', 'c-earlier-1', EARLIER_RUN),
        writtenAt: Date.parse('2026-11-12T03:00:00Z'),
      },
      {
        record: record('acme', '2026-11-11T09:00:00Z', 'c-earlier-2', EARLIER_RUN),
        writtenAt: Date.parse('2026-11-12T03:00:00Z'),
      },
      { record: record('acme', '2026-11-25T23:00:00Z', 'c-today', RUN), writtenAt: RUN_STARTED + 120_000 },
    ]);
    const { store, listed, read } = noting(root);

    // Act
    const result = await writeRunTables(deps(store), { organizationId: 'acme', runId: RUN });

    // Assert
    expect(listed).toEqual(['stalled/org=acme/']);
    expect(read).toEqual([keys[0], keys[3]]);
    expect(result.stalls).toBe(2);
    expect(result.parts.filter((p) => p.table === 'stalls').map((p) => p.key)).toEqual([
      `tables/stalls/org=acme/date=2026-10-02/${RUN}.parquet`,
      `tables/stalls/org=acme/date=2026-11-25/${RUN}.parquet`,
    ]);
  });

  it("when a record of the run was written just before the run's id says it started, then the clock skew allowance still reads it", async () => {
    const { root, keys } = await archive([
      {
        record: record('acme', '2026-11-20T09:00:00Z', 'c-skewed', RUN),
        writtenAt: RUN_STARTED - 5 * 60_000,
      },
    ]);
    const { store, read } = noting(root);

    const result = await writeRunTables(deps(store), { organizationId: 'acme', runId: RUN });

    expect(read).toEqual(keys);
    expect(result.stalls).toBe(1);
  });

  it('when the run id does not say when the run started, then every record of the organisation is read', async () => {
    const { root, keys } = await archive([
      {
        record: record('acme', '2026-11-10T09:00:00Z', 'c-earlier', EARLIER_RUN),
        writtenAt: RUN_STARTED - 86_400_000,
      },
      { record: record('acme', '2026-11-20T09:00:00Z', 'c-named', 'nightly-run-7'), writtenAt: RUN_STARTED },
    ]);
    const { store, read } = noting(root);

    const result = await writeRunTables(deps(store), { organizationId: 'acme', runId: 'nightly-run-7' });

    expect(read).toEqual(keys);
    expect(result.stalls).toBe(1);
  });

  it("when an organisation's tables are rebuilt from a day on, then only the stall records of the days from then to today are listed", async () => {
    const { root, keys } = await archive([
      { record: record('acme', '2026-10-02T09:00:00Z', 'c-before', EARLIER_RUN), writtenAt: RUN_STARTED },
      { record: record('acme', '2026-11-24T09:00:00Z', 'c-in', RUN), writtenAt: RUN_STARTED },
      { record: record('other', '2026-11-24T09:00:00Z', 'c-other', RUN), writtenAt: RUN_STARTED },
    ]);
    const { store, listed, read } = noting(root);

    const result = await rebuildTables(deps(store), { organizationId: 'acme', since: '2026-11-23' });

    expect(listed).toEqual([
      'stalled/org=acme/date=2026-11-23/',
      'stalled/org=acme/date=2026-11-24/',
      'stalled/org=acme/date=2026-11-25/',
      'stalled/org=acme/date=2026-11-26/',
    ]);
    expect(read).toEqual([keys[1]]);
    expect(result.stalls).toBe(1);
  });

  it('when every organisation is rebuilt from a day on, then records of earlier days are listed but never read', async () => {
    const { root, keys } = await archive([
      { record: record('acme', '2026-10-02T09:00:00Z', 'c-before', EARLIER_RUN), writtenAt: RUN_STARTED },
      { record: record('acme', '2026-11-24T09:00:00Z', 'c-in', RUN), writtenAt: RUN_STARTED },
      { record: record('other', '2026-11-24T09:00:00Z', 'c-other', RUN), writtenAt: RUN_STARTED },
    ]);
    const { store, listed, read } = noting(root);

    const result = await rebuildTables(deps(store), { since: '2026-11-23' });

    expect(listed).toEqual(['stalled/']);
    expect(read).toEqual([keys[1], keys[2]]);
    expect(result.stalls).toBe(2);
  });

  it("when the stall-only scans (no run) wrote records since the round's start, then each of their dates' manual part is rewritten with all of that date's run-less records, as a rebuild writes it", async () => {
    // Arrange: scan records of two dates, one written now and one long ago, and a run's record.
    const roundFrom = NOW - 36 * 3_600_000;
    const { root, keys } = await archive([
      {
        record: record('acme', '2026-11-20T09:00:00Z', 'c-scan-old', null),
        writtenAt: roundFrom - 86_400_000,
      },
      { record: record('acme', '2026-11-20T10:00:00Z', 'c-scan-new', null), writtenAt: NOW - 60_000 },
      { record: record('acme', '2026-11-20T11:00:00Z', 'c-run', RUN), writtenAt: NOW - 60_000 },
      {
        record: record('acme', '2026-11-02T09:00:00Z', 'c-scan-untouched', null),
        writtenAt: roundFrom - 86_400_000,
      },
    ]);
    const { store, read } = noting(root);

    // Act
    const round = await writeScanStallTables(deps(store), { writtenFrom: roundFrom });
    const rebuilt = await rebuildTables(deps(new FsArchiveStore(root)), { organizationId: 'acme' });

    // Assert: one date touched; its part holds both run-less records of that date, not the run's.
    const manual = 'tables/stalls/org=acme/date=2026-11-20/manual.parquet';
    expect(round.parts.map((p) => [p.key, p.rows])).toEqual([[manual, 2]]);
    expect(read).not.toContain(keys[3]);
    const fs = new FsArchiveStore(root);
    const rebuiltManual = rebuilt.parts.find((p) => p.key === manual);
    expect(rebuiltManual?.rows).toBe(2);
    expect(rebuilt.parts.map((p) => p.key)).toContain(
      'tables/stalls/org=acme/date=2026-11-02/manual.parquet',
    );
    expect((await fs.get(manual))?.body).toEqual(await partBytesAfterRound(root, roundFrom));
  });

  it('when no record was written since the round started, then no stall record is read and nothing is written', async () => {
    const roundFrom = NOW - 36 * 3_600_000;
    const { root } = await archive([
      {
        record: record('acme', '2026-11-20T09:00:00Z', 'c-scan-old', null),
        writtenAt: roundFrom - 86_400_000,
      },
    ]);
    const { store, read } = noting(root);

    const round = await writeScanStallTables(deps(store), { writtenFrom: roundFrom });

    expect(read).toEqual([]);
    expect(round.parts).toEqual([]);
  });

  it("when a round writes several runs' parts (a run an hour), then the organisation's stall records are listed once and each record is read once", async () => {
    // Arrange: three runs of the last hours, each with a stall record, all written within the round.
    const runs = [1, 2, 3].map((h) => newRunId(Date.parse(`2026-11-26T0${h}:00:00Z`), () => h / 10));
    const { root, keys } = await archive(
      runs.map((run, i) => ({
        record: record('acme', `2026-11-2${i}T09:00:00Z`, `c-${i}`, run),
        writtenAt: NOW - 60_000,
      })),
    );
    const setup = new FsArchiveStore(root);
    for (const run of runs) await setup.put(runKey(run), JSON.stringify(listedRunRecord(run)));
    const { store, listed, read } = noting(root);

    // Act
    const round = await writeRecentTables(deps(store), { lookbackHours: 36 });

    // Assert: each run got its own record, from one listing and one read per record.
    expect(round.runs.map((r) => [r.runId, r.result.stalls])).toEqual(runs.map((run) => [run, 1]));
    expect(listed.filter((p) => p === 'stalled/org=acme/')).toHaveLength(1);
    expect([...read].sort()).toEqual([...keys].sort());
  });
});

/** The bytes the round writes for 2026-11-20 on the same archive (a second round: deterministic). */
async function partBytesAfterRound(root: string, roundFrom: number): Promise<Uint8Array | undefined> {
  await writeScanStallTables(deps(new FsArchiveStore(root)), { writtenFrom: roundFrom });
  return (await new FsArchiveStore(root).get('tables/stalls/org=acme/date=2026-11-20/manual.parquet'))?.body;
}
