// Benchmark: the DynamoDB rate budget shared by M concurrent workers, against dynalite.
//
//   node bench/shared-budget.ts [--limit 10 --window-ms 1000 --windows 8 --workers 1,4,16 --callers 2]
//
// Each worker is a separate DynamoDbRateBudget with its own DynamoDBClient (one Lambda function),
// running --callers callers that acquire back to back for --windows windows, all for the same
// (user, operation). Reported per worker count:
//   efficiency  grants in the run / (limit x windows): how much of the budget was used;
//   steady      the same without the first window (whose burst starts from an empty log);
//   rate        (grants - limit) per window between the first and the last grant / limit: the
//               sustained rate, independent of how the run's end aligns with the slots;
//   maxWindow   the most grants in any sliding window of --window-ms: must be <= limit;
//   writes, conflicts, reads per grant, and grants given back as late.
// Then the cost of one acquire when a slot is free (ms, sequential and with M workers at once).
// dynalite runs in this process, so its CPU time competes with the workers'.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRateBudgetTable, DynamoDbRateBudget } from '../shared/adapters/dynamodb-rate-budget.ts';
import { resolveRateLimits } from '../shared/amigo/rate-limit.ts';
import type { OperationId } from '../shared/openapi/index.ts';
import { driveBudgets, maxInWindow } from '../test/support/drive-budgets.ts';
import { startDynalite } from '../test/support/dynalite.ts';

const { values } = parseArgs({
  options: {
    limit: { type: 'string', default: '10' },
    'window-ms': { type: 'string', default: '1000' },
    windows: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1,4,16' },
    callers: { type: 'string', default: '2' },
    'latency-samples': { type: 'string', default: '200' },
    out: { type: 'string', default: 'bench/results/shared-budget.json' },
  },
});
const limit = Number(values.limit);
const windowMs = Number(values['window-ms']);
const windows = Number(values.windows);
const workerCounts = String(values.workers).split(',').map(Number);
const callers = Number(values.callers);
const samples = Number(values['latency-samples']);

const OP: OperationId = 'get-conversations';
const TABLE = 'amigo-qa-rate-budget';
const dynamo = await startDynalite();
const newClient = () => dynamo.client();
await createRateBudgetTable(newClient(), TABLE);

let run = 0;
function workersFor(count: number, rate: { limit: number; windowMs: number }): DynamoDbRateBudget[] {
  run++;
  const userId = `bench-${run}-${Date.now()}`;
  const limits = resolveRateLimits({ [OP]: rate });
  return Array.from(
    { length: count },
    () => new DynamoDbRateBudget({ client: newClient(), tableName: TABLE, userId, limits }),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

interface RunResult {
  workers: number;
  callers: number;
  grants: number;
  efficiency: number;
  steadyEfficiency: number;
  sustainedRate: number;
  maxInWindow: number;
  limit: number;
  writesPerGrant: number;
  conflictsPerGrant: number;
  readsPerGrant: number;
  late: number;
  errors: number;
}

async function saturate(count: number): Promise<RunResult> {
  const budgets = workersFor(count, { limit, windowMs });
  const durationMs = windows * windowMs;
  const grants = await driveBudgets(budgets, { callers, durationMs, op: OP });
  const inRun = grants.filter((g) => g < durationMs).length;
  const steady = grants.filter((g) => g >= windowMs && g < durationMs).length;
  const total = (key: 'writes' | 'conflicts' | 'reads' | 'late' | 'errors') =>
    budgets.reduce((n, b) => n + b.stats[key], 0);
  return {
    workers: count,
    callers,
    grants: inRun,
    efficiency: round(inRun / (limit * windows), 3),
    steadyEfficiency: round(steady / (limit * (windows - 1)), 3),
    sustainedRate: round(
      (grants.length - limit) / (((grants.at(-1) ?? 0) - (grants[0] ?? 0)) / windowMs) / limit,
      3,
    ),
    maxInWindow: maxInWindow(grants, windowMs),
    limit,
    writesPerGrant: round(total('writes') / Math.max(1, grants.length)),
    conflictsPerGrant: round(total('conflicts') / Math.max(1, grants.length)),
    readsPerGrant: round(total('reads') / Math.max(1, grants.length)),
    late: total('late'),
    errors: total('errors'),
  };
}

interface LatencyResult {
  workers: number;
  acquires: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
}

/** Cost of an acquire when a slot is free: a limit far above what the workers can use. */
async function acquireLatency(count: number): Promise<LatencyResult> {
  const budgets = workersFor(count, { limit: 1_000_000, windowMs: 1_000 });
  const per = Math.max(1, Math.ceil(samples / count));
  const times: number[] = [];
  await Promise.all(
    budgets.map(async (budget) => {
      await budget.acquire(OP); // first contact: table lookup, connection
      for (let i = 0; i < per; i++) {
        const t0 = performance.now();
        await budget.acquire(OP);
        times.push(performance.now() - t0);
      }
    }),
  );
  times.sort((a, b) => a - b);
  return {
    workers: count,
    acquires: times.length,
    meanMs: round(times.reduce((s, t) => s + t, 0) / times.length),
    p50Ms: round(percentile(times, 0.5)),
    p95Ms: round(percentile(times, 0.95)),
  };
}

const runs: RunResult[] = [];
for (const count of workerCounts) runs.push(await saturate(count));
const latency: LatencyResult[] = [];
for (const count of workerCounts) latency.push(await acquireLatency(count));

console.log(
  `\nShared budget on dynalite: ${limit} per ${windowMs} ms, ${windows} windows, ${callers} callers/worker\n`,
);
console.table(
  runs.map((r) => ({
    workers: r.workers,
    grants: r.grants,
    'efficiency %': round(r.efficiency * 100, 1),
    'steady %': round(r.steadyEfficiency * 100, 1),
    'rate %': round(r.sustainedRate * 100, 1),
    'max in window': `${r.maxInWindow}/${r.limit}`,
    'writes/grant': r.writesPerGrant,
    'conflicts/grant': r.conflictsPerGrant,
    'reads/grant': r.readsPerGrant,
    late: r.late,
    errors: r.errors,
  })),
);
console.log('\nAcquire with a free slot (one conditional write):\n');
console.table(latency);

// Safety (never over the limit, no errors) and the use goal the tests leave to this benchmark:
// at least 90% of the budget granted while the workers keep asking.
const ok = runs.every((r) => r.maxInWindow <= r.limit && r.errors === 0 && r.efficiency >= 0.9);
writeFileSync(
  String(values.out),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      backend: 'dynalite 4.0.0 (in-process)',
      config: { limit, windowMs, windows, workers: workerCounts, callers },
      runs,
      acquireLatency: latency,
      safe: ok,
    },
    null,
    2,
  )}\n`,
);
console.log(`\n${ok ? 'OK' : 'FAIL (limit exceeded, errors, or under 90% used)'}: results in ${values.out}`);
if (!ok) process.exitCode = 1;

await dynamo.stop();
if (!ok) process.exitCode = 1;
