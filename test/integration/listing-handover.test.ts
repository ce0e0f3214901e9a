// The small setting of `npm run bench:listing` (bench/listing.ts): the scheduler handler in its own
// process lists an organisation through many hand-overs (one page an invocation) against the
// simulator and the embedded S3/SQS emulator, and every message of the archive queue is read back.
import { describe, expect, it } from 'vitest';
import { childArgv, runListing } from '../../bench/listing-run.ts';

const CONVERSATIONS = 60;
const PAGE = 10;

describe('listing through scheduler hand-overs', () => {
  it('when the listing is handed over after every page, then every conversation is enqueued exactly once and the heap the container keeps stays within a few MiB of what the first invocation kept', async () => {
    // A hand-over after every page: the time left is always under the threshold.
    const settings = { timeoutMs: 60_000, minRemainingMs: 59_990, pageSize: PAGE };

    const result = await runListing({
      ...settings,
      count: CONVERSATIONS,
      childArgv: await childArgv('source', ''),
    });

    expect(result.enqueuedMessages).toBe(CONVERSATIONS);
    expect(result.enqueuedDistinct).toBe(CONVERSATIONS);
    expect(result.counts.enqueued).toBe(CONVERSATIONS);
    expect(result.invocations.length).toBeGreaterThanOrEqual(CONVERSATIONS / PAGE);
    const heaps = result.invocations.map((i) => i.heapAfterGcBytes as number);
    // A coarse bound: the first invocations grow the heap by about 100 KiB each while V8 warms up
    // (compiled code, inline caches); the flatness figure is the benchmark's, at 10,000 and more.
    expect(heaps.every((h) => h > 0)).toBe(true);
    expect((heaps.at(-1) as number) - (heaps[0] as number)).toBeLessThan(4 * 1_048_576);
  });
});
