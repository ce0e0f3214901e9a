// The budget outlook as the scheduler takes it, from a folder archive: the usage documents of the
// runs whose jobs were out during the period, the pending markers now, and the previous outlook.
// Figures worked by hand: insights at 20 a minute is 1,200 calls an hour.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { NEVER_SENT, nextMarker, writePending } from '../../../shared/archive/pending.ts';
import {
  readOutlookState,
  readRunRecord,
  writeLastRun,
  writeOutlookState,
  writeRunRecord,
  writeRunUsage,
} from '../../../shared/archive/state.ts';
import type { RunOutlook, RunUsage } from '../../../shared/archive-format/documents.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../../../shared/jobs/archive.ts';
import type { ConversationInstance } from '../../../shared/openapi/index.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import type { Telemetry } from '../../../shared/ports/telemetry.ts';
import { takeOutlook } from '../../../shared/stages/budget-outlook.ts';
import { runScheduler, type SchedulerStart } from '../../../shared/stages/run-scheduler.ts';
import { clientFor } from '../../support/client.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { listedRunRecord } from '../../support/run-record.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const ORG = 'acme';
const OLDER = '2026-12-01T08-00-00Z-bbbbbb';
const PREVIOUS = '2026-12-01T10-00-00Z-aaaaaa';
const CURRENT = '2026-12-01T11-00-00Z-cccccc';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folderStore(): Promise<FsArchiveStore> {
  const root = await mkdtemp(join(tmpdir(), 'budget-outlook-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return new FsArchiveStore(root);
}

function usage(
  runId: string,
  to: string,
  insightsCalls: number,
  archive?: { calls: number; archived: number; waited?: number },
): RunUsage {
  return {
    ...(archive
      ? {
          archive_calls: { 'get-interaction-insights': { answered: archive.calls, throttled: 0 } },
          archived: archive.archived,
          ...(archive.waited === undefined
            ? {}
            : {
                archive_waits: {
                  'get-interaction-insights': { acquired: archive.calls, waited: archive.waited },
                },
              }),
        }
      : {}),
    schema: 'amigo-qa/run-usage',
    schema_version: 1,
    run_id: runId,
    source: 'archive-worker',
    from: to,
    to,
    calls: { 'get-interaction-insights': { answered: insightsCalls, throttled: 0 } },
    limits: { 'get-interaction-insights': { limit: 20, window_ms: 60_000 } },
  };
}

function conversation(n: number): ConversationInstance {
  return {
    id: n.toString(16).padStart(24, '0'),
    created_at: '2026-12-01T07:00:00.000Z',
    num_messages: 12,
    service_id: 'a'.repeat(24),
  } as ConversationInstance;
}

const previousOutlook: RunOutlook = {
  at: '2026-12-01T10:00:00.000Z',
  from: '2026-12-01T09:00:00.000Z',
  period_hours: 1,
  arrivals_per_hour: 40,
  archived_per_hour: null,
  operations: {},
  arrivals: 0,
  archived: null,
  backlog: 30,
  given_up: 0,
  oldest_waiting_since: null,
  bottleneck: null,
  catch_up: 'unknown',
  catch_up_hours: null,
  waiting_runs: [OLDER],
  partial: false,
};

/** Insights over a busy day: 600 calls an hour, 6 a conversation, half the budget. */
const INSIGHTS_BUSY_DAY = {
  calls: 600,
  limit: 20,
  window_ms: 60_000,
  budget_share: 0.5,
  calls_per_hour: 600,
  per_conversation: 6,
  archive_calls_per_hour: 600,
  other_calls_per_hour: 0,
  drain_calls_per_hour: null,
  drain_hours: 0,
  capacity_per_hour: 1_140,
};

describe('takeOutlook', () => {
  it('when an hour after the previous outlook 20 conversations wait and 900 insights calls were recorded, 800 of them by archive jobs that archived 50, then it reports the share, the backlog and a catch-up worked by hand', async () => {
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: previousOutlook }));
    // Jobs of the older run ran in the period; its document from before the period does not count.
    await writeRunUsage(
      store,
      [usage(OLDER, '2026-12-01T10:30:00.000Z', 600, { calls: 600, archived: 30, waited: 300 })],
      'a',
    );
    await writeRunUsage(
      store,
      [usage(OLDER, '2026-12-01T09:50:00.000Z', 999, { calls: 999, archived: 99, waited: 999 })],
      'b',
    );
    // 100 of the previous run's calls were a stall scan's.
    await writeRunUsage(
      store,
      [usage(PREVIOUS, '2026-12-01T10:40:00.000Z', 300, { calls: 200, archived: 20, waited: 100 })],
      'c',
    );
    const now = Date.parse('2026-12-01T11:00:00.000Z');
    await writePending(store, ORG, nextMarker(undefined, conversation(1), OLDER, now));
    for (let i = 2; i <= 20; i++)
      await writePending(store, ORG, nextMarker(undefined, conversation(i), PREVIOUS, now));
    await writePending(store, ORG, { ...nextMarker(undefined, conversation(21), OLDER, now), runs: 5 });

    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: PREVIOUS,
      arrivals: 40,
      now,
    });

    // archived = 30 + 20 (counted by the jobs); 800 / 50 = 16 a conversation; the other 100 calls
    // and the reserve while they hold: capacity = 0.95 x 1,200 - max(100, 240) = 900, 56.25
    // conversations an hour: the 20 waiting drain before the next run, in 20 / 56.25 = 0.36 h. Of
    // the period's 800 archive grants, 400 waited for the budget (under the 80% that would measure
    // the drain).
    expect(outlook).toMatchObject({
      from: '2026-12-01T10:00:00.000Z',
      period_hours: 1,
      operations: {
        'get-interaction-insights': {
          calls: 900,
          budget_share: 0.75,
          per_conversation: 16,
          other_calls_per_hour: 100,
          capacity_per_hour: 900,
          archive_waited_share: 0.5,
          drain_calls_per_hour: null,
        },
      },
      arrivals: 40,
      archived: 50,
      backlog: 20,
      given_up: 1,
      oldest_waiting_since: '2026-12-01T08:00:00.000Z',
      bottleneck: 'get-interaction-insights',
      catch_up: 'estimated',
      catch_up_hours: 0.36,
      waiting_runs: [OLDER, PREVIOUS],
      partial: false,
    });
  });

  it('when a usage document from before the archive jobs counted is in the period, then the archived count is not known and the outlook says unknown', async () => {
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: previousOutlook }));
    await writeRunUsage(store, [usage(PREVIOUS, '2026-12-01T10:40:00.000Z', 300)], 'c');
    await writePending(store, ORG, nextMarker(undefined, conversation(1), PREVIOUS, Date.now()));

    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: PREVIOUS,
      arrivals: 1,
      now: Date.parse('2026-12-01T11:00:00.000Z'),
    });

    expect(outlook).toMatchObject({ archived: null, backlog: 1, catch_up: 'unknown', partial: false });
    expect(outlook.operations['get-interaction-insights']?.calls).toBe(300);
  });

  it('when a quiet hour made no insights call, then insights keeps its day of averages, a 24th of the way towards none, and the catch-up is still estimated', async () => {
    const store = await folderStore();
    const busyDay: RunOutlook = {
      ...previousOutlook,
      archived_per_hour: 100,
      rates_hours: 24,
      operations: {
        'get-interaction-insights': INSIGHTS_BUSY_DAY,
      },
    };
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: busyDay }));
    await writePending(store, ORG, nextMarker(undefined, conversation(1), PREVIOUS, Date.now()));

    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: PREVIOUS,
      arrivals: 0,
      now: Date.parse('2026-12-01T11:00:00.000Z'),
    });

    // 600 x 23/24 = 575 calls and 100 x 23/24 = 95.833 conversations an hour: still 6 each.
    expect(outlook.operations['get-interaction-insights']).toMatchObject({
      calls: 0,
      archive_calls_per_hour: 575,
      per_conversation: 6,
    });
    expect(outlook.catch_up).toBe('estimated');
  });

  it('when time runs short while the usage documents are read, then the outlook is marked partial', async () => {
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: previousOutlook }));
    await writeRunUsage(
      store,
      [usage(PREVIOUS, '2026-12-01T10:40:00.000Z', 300, { calls: 300, archived: 10 })],
      'c',
    );
    // No markers wait, so the usage documents are the first thing read when time has run out.

    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: PREVIOUS,
      arrivals: 0,
      now: Date.parse('2026-12-01T11:00:00.000Z'),
      timeLeft: () => false,
    });

    expect(outlook.partial).toBe(true);
    expect(outlook.archived).toBeNull();
  });

  it('when there is no previous run and nothing was archived yet, then the share is reported and the catch-up is unknown', async () => {
    const store = await folderStore();
    await writePending(store, ORG, nextMarker(undefined, conversation(1), CURRENT, Date.now()));

    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: undefined,
      arrivals: 1,
      now: Date.parse('2026-12-01T11:30:00.000Z'),
    });

    expect(outlook).toMatchObject({ period_hours: 0.5, archived: 0, backlog: 1, catch_up: 'unknown' });
  });
});

