// The QA report's overview data carries the latest run's budget outlook: what waited and the
// expected catch-up, from the run record alone (an archive with one run record and nothing else).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { writeRunRecord } from '../../../shared/archive/state.ts';
import type { RunOutlook } from '../../../shared/archive-format/documents.ts';
import { generateReport } from '../../../shared/report/generate.ts';
import { listedRunRecord } from '../../support/run-record.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), label));
  dirs.push(dir);
  return dir;
}

const outlook: RunOutlook = {
  at: '2026-11-26T02:01:00.000Z',
  from: '2026-11-26T01:01:00.000Z',
  period_hours: 1,
  arrivals_per_hour: 40,
  archived_per_hour: null,
  operations: {},
  arrivals: 40,
  archived: 50,
  backlog: 20,
  given_up: 0,
  oldest_waiting_since: '2026-11-26T00:00:00.000Z',
  bottleneck: 'get-interaction-insights',
  catch_up: 'estimated',
  catch_up_hours: 0.75,
  waiting_runs: [],
  partial: false,
};

describe('the report overview', () => {
  it('when the latest run record holds a budget outlook, then the overview data has its backlog and catch-up', async () => {
    const store = new FsArchiveStore(await tempDir('report-outlook-archive-'));
    await writeRunRecord(store, listedRunRecord('2026-11-26T02-00-00Z-aaaaaa', { outlook }));
    const out = await tempDir('report-outlook-out-');

    await generateReport(store, out);

    const sandbox: { self?: unknown; AMIGO_QA_REPORT?: { index: { runs: Array<{ outlook: unknown }> } } } =
      {};
    sandbox.self = sandbox;
    runInNewContext(await readFile(join(out, 'data', 'index.js'), 'utf8'), sandbox);
    expect(sandbox.AMIGO_QA_REPORT?.index.runs[0]?.outlook).toEqual({
      at: outlook.at,
      backlog: 20,
      oldest_waiting_since: outlook.oldest_waiting_since,
      bottleneck: 'get-interaction-insights',
      catch_up: 'estimated',
      catch_up_hours: 0.75,
    });
  });
});
