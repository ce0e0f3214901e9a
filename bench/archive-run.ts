// Benchmark: one whole local nightly cycle against the rate-limit bound, then the same workload with
// a naive client for comparison.
//
//   npm run bench:archive-run [-- --seed 1 --conversations 60 --long 1 --rate-scale 60 --workers 4 --latency 5,40]
//
// The simulator serves a seeded organisation (--conversations, one conversation of 500+ messages,
// small recordings only) with every published limit enforced per 60 s / --rate-scale and random
// latency on every request. `runLocalCycle` (the Lambda handlers over the embedded SQS emulator,
// --workers archive invocations at once) archives it into a temp folder. Per operation:
//   calls   requests the simulator counted against the limit (everything but 429s);
//   bound   calls x window / limit: the least time those calls need at that limit;
// the bottleneck is the operation with the largest bound, and
//   efficiency = bottleneck bound / the run's wall time
// (1.0 = the run went exactly as fast as the scarcest limit allows). 429 share = 429s / requests.
// Then the same workload (same seed, same simulated clock start) with a naive client: client-side
// limits off (100000/s for every operation) and the X-RateLimit-* response headers hidden from it
// (the client adopts the server's X-RateLimit-Limit when it is lower than its own, which would
// quietly turn the naive client back into a limited one), so it only follows 429s and their
// Retry-After (the in-process budget still holds every call of that operation until then).
// Deferrals of throttled jobs are scaled like the windows (AWS: 300-900 s).
import '../cli/env-defaults.ts';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLocalCycle } from '../local/pipeline.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import { defaultPipelineConfig } from '../shared/config/pipeline-config.ts';
import { type OperationId, operationIds, operations } from '../shared/openapi/index.ts';
import { startSimulator } from '../sim/index.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    conversations: { type: 'string', default: '60' },
    long: { type: 'string', default: '1' },
    'rate-scale': { type: 'string', default: '60' },
    workers: { type: 'string', default: '4' },
    latency: { type: 'string', default: '5,40' },
    'skip-naive': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/archive-run.json' },
  },
});
const seed = Number(values.seed);
const conversations = Number(values.conversations);
const longConversations = Number(values.long);
const rateScale = Number(values['rate-scale']);
const workers = Number(values.workers);
const [latMin, latMax] = String(values.latency).split(',').map(Number) as [number, number];
const windowMs = 60_000 / rateScale;
// Both runs see the same data: the simulator's clock starts at the same instant.
const simStart = new Date(Math.floor(Date.now() / 60_000) * 60_000);

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

interface OperationRow {
  operationId: OperationId | 'audio';
  limit: string | null;
  requests: number;
  /** Requests the server counted against the limit (everything but 429s). */
  calls: number;
  throttled: number;
  /** calls x window / limit, in seconds. */
  boundSeconds: number | null;
}

interface RunResult {
  client: 'shared-budget' | 'naive';
  seconds: number;
  /** First to last Amigo request (sim time), in seconds. */
  amigoSpanSeconds: number;
  archived: number;
  failed: number;
  deadLetters: number;
  listed: number;
  deferredUnanalyzed: number;
  workerInvocations: number;
  audioMiB: number;
  bottleneck: OperationId;
  bottleneckBoundSeconds: number;
  efficiency: number;
  requests: number;
  throttled: number;
  throttledShare: number;
  operations: OperationRow[];
}

