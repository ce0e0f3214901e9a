import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createProgress, type OutcomeStatus, observeOutcomes, progressLine } from '../../../cli/progress.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { writeOutcome } from '../../../shared/archive/state.ts';
import type { ScheduleResult } from '../../../shared/stages/schedule-archive.ts';

/** A non-terminal stream that keeps what was written, line by line. */
function lines(): { stream: Writable; lines: string[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines: out };
}

function listed(enqueued: number, status: 'listed' | 'handed-over' = 'listed'): ScheduleResult {
  const counts = {
    listed: enqueued,
    enqueued,
    alreadyArchived: 0,
    deferredUnanalyzed: 0,
    failedToEnqueue: 0,
    pages: 1,
    invocations: 1,
  };
  return status === 'listed'
    ? ({ status, runId: 'r1', counts, watermark: null } as unknown as ScheduleResult)
    : ({ status, runId: 'r1', counts, nextToken: 10 } as unknown as ScheduleResult);
}

/** Every "archive: done/total" line, as numbers. */
function progressOf(text: string[]): Array<{ done: number; total: number; failed: number; more: boolean }> {
  return text
    .filter((l) => l.startsWith('archive:'))
    .map((l) => {
      const m = /^archive: (\d+)\/(\d+)(\+?) done, (\d+) failed/.exec(l);
      if (!m) throw new Error(`not a progress line: ${l}`);
      return { done: Number(m[1]), total: Number(m[2]), more: m[3] === '+', failed: Number(m[4]) };
    });
}

describe('createProgress', () => {
  it('when conversations finish before the listing is reported, then the total is never below what is done', () => {
    const { stream, lines: out } = lines();
    const progress = createProgress(stream);

    progress.outcome('c1', 'archived');
    progress.outcome('c2', 'archived');
    progress.done();
    progress.listed(listed(5));
    progress.done();

    const seen = progressOf(out);
    for (const p of seen) expect(p.total).toBeGreaterThanOrEqual(p.done + p.failed);
    const beforeListing = out.slice(
      0,
      out.findIndex((l) => l.startsWith('listed ')),
    );
    expect(progressOf(beforeListing).at(-1)).toEqual({ done: 2, total: 2, failed: 0, more: true });
    expect(seen.at(-1)).toEqual({ done: 2, total: 5, failed: 0, more: false });
  });

  it('when a conversation fails, then it counts as failed, not done', () => {
    const { stream, lines: out } = lines();
    const progress = createProgress(stream);

    progress.listed(listed(3));
    progress.outcome('c1', 'archived');
    progress.outcome('c2', 'failed');
    progress.outcome('c3', 'already-archived');
    progress.done();

    expect(out.at(-1)).toBe('archive: 2/3 done, 1 failed');
  });

  it('when the same conversation is reported twice (a duplicate delivery), then it counts once', () => {
    const { stream, lines: out } = lines();
    const progress = createProgress(stream);

    progress.listed(listed(2));
    progress.outcome('c1', 'archived');
    progress.outcome('c1', 'already-archived');
    progress.done();

    expect(out.at(-1)).toBe('archive: 1/2 done, 0 failed');
  });

  it('when the listing is handed over, then the total says more may come until the last part is listed', () => {
    const { stream, lines: out } = lines();
    const progress = createProgress(stream);

    progress.listed(listed(10, 'handed-over'));
    expect(out.at(-1)).toBe('archive: 0/10+ done, 0 failed (still listing)');
    progress.listed(listed(25, 'listed'));
    expect(out.at(-1)).toBe('archive: 0/25 done, 0 failed');
  });
});

describe('observeOutcomes', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('when a worker writes an outcome through the store, then it is reported with its status, and other writes are not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'progress-'));
    dirs.push(dir);
    const seen: Array<[string, OutcomeStatus]> = [];
    const store = observeOutcomes(new FsArchiveStore(dir), (id, status) => seen.push([id, status]));

    await writeOutcome(store, 'run-1', { conversation_id: 'c1', status: 'archived', at: 'now' });
    await writeOutcome(store, 'run-1', { conversation_id: 'c2', status: 'failed', reason: 'x', at: 'now' });
    await store.put('runs/run-1.json', '{}');
    await store.put('conversations/org=o/c1/manifest.json', '{"status":"archived"}');

    expect(seen).toEqual([
      ['c1', 'archived'],
      ['c2', 'failed'],
    ]);
    expect(store.location).toBe(dir);
    expect((await store.get('runs/run-1/archive/c1.json'))?.body.toString()).toContain('"archived"');
  });
});

describe('progressLine while jobs wait for Amigo', () => {
  it('when jobs are put back, then the line says how many wait, for what and until when', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');

    const line = progressLine(
      { done: 3, failed: 0, total: 6, listingComplete: true },
      { jobs: 2, untilMs: now + 90_000, reason: '429 on get-interaction-insights, Retry-After 90 s' },
      now,
    );

    expect(line).toBe(
      `archive: 3/6 done, 0 failed; 2 waiting for Amigo (429 on get-interaction-insights, Retry-After 90 s) until ${new Date(now + 90_000).toTimeString().slice(0, 8)}`,
    );
  });

  it('when the wait is over, then the line no longer mentions it', () => {
    const now = Date.now();

    const line = progressLine(
      { done: 1, failed: 0, total: 2, listingComplete: true },
      { jobs: 1, untilMs: now - 1, reason: 'x' },
      now,
    );

    expect(line).toBe('archive: 1/2 done, 0 failed');
  });
});
