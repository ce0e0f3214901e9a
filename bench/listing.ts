// Benchmark: listing many finished conversations through scheduler hand-overs (issue #12).
//
//   npm run bench:listing [-- --counts 10000,50000,100000 --timeout-ms 30000 --min-remaining-ms 15000 --run lambda|source]
//
// For each count: the simulator (in this process, no rate limits, every conversation finished and
// analyzed) and the embedded S3/SQS emulator (fauxqs, in this process); the scheduler handler in a
// child process run as Lambda runs it (bench/listing-child.ts, bundled with the stack's options and
// started with Lambda's flags for the scheduler's memory), with a short function timeout so that it
// hands the listing over to its next invocation many times. Reports peak RSS per invocation and over
// the run, the heap each invocation leaves behind, hand-overs, our own CPU time per conversation and
// the S3/SQS requests per conversation; then checks every conversation was enqueued exactly once.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { childArgv, type ListingResult, runListing } from './listing-run.ts';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '10000,50000,100000' },
    'timeout-ms': { type: 'string', default: '30000' },
    'min-remaining-ms': { type: 'string', default: '15000' },
    run: { type: 'string', default: 'lambda' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results/listing.json' },
  },
});
const run = String(values.run);
if (run !== 'lambda' && run !== 'source') throw new Error(`--run is lambda or source, not ${run}`);
const counts = String(values.counts).split(',').map(Number);
const timeoutMs = Number(values['timeout-ms']);
const minRemainingMs = Number(values['min-remaining-ms']);

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => round(bytes / 1_048_576);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function summarize(r: ListingResult) {
  const inv = r.invocations;
  const third = Math.max(1, Math.floor(inv.length / 3));
  const heaps = inv.map((i) => i.heapAfterGcBytes ?? 0);
  const cpuMs = inv.reduce((s, i) => s + i.cpuMs, 0);
  const wallMs = inv.reduce((s, i) => s + i.wallMs, 0);
  const requests = Object.values(r.requests).reduce((s, n) => s + n, 0);
  return {
    conversations: r.count,
    invocations: inv.length,
    handOvers: inv.length - 1,
    pages: r.counts.pages ?? 0,
    enqueued: r.counts.enqueued ?? 0,
    enqueuedExactlyOnce: r.enqueuedMessages === r.count && r.enqueuedDistinct === r.count,
    peakRssMiB: round(r.maxRssKiB / 1024),
    baselineRssMiB: round(r.baselineMaxRssKiB / 1024),
    invocationPeakRssMiB: {
      firstThirdMax: mib(Math.max(...inv.slice(0, third).map((i) => i.peakRssBytes))),
      lastThirdMax: mib(Math.max(...inv.slice(-third).map((i) => i.peakRssBytes))),
      median: mib(median(inv.map((i) => i.peakRssBytes))),
    },
    heapAfterGcMiB: { first: mib(heaps[0] ?? 0), last: mib(heaps.at(-1) ?? 0) },
    cpuMsPerConversation: round(cpuMs / r.count, 3),
    handlerWallMsPerConversation: round(wallMs / r.count, 3),
    requestsPerConversation: round(requests / r.count, 3),
    requestsByCommand: Object.fromEntries(
      Object.entries(r.requests).map(([name, n]) => [
        name,
        { total: n, perConversation: round(n / r.count, 3) },
      ]),
    ),
    wallSeconds: round(r.wallSeconds),
  };
}

// Written after every count, so a long run's first figures survive an interruption.
function write() {
  writeFileSync(
    String(values.out),
    `${JSON.stringify(
      {
        benchmark: 'listing',
        date: new Date().toISOString(),
        node: process.version,
        configuration: { counts, timeoutMs, minRemainingMs, run, seed: Number(values.seed) },
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
}

const folder = await mkdtemp(join(tmpdir(), 'amigo-qa-bench-listing-bundle-'));
const rows: ReturnType<typeof summarize>[] = [];
let argv: string[] = [];
try {
  argv = await childArgv(run, folder);
  for (const count of counts) {
    console.log(`Listing ${count} conversations...`);
    const row = summarize(
      await runListing({ count, timeoutMs, minRemainingMs, seed: Number(values.seed), childArgv: argv }),
    );
    rows.push(row);
    console.log(JSON.stringify(row));
    write();
  }
} finally {
  await rm(folder, { recursive: true, force: true });
}

console.log(
  `\nListing through hand-overs (child run as ${run}: ${argv.join(' ').replaceAll(folder, '<tmp>')}; timeout ${timeoutMs} ms, hand-over below ${minRemainingMs} ms)\n`,
);
console.table(
  rows.map((r) => ({
    conversations: r.conversations,
    'hand-overs': r.handOvers,
    'peak RSS MiB': r.peakRssMiB,
    'invocation peak MiB first/last third': `${r.invocationPeakRssMiB.firstThirdMax} / ${r.invocationPeakRssMiB.lastThirdMax}`,
    'heap after GC MiB first/last': `${r.heapAfterGcMiB.first} / ${r.heapAfterGcMiB.last}`,
    'CPU ms/conv': r.cpuMsPerConversation,
    'requests/conv': r.requestsPerConversation,
    'exactly once': r.enqueuedExactlyOnce,
  })),
);
console.log(`Wrote ${values.out}`);
if (!rows.every((r) => r.enqueuedExactlyOnce)) process.exitCode = 1;