describe('takeOutlook carrying on', () => {
  const busyDay: RunOutlook = {
    ...previousOutlook,
    arrivals_per_hour: 40,
    arrivals_hours: 24,
    archived_per_hour: 100,
    rates_hours: 24,
    operations: {
      'get-interaction-insights': INSIGHTS_BUSY_DAY,
    },
  };
  const take = (store: FsArchiveStore, extra: { reserveShare?: number } = {}) =>
    takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T11:00:00.000Z',
      previousRunId: PREVIOUS,
      arrivals: 0,
      now: Date.parse('2026-12-01T11:00:00.000Z'),
      ...extra,
    });

  it('when the previous run’s outlook failed, then this one carries on from the last outlook taken, not from nothing', async () => {
    // Arrange: the older run's outlook was taken and kept; the previous run's failed (null).
    const store = await folderStore();
    await writeOutlookState(store, ORG, { run_id: OLDER, outlook: busyDay });
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: null }));
    await writePending(store, ORG, nextMarker(undefined, conversation(1), PREVIOUS, Date.now()));

    // Act
    const outlook = await take(store);

    // Assert: the period runs from the kept outlook, and a day of averages stands behind it.
    expect(outlook).toMatchObject({
      from: busyDay.at,
      period_hours: 1,
      arrivals_hours: 24,
      rates_hours: 24,
      catch_up: 'estimated',
    });
    expect(outlook.operations['get-interaction-insights']?.per_conversation).toBe(6);
  });

  it('when a worker’s usage ends 10 s before the outlook (inside the settle) and its run has no marker left, then that outlook leaves it and the next still reads the run and counts it, once', async () => {
    // Arrange: a document ending 10 s before 11:00, and one written while the outlook scanned
    // (11:00:05); the previous run's last marker has cleared, so only usage_runs names it next time.
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: busyDay }));
    await writeRunUsage(
      store,
      [usage(PREVIOUS, '2026-12-01T10:59:50.000Z', 60, { calls: 60, archived: 10 })],
      'a',
    );
    await writeRunUsage(
      store,
      [usage(PREVIOUS, '2026-12-01T11:00:05.000Z', 6, { calls: 6, archived: 1 })],
      'b',
    );

    // Act
    const first = await take(store);
    await writeRunRecord(store, listedRunRecord(CURRENT, { outlook: first }));
    const second = await takeOutlook(store, {
      organizationId: ORG,
      runId: '2026-12-01T12-00-00Z-dddddd',
      runStartedAt: '2026-12-01T12:00:00.000Z',
      previousRunId: CURRENT,
      arrivals: 0,
      now: Date.parse('2026-12-01T12:00:00.000Z'),
    });

    // Assert
    expect(first.archived).toBe(0);
    expect(first.operations['get-interaction-insights']?.calls).toBe(0);
    expect(second.archived).toBe(11);
    expect(second.operations['get-interaction-insights']?.calls).toBe(66);
  });

  it('when 3 conversations of this run (one never sent) and 2 of the previous wait, then the catch-up is for the 2 and the unsent one; on the first outlook, for all 5', async () => {
    // Arrange
    const store = await folderStore();
    const at = Date.parse('2026-12-01T11:00:00.000Z');
    for (let i = 1; i <= 2; i++)
      await writePending(store, ORG, nextMarker(undefined, conversation(i), PREVIOUS, at));
    for (let i = 3; i <= 4; i++)
      await writePending(store, ORG, nextMarker(undefined, conversation(i), CURRENT, at));
    await writePending(store, ORG, {
      ...nextMarker(undefined, conversation(5), CURRENT, at),
      enqueued_at: NEVER_SENT,
    });
    const first = await take(store);
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: busyDay }));

    // Act
    const later = await take(store);

    // Assert
    expect(first).toMatchObject({ backlog: 5, catch_up_backlog: 5 });
    expect(later).toMatchObject({ backlog: 5, catch_up_backlog: 3 });
  });

  it('when it is the first outlook, then a document that ended 10 s before it counts: there is no earlier period to hand it on from, and it reads to its own time', async () => {
    // Arrange: no previous outlook anywhere
    const store = await folderStore();
    await writeRunUsage(
      store,
      [usage(CURRENT, '2026-12-01T10:59:50.000Z', 60, { calls: 60, archived: 10 })],
      'a',
    );

    // Act: a run that started at 10:50
    const outlook = await takeOutlook(store, {
      organizationId: ORG,
      runId: CURRENT,
      runStartedAt: '2026-12-01T10:50:00.000Z',
      previousRunId: undefined,
      arrivals: 0,
      now: Date.parse('2026-12-01T11:00:00.000Z'),
    });

    // Assert
    expect(outlook.archived).toBe(10);
    expect(outlook.usage_until).toBe('2026-12-01T11:00:00.000Z');
  });

  it('when an outlook is taken, then it is kept as the organisation’s last outlook', async () => {
    // Arrange
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: busyDay }));

    // Act
    const outlook = await take(store);

    // Assert
    expect(await readOutlookState(store, ORG)).toEqual({ run_id: CURRENT, outlook });
  });

  it('when amigo.priorityReserve is 0.8 and other callers used insights, then the capacity leaves them 0.8 of the limit', async () => {
    // Arrange: 300 calls in the hour, 200 of them the archive jobs' (20 archived): 100 others.
    const store = await folderStore();
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { outlook: previousOutlook }));
    await writeRunUsage(
      store,
      [usage(PREVIOUS, '2026-12-01T10:40:00.000Z', 300, { calls: 200, archived: 20 })],
      'c',
    );

    // Act
    const configured = await take(store, { reserveShare: 0.8 });
    const byDefault = await take(store);

    // Assert: 0.95 x 1,200 - max(100, 0.8 x 1,200) = 180; by default - max(100, 240) = 900.
    expect(configured.operations['get-interaction-insights']?.capacity_per_hour).toBe(180);
    expect(byDefault.operations['get-interaction-insights']?.capacity_per_hour).toBe(900);
  });

  it('when the stored previous outlook’s time cannot be parsed, then the period runs from the previous listing and no figure is NaN', async () => {
    // Arrange
    const store = await folderStore();
    const record = listedRunRecord(PREVIOUS, { outlook: { ...busyDay, at: 'not a time' } });
    await writeRunRecord(store, record);

    // Act
    const outlook = await take(store);

    // Assert
    expect(outlook.from).toBe(record.listed_at);
    expect(Number.isFinite(outlook.period_hours)).toBe(true);
    expect(outlook.period_hours).toBeGreaterThan(0);
  });
});