async function run(client: 'shared-budget' | 'naive'): Promise<RunResult> {
  const sim = await startSimulator({
    seed,
    conversations,
    longConversations,
    now: simStart,
    audio: { largeRecordings: 0 },
    rateLimits: { enabled: true, scale: rateScale },
    faults: { latencyMs: [latMin, latMax] },
    validateResponses: false,
  });
  const archive = await mkdtemp(join(tmpdir(), `amigo-qa-bench-${client}-`));
  try {
    const limits = Object.fromEntries(
      operationIds.map((id) => [
        id,
        client === 'naive'
          ? '100000/s'
          : {
              limit: operations[id].publishedLimit.limit,
              windowMs: operations[id].publishedLimit.windowMs / rateScale,
            },
      ]),
    );
    const amigo = resolveAmigoConfig({
      ...simulatorSignIn(sim),
      rateLimits: limits,
    });
    const defaults = defaultPipelineConfig();
    const config = { ...defaults, run: { ...defaults.run, workers } };
    let workerInvocations = 0;
    sim.control.resetStats();
    // runLocalCycle builds its own AmigoClient, which takes globalThis.fetch when constructed.
    const realFetch = globalThis.fetch;
    if (client === 'naive') globalThis.fetch = withoutRateLimitHeaders(realFetch, sim.url);
    const result = await runLocalCycle({
      config,
      amigo,
      archive,
      deferralSeconds: [300 / rateScale, 900 / rateScale],
      events: {
        onInvoke: (binding) => {
          if (binding === 'archive-worker') workerInvocations++;
        },
      },
    }).finally(() => {
      globalThis.fetch = realFetch;
    });
    const stats = sim.control.stats();
    if (stats.requests.length >= 100_000)
      throw new Error('The simulator dropped request records: run smaller');
    const requests = stats.requests.filter((r) => r.fault === undefined || r.fault === 'delay');
    const ids: Array<OperationId | 'audio'> = [...operationIds, 'audio'];
    const rows: OperationRow[] = ids.flatMap((op) => {
      const of = requests.filter((r) => r.operationId === op);
      if (of.length === 0) return [];
      const throttled = of.filter((r) => r.status === 429).length;
      const calls = of.length - throttled;
      const published = op === 'audio' ? undefined : operations[op].publishedLimit;
      return [
        {
          operationId: op,
          limit: published ? `${published.limit}/${windowMs}ms` : null,
          requests: of.length,
          calls,
          throttled,
          boundSeconds: published ? round((calls * windowMs) / published.limit / 1000) : null,
        },
      ];
    });
    const limited = rows.filter((r) => r.boundSeconds !== null);
    const bottleneck = limited.reduce((a, b) => ((b.boundSeconds ?? 0) > (a.boundSeconds ?? 0) ? b : a));
    const counted = requests.filter((r) => r.operationId !== 'audio');
    const throttled = counted.filter((r) => r.status === 429).length;
    const times = requests.map((r) => r.at);
    const a = result.record.archive;
    return {
      client,
      seconds: round(result.seconds, 2),
      amigoSpanSeconds: round((Math.max(...times) - Math.min(...times)) / 1000, 2),
      archived: a?.archived ?? 0,
      failed: a?.failed ?? 0,
      deadLetters: result.deadLetters.length,
      listed: result.record.scheduler.listed,
      deferredUnanalyzed: result.record.scheduler.deferredUnanalyzed,
      workerInvocations,
      audioMiB: round((a?.audioBytes ?? 0) / 1_048_576, 1),
      bottleneck: bottleneck.operationId as OperationId,
      bottleneckBoundSeconds: bottleneck.boundSeconds ?? 0,
      efficiency: round((bottleneck.boundSeconds ?? 0) / result.seconds),
      requests: counted.length,
      throttled,
      throttledShare: round(counted.length ? throttled / counted.length : 0, 4),
      operations: rows,
    };
  } finally {
    await sim.stop();
    await rm(archive, { recursive: true, force: true });
  }
}

/** fetch, with the X-RateLimit-* headers removed from the simulator's responses (Retry-After kept). */
function withoutRateLimitHeaders(inner: typeof fetch, baseUrl: string): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(baseUrl) || !response.headers.has('x-ratelimit-limit')) return response;
    const headers = new Headers(response.headers);
    for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
      headers.delete(name);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

function print(label: string, r: RunResult): void {
  console.log(`\n${label}`);
  console.table(
    r.operations.map((o) => ({
      operation: o.operationId,
      limit: o.limit ?? '-',
      calls: o.calls,
      '429s': o.throttled,
      'bound s': o.boundSeconds ?? '-',
    })),
  );
  console.log(
    `  ${r.archived} archived (${r.failed} failed, ${r.deadLetters} dead letters) in ${r.seconds} s; ` +
      `${r.workerInvocations} worker invocations; bottleneck ${r.bottleneck} ${r.bottleneckBoundSeconds} s; ` +
      `efficiency ${(r.efficiency * 100).toFixed(1)}%; 429 share ${(r.throttledShare * 100).toFixed(2)}%`,
  );
}

console.log(
  `Simulated organisation: ${conversations} conversations (seed ${seed}, ${longConversations} long), ` +
    `latency ${latMin}-${latMax} ms, published limits per ${windowMs} ms (scale ${rateScale}), ${workers} workers`,
);
const shared = await run('shared-budget');
print('amigo-qa client (shared sliding-window budget at the published limits)', shared);
const naive = values['skip-naive'] ? undefined : await run('naive');
if (naive) print('naive client (client-side limits off: follows 429 / Retry-After only)', naive);

if (naive) {
  console.log('\nComparison');
  console.table(
    [shared, naive].map((r) => ({
      client: r.client,
      'run s': r.seconds,
      'bottleneck bound s': r.bottleneckBoundSeconds,
      'efficiency %': round(r.efficiency * 100, 1),
      requests: r.requests,
      '429s': r.throttled,
      '429 share %': round(r.throttledShare * 100, 2),
      archived: r.archived,
      'worker invocations': r.workerInvocations,
    })),
  );
}

const complete = (r: RunResult) => r.failed === 0 && r.deadLetters === 0 && r.archived > 0;
const ok = complete(shared) && (naive === undefined || complete(naive));
writeFileSync(
  String(values.out),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      config: {
        seed,
        conversations,
        longConversations,
        rateScale,
        windowMs,
        workers,
        latencyMs: [latMin, latMax],
      },
      sharedBudget: shared,
      naive: naive ?? null,
      complete: ok,
    },
    null,
    2,
  )}\n`,
);
console.log(`\n${ok ? 'OK' : 'INCOMPLETE RUN'}: results in ${values.out}`);
if (!ok) process.exitCode = 1;
