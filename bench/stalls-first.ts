// Benchmark: stalled interactions before archives. One local cycle (archive + stall scan + stall
// worker) over a seeded organisation whose archive backlog saturates get-conversation-messages, run
// once per reserve share on the same seed: the rate budget's reserve for high callers at its
// default (0.2), then off (0), then any other share given (--reserve-shares 0.2,0,0.8).
//
//   npm run bench:stalls-first [-- --budget in-process|dynamodb --reserve-shares 0.2,0 --seed 1 --conversations 300 --rate-scale 20 --messages-limit 10 --workers 4]
//
// --budget in-process (default): one SlidingWindowRateBudget and client for the whole cycle.
// --budget dynamodb: as deployed, each function (scheduler with its stall scan, archive worker, stall
// worker) builds its own DynamoDbRateBudget and client, sharing one table on dynalite, in this
// process (its CPU time competes with the cycle's); default options as in shared/runtime/lambda.ts.
//
// At the published limits get-interaction-insights, not get-conversation-messages, bounds an archive
// (about ten insights calls per messages call), so the messages limit is lowered (--messages-limit
// per window, simulator and client alike) and insights raised to 200 per window: the stall scan's
// message calls (the scheduler's, `high`) then compete with a saturated archive backlog (`normal`).
// The stall worker itself calls only recommend-responses, which archives never use.
// Per run, from the simulator's request log (sim time): each recommendation's wait from the cycle's
// first Amigo request to its recommend-responses answer, and from the scan's listing (the last
// get-conversations request before the first answer) to it, the archive's span (first request to last
// get-conversation-messages / insights call), get-conversation-messages calls per window, 429s.
import '../cli/env-defaults.ts';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLocalCycle } from '../local/pipeline.ts';
import {
  createRateBudgetTable,
  DynamoDbRateBudget,
  type RateBudgetStats,
} from '../shared/adapters/dynamodb-rate-budget.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import { SlidingWindowRateBudget } from '../shared/amigo/rate-limit.ts';
import { defaultPipelineConfig } from '../shared/config/pipeline-config.ts';
import type { FunctionId } from '../shared/contract/topology.ts';
import { type OperationId, operationIds, operations } from '../shared/openapi/index.ts';
import {
  DEFAULT_RESERVE_SHARE,
  type Priority,
  type RateBudget,
  type RateFeedback,
} from '../shared/ports/rate-budget.ts';
import type { FindStallsCounts } from '../shared/stages/find-stalls.ts';
import { startSimulator } from '../sim/index.ts';
import { startDynalite } from '../test/support/dynalite.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    conversations: { type: 'string', default: '300' },
    'rate-scale': { type: 'string', default: '20' },
    'messages-limit': { type: 'string', default: '10' },
    workers: { type: 'string', default: '4' },
    latency: { type: 'string', default: '5,40' },
    budget: { type: 'string', default: 'in-process' },
    'reserve-shares': { type: 'string', default: `${DEFAULT_RESERVE_SHARE},0` },
    out: { type: 'string' },
  },
});
const reserveShares = String(values['reserve-shares']).split(',').map(Number);
if (reserveShares.some((r) => !(r >= 0 && r < 1)))
  throw new Error('--reserve-shares: shares from 0 to below 1');
const budgetKinds = ['in-process', 'dynamodb'] as const;
const budget: (typeof budgetKinds)[number] =
  budgetKinds.find((b) => b === values.budget) ??
  (() => {
    throw new Error(`--budget must be in-process or dynamodb, got ${values.budget}`);
  })();
const out =
  values.out ??
  (budget === 'dynamodb' ? 'bench/results/stalls-first-dynamodb.json' : 'bench/results/stalls-first.json');
const seed = Number(values.seed);
const conversations = Number(values.conversations);
const rateScale = Number(values['rate-scale']);
const messagesLimit = Number(values['messages-limit']);
const workers = Number(values.workers);
const [latMin, latMax] = String(values.latency).split(',').map(Number) as [number, number];
const windowMs = 60_000 / rateScale;
const MESSAGES: OperationId = 'get-conversation-messages';
const INSIGHTS: OperationId = 'get-interaction-insights';
const RECOMMEND: OperationId = 'recommend-responses-for-interaction';
const simStart = new Date(Math.floor(Date.now() / 60_000) * 60_000);

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