describe('the scheduler and its outlook', () => {
  it('when a listing finishes, then the run record holds the outlook, one log line says it and the metrics carry it; only a full-lookback listing counts as the freshness heartbeat', async () => {
    const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 12 });
    cleanups.push(() => sim.stop());
    const store = await folderStore();
    const lines: Array<{ message: string; extra: Record<string, unknown> | undefined }> = [];
    const metrics: Array<{ name: string; value: number; operation?: string }> = [];
    const telemetry: Telemetry = {
      log: {
        debug: () => {},
        info: (message, ...extra) => {
          lines.push({ message, extra: extra[0] });
        },
        warn: (message, ...extra) => {
          lines.push({ message, extra: extra[0] });
        },
        error: () => {},
      },
      metrics: {
        addMetric: (name, _unit, value) => metrics.push({ name, value }),
        singleMetric: () => {
          let operation: string | undefined;
          return {
            addDimension: (_name, value) => {
              operation = value;
            },
            addMetric: (name, _unit, value) =>
              metrics.push({ name, value, ...(operation ? { operation } : {}) }),
          };
        },
      },
    };
    await writeLastRun(store, sim.organizationId, PREVIOUS);
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { organization_id: sim.organizationId }));
    // Its calls ended 10 minutes ago: before the outlook's usage period ends (USAGE_SETTLE_MS).
    await writeRunUsage(store, [usage(PREVIOUS, new Date(Date.now() - 10 * 60_000).toISOString(), 12)], 'a');
    const jobs = new MemoryQueue<ArchiveJobMessage>();

    const schedule = (start: SchedulerStart) =>
      runScheduler(start, {
        amigo: clientFor(sim),
        store,
        jobs,
        continuation: new MemoryQueue<ContinueListingMessage>(),
        clock: systemClock,
        options: { organizationId: sim.organizationId, lookbackMs: 86_400_000 },
        telemetry,
        remainingTimeMs: () => 900_000,
      });

    const output = await schedule({ kind: 'invoke', tasks: ['archive'] });

    const runId = output.archive[0]?.runId as string;
    const record = await readRunRecord(store, runId);
    expect(record?.outlook?.backlog).toBe(jobs.jobs.length);
    expect(record?.outlook?.backlog).toBeGreaterThan(0);
    expect(record?.outlook?.operations['get-interaction-insights']?.calls).toBe(12);
    const line = lines.find((l) => l.message === 'Budget outlook');
    expect(line?.extra).toMatchObject({
      runId,
      backlog: jobs.jobs.length,
      catchUp: record?.outlook?.catch_up,
    });
    expect(metrics).toContainEqual({ name: 'Backlog', value: jobs.jobs.length });
    expect(metrics).toContainEqual({
      name: 'BudgetUsedShare',
      value: record?.outlook?.operations['get-interaction-insights']?.budget_share,
      operation: 'get-interaction-insights',
    });
    expect(metrics).toContainEqual({ name: 'ListingsCompleted', value: 1 });

    // An hourly run's short listing is not the freshness alarm's heartbeat.
    metrics.length = 0;
    const hourly = await schedule({ kind: 'invoke', tasks: ['archive'], lookbackMs: 3_600_000 });
    expect(hourly.archive[0]?.status).toBe('listed');
    expect(metrics.map((m) => m.name)).not.toContain('ListingsCompleted');
  });

  it('when the scheduler is given the reserve 0.8 in its options, then its outlook’s capacity leaves 0.8 of the limit to the other callers', async () => {
    // Arrange: the previous run's jobs made 200 insights calls for 20 conversations, others 100.
    const sim = await startTestSimulator({ rateLimits: { enabled: false }, conversations: 3 });
    cleanups.push(() => sim.stop());
    const store = await folderStore();
    await writeLastRun(store, sim.organizationId, PREVIOUS);
    await writeRunRecord(store, listedRunRecord(PREVIOUS, { organization_id: sim.organizationId }));
    await writeRunUsage(
      store,
      [usage(PREVIOUS, new Date(Date.now() - 10 * 60_000).toISOString(), 300, { calls: 200, archived: 20 })],
      'a',
    );

    // Act
    const output = await runScheduler(
      { kind: 'invoke', tasks: ['archive'] },
      {
        amigo: clientFor(sim),
        store,
        jobs: new MemoryQueue<ArchiveJobMessage>(),
        continuation: new MemoryQueue<ContinueListingMessage>(),
        clock: systemClock,
        options: { organizationId: sim.organizationId, lookbackMs: 86_400_000, reserveShare: 0.8 },
        telemetry: {
          log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
          metrics: {
            addMetric: () => {},
            singleMetric: () => ({ addDimension: () => {}, addMetric: () => {} }),
          },
        },
        remainingTimeMs: () => 900_000,
      },
    );

    // Assert: the period is days long, so the others' calls an hour are far under 0.8 x 1,200:
    // 0.95 x 1,200 - 960 = 180 (900 with the default 0.2).
    const record = await readRunRecord(store, output.archive[0]?.runId as string);
    expect(record?.outlook?.operations['get-interaction-insights']?.capacity_per_hour).toBe(180);
  });
});