function limitsFor(op: OperationId): { limit: number; windowMs: number } {
  if (op === MESSAGES) return { limit: messagesLimit, windowMs };
  if (op === INSIGHTS) return { limit: 200, windowMs };
  return {
    limit: operations[op].publishedLimit.limit,
    windowMs: operations[op].publishedLimit.windowMs / rateScale,
  };
}

interface RunResult {
  budget: 'in-process' | 'dynamodb';
  /** The share of each limit kept for high callers (shared/ports/rate-budget.ts); 0: no reserve. */
  reserveShare: number;
  cycleSeconds: number;
  archived: number;
  failed: number;
  deadLetters: number;
  stallsFound: number;
  /** What the scan did: its `messageReads` are its get-conversation-messages calls (high class). */
  stallScan: FindStallsCounts | null;
  recommendations: Record<string, number>;
  recommendWaitsSeconds: number[];
  recommendWaitMedianSeconds: number;
  recommendWaitMaxSeconds: number;
  /** The last get-conversations request before the first recommendation (the scan's listing) to each answer. */
  recommendWaitFromScanMedianSeconds: number;
  recommendWaitFromScanMaxSeconds: number;
  /** get-conversation-messages calls from the scan's listing to the last recommendation (scan + archive). */
  messagesCallsDuringScan: number;
  /** First Amigo request to the last archive call (messages or insights), sim time. */
  archiveSeconds: number;
  messagesCalls: number;
  /** Calls per fixed window from the first request; the sliding-window maximum is below. */
  messagesPerWindow: number[];
  messagesMaxInAnySlidingWindow: number;
  throttled: number;
  /** The DynamoDB budgets' counters, summed over the functions (dynamodb only). */
  dynamoDb: RateBudgetStats | null;
  /** get-conversation-messages grants, from the budget's side (see `Grant`). */
  grants: GrantSummary;
}

/** One granted acquire: who asked, in which class, when (wall clock, ms), and when it was granted. */
interface Grant {
  fn: FunctionId;
  op: OperationId;
  priority: Priority;
  asked: number;
  granted: number;
}

interface GrantSummary {
  /** The scan's (scheduler's) grants: how many, and the last one after the scan's listing. */
  scan: number;
  scanDoneAfterListingSeconds: number;
  /** Waits (ask to grant) of the scan's grants, and of the archive workers' grants in the same span. */
  scanWaitMedianSeconds: number;
  scanWaitMaxSeconds: number;
  archiveDuringScan: number;
  archiveWaitDuringScanMedianSeconds: number;
  archiveWaitDuringScanMaxSeconds: number;
}

/** Records every grant under the class the function's metered budget gives it. */
class RecordingBudget implements RateBudget {
  readonly #inner: RateBudget;
  readonly #fn: FunctionId;
  readonly #log: Grant[];

  constructor(inner: RateBudget, fn: FunctionId, log: Grant[]) {
    this.#inner = inner;
    this.#fn = fn;
    this.#log = log;
  }

  async acquire(op: OperationId, signal?: AbortSignal, priority: Priority = 'high'): Promise<number> {
    const asked = Date.now();
    const slot = await this.#inner.acquire(op, signal, priority);
    this.#log.push({ fn: this.#fn, op, priority, asked, granted: Date.now() });
    return slot;
  }

  observe(op: OperationId, feedback: RateFeedback): void {
    this.#inner.observe(op, feedback);
  }
}

const TABLE = 'amigo-qa-rate-budget';
const dynamo = budget === 'dynamodb' ? await startDynalite() : undefined;
if (dynamo) await createRateBudgetTable(dynamo.client(), TABLE);

async function run(share: number): Promise<RunResult> {
  const overrides = Object.fromEntries(operationIds.map((op) => [op, limitsFor(op)]));
  const sim = await startSimulator({
    seed,
    conversations,
    longConversations: 0,
    now: simStart,
    audio: { largeRecordings: 0 },
    rateLimits: { enabled: true, scale: rateScale, overrides },
    faults: { latencyMs: [latMin, latMax] },
    validateResponses: false,
  });
  const archive = await mkdtemp(join(tmpdir(), `amigo-qa-stalls-${share}-`));
  try {
    const amigo = resolveAmigoConfig({ ...simulatorSignIn(sim), rateLimits: overrides });
    const defaults = defaultPipelineConfig();
    const config = { ...defaults, run: { ...defaults.run, workers } };
    // dynamodb: one budget per function, all on the same (user, operation) items; a fresh user per
    // run. in-process: the one budget every function shares, as runLocalCycle builds it by default.
    const budgets: DynamoDbRateBudget[] = [];
    const userId = `${amigo.userId}-stalls-first-${share}-${Date.now()}`;
    const reserveShare = { reserveShare: share };
    const shared = dynamo
      ? undefined
      : new SlidingWindowRateBudget({ limits: amigo.rateLimits, ...reserveShare });
    const log: Grant[] = [];
    const rateBudgetFor = (fn: FunctionId): RateBudget => {
      if (shared) return new RecordingBudget(shared, fn, log);
      const b = new DynamoDbRateBudget({
        client: (dynamo as NonNullable<typeof dynamo>).client(),
        tableName: TABLE,
        userId,
        limits: amigo.rateLimits,
        ...reserveShare,
      });
      budgets.push(b);
      return new RecordingBudget(b, fn, log);
    };
    sim.control.resetStats();
    const result = await runLocalCycle({
      config,
      amigo,
      archive,
      deferralSeconds: [300 / rateScale, 900 / rateScale],
      rateBudgetFor,
    });
    // Sim time runs at wall-clock speed from its own start: one offset maps the grants onto it.
    const simOffset = sim.control.now().getTime() - Date.now();
    // As a handler does before it returns: background writes (blocks, returned slots) land.
    await Promise.all(budgets.map((b) => b.flush()));
    const stats = sim.control.stats();
    if (stats.requests.length >= 100_000)
      throw new Error('The simulator dropped request records: run smaller');
    const requests = stats.requests.filter((r) => r.fault === undefined || r.fault === 'delay');
    const start = Math.min(...requests.map((r) => r.at));
    const answered = stats.writes.filter((w) => w.operationId === RECOMMEND && w.status < 300);
    const waits = answered.map((w) => (w.at - start) / 1000).sort((a, b) => a - b);
    const firstAnswer = Math.min(...answered.map((w) => w.at));
    const scanStart = Math.max(
      ...requests
        .filter((r) => r.operationId === 'get-conversations' && r.at <= firstAnswer)
        .map((r) => r.at),
    );
    const lastAnswer = Math.max(...answered.map((w) => w.at));
    const fromScan = answered.map((w) => (w.at - scanStart) / 1000).sort((a, b) => a - b);
    const messages = requests.filter((r) => r.operationId === MESSAGES && r.status !== 429).map((r) => r.at);
    const archiveEnd = Math.max(
      ...requests.filter((r) => r.operationId === MESSAGES || r.operationId === INSIGHTS).map((r) => r.at),
    );
    const perWindow: number[] = [];
    for (const at of messages) {
      const w = Math.floor((at - start) / windowMs);
      while (perWindow.length <= w) perWindow.push(0);
      perWindow[w] = (perWindow[w] ?? 0) + 1;
    }
    const sorted = [...messages].sort((a, b) => a - b);
    let maxSliding = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while ((sorted[i] as number) - (sorted[j] as number) >= windowMs) j++;
      maxSliding = Math.max(maxSliding, i - j + 1);
    }
    const a = result.record.archive;
    const sum = (key: keyof RateBudgetStats) => budgets.reduce((n, b) => n + b.stats[key], 0);
    const messageGrants = log.filter((g) => g.op === MESSAGES);
    const scanGrants = messageGrants.filter(
      (g) => g.fn === 'scheduler' && g.granted + simOffset >= scanStart,
    );
    const scanEnd = Math.max(...scanGrants.map((g) => g.granted));
    const scanFrom = scanStart - simOffset;
    const archiveGrants = messageGrants.filter(
      (g) => g.fn === 'archiveWorker' && g.granted >= scanFrom && g.granted <= scanEnd,
    );
    const waitsOf = (grants: readonly Grant[]) =>
      grants.map((g) => (g.granted - g.asked) / 1000).sort((a, b) => a - b);
    const scanWaits = waitsOf(scanGrants);
    const archiveWaits = waitsOf(archiveGrants);
    return {
      budget,
      reserveShare: share,
      cycleSeconds: round(result.seconds, 2),
      archived: a?.archived ?? 0,
      failed: a?.failed ?? 0,
      deadLetters: result.deadLetters.length,
      stallsFound: result.stalls?.candidates ?? 0,
      stallScan: result.stalls ?? null,
      recommendations: result.recommendations,
      recommendWaitsSeconds: waits.map((w) => round(w, 2)),
      recommendWaitMedianSeconds: round(quantile(waits, 0.5), 2),
      recommendWaitMaxSeconds: round(waits.at(-1) ?? Number.NaN, 2),
      recommendWaitFromScanMedianSeconds: round(quantile(fromScan, 0.5), 2),
      recommendWaitFromScanMaxSeconds: round(fromScan.at(-1) ?? Number.NaN, 2),
      messagesCallsDuringScan: messages.filter((at) => at >= scanStart && at <= lastAnswer).length,
      archiveSeconds: round((archiveEnd - start) / 1000, 2),
      messagesCalls: messages.length,
      messagesPerWindow: perWindow,
      messagesMaxInAnySlidingWindow: maxSliding,
      throttled: requests.filter((r) => r.status === 429).length,
      dynamoDb: dynamo
        ? {
            reads: sum('reads'),
            writes: sum('writes'),
            conflicts: sum('conflicts'),
            late: sum('late'),
            errors: sum('errors'),
          }
        : null,
      grants: {
        scan: scanGrants.length,
        scanDoneAfterListingSeconds: round((scanEnd - scanFrom) / 1000, 2),
        scanWaitMedianSeconds: round(quantile(scanWaits, 0.5), 2),
        scanWaitMaxSeconds: round(scanWaits.at(-1) ?? Number.NaN, 2),
        archiveDuringScan: archiveGrants.length,
        archiveWaitDuringScanMedianSeconds: round(quantile(archiveWaits, 0.5), 2),
        archiveWaitDuringScanMaxSeconds: round(archiveWaits.at(-1) ?? Number.NaN, 2),
      },
    };
  } finally {
    await sim.stop();
    await rm(archive, { recursive: true, force: true });
  }
}

console.log(
  `Simulated organisation: ${conversations} conversations (seed ${seed}), latency ${latMin}-${latMax} ms, ` +
    `window ${windowMs} ms, ${MESSAGES} ${messagesLimit}/window, ${workers} workers, budget ${budget}`,
);
const runs: RunResult[] = [];
for (const share of reserveShares) {
  const r = await run(share);
  runs.push(r);
  console.log(
    `reserve ${share}: ${r.recommendWaitsSeconds.length} recommendations (${r.stallsFound} stalls found), ` +
      `wait median ${r.recommendWaitMedianSeconds} s, max ${r.recommendWaitMaxSeconds} s ` +
      `(from the scan's listing ${r.recommendWaitFromScanMedianSeconds} / ${r.recommendWaitFromScanMaxSeconds} s, ` +
      `${r.messagesCallsDuringScan} ${MESSAGES} calls meanwhile, ${r.stallScan?.messageReads} of all by the scan); archive ${r.archiveSeconds} s ` +
      `(${r.archived} archived, ${r.failed} failed, ${r.deadLetters} dead letters); ${MESSAGES} ${r.messagesCalls} calls, ` +
      `max ${r.messagesMaxInAnySlidingWindow} in any window (limit ${messagesLimit}); ${r.throttled} 429s; cycle ${r.cycleSeconds} s`,
  );
  console.log(`  ${MESSAGES} per window: ${r.messagesPerWindow.join(' ')}`);
  const g = r.grants;
  console.log(
    `  the scan's ${g.scan} ${MESSAGES} grants: last ${g.scanDoneAfterListingSeconds} s after its listing, ` +
      `wait median ${g.scanWaitMedianSeconds} s, max ${g.scanWaitMaxSeconds} s; archive grants meanwhile ` +
      `${g.archiveDuringScan}, wait median ${g.archiveWaitDuringScanMedianSeconds} s, max ${g.archiveWaitDuringScanMaxSeconds} s`,
  );
  if (r.dynamoDb) console.log(`  DynamoDB budget: ${JSON.stringify(r.dynamoDb)}`);
}
await dynamo?.stop();
const ok = runs.every(
  (r) =>
    r.failed === 0 &&
    r.deadLetters === 0 &&
    r.archived > 0 &&
    r.recommendWaitsSeconds.length > 0 &&
    r.messagesMaxInAnySlidingWindow <= messagesLimit &&
    (r.dynamoDb?.errors ?? 0) === 0,
);
writeFileSync(
  out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      budget,
      config: {
        seed,
        conversations,
        rateScale,
        windowMs,
        messagesLimit,
        insightsLimit: 200,
        workers,
        reserveShares,
        latencyMs: [latMin, latMax],
      },
      runs,
      complete: ok,
    },
    null,
    2,
  )}\n`,
);
console.log(`\n${ok ? 'OK' : 'INCOMPLETE RUN'}: results in ${out}`);
if (!ok) process.exitCode = 1;
