// Benchmark: a simulated week of a busy organisation, and the cost model counted from it.
//
//   npm run bench:week [-- --days 7 --per-day 3000 --interactions 6 --voice 0.1 --scale 720
//                          --cadence 60 --reference-per-day 3000 --extra-days 2 --latency 5,40 --seed 1
//                          --efficiency-conversations 60 --efficiency-scale 12 --burst 0 --skip-week
//                          --skip-efficiency]
//
// --scale: simulated time / sim time (720: a simulated day lasts 2 minutes). --per-day below
// --reference-per-day divides every published limit by the same factor (see bench/week-run.ts), so
// the ratio of work to budget is that of the full organisation. Writes bench/results/week.json
// (--out) with the per-day table, the counts and the priced cost model (bench/week-cost.ts), then
// measures efficiency on a backlog of the same shape with our client and a naive one
// (bench/week-efficiency.ts). --skip-week keeps the week already in --out and re-prices it.
import '../cli/env-defaults.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { priceWeek } from './week-cost.ts';
import { type EfficiencyRun, runEfficiency } from './week-efficiency.ts';
import { type OutlookRow, REFERENCE_PER_DAY, runWeek, type WeekResult } from './week-run.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    days: { type: 'string', default: '7' },
    'per-day': { type: 'string', default: String(REFERENCE_PER_DAY) },
    interactions: { type: 'string', default: '6' },
    voice: { type: 'string', default: '0.1' },
    scale: { type: 'string', default: '720' },
    cadence: { type: 'string', default: '60' },
    'reference-per-day': { type: 'string', default: String(REFERENCE_PER_DAY) },
    'extra-days': { type: 'string', default: '2' },
    latency: { type: 'string', default: '5,40' },
    workers: { type: 'string' },
    burst: { type: 'string', default: '0' },
    'efficiency-conversations': { type: 'string', default: '60' },
    'efficiency-scale': { type: 'string', default: '12' },
    'skip-week': { type: 'boolean', default: false },
    'skip-efficiency': { type: 'boolean', default: false },
    'full-lookback-every-run': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/week.json' },
  },
});
const [latMin, latMax] = String(values.latency).split(',').map(Number) as [number, number];
const options = {
  seed: Number(values.seed),
  days: Number(values.days),
  perDay: Number(values['per-day']),
  interactions: Number(values.interactions),
  voiceShare: Number(values.voice),
  timeScale: Number(values.scale),
  cadenceMinutes: Number(values.cadence),
  referencePerDay: Number(values['reference-per-day']),
  extraDays: Number(values['extra-days']),
  latencyMs: [latMin, latMax] as const,
  ...(values.workers ? { workers: Number(values.workers) } : {}),
  fullLookbackEveryRun: values['full-lookback-every-run'] === true,
  ...(Number(values.burst) > 0 ? { burst: Number(values.burst) } : {}),
  log: (line: string) => console.log(line),
};
const out = String(values.out);
const previous = existsSync(out)
  ? (JSON.parse(readFileSync(out, 'utf8')) as Partial<WeekResult> & { efficiency?: unknown })
  : undefined;
let result: WeekResult;
if (values['skip-week']) {
  if (!previous?.days) throw new Error(`--skip-week needs a week in ${out}`);
  result = previous as WeekResult;
} else {
  console.log(
    `A simulated week: ${options.days} days x ${options.perDay} conversations (${options.interactions} interactions, ` +
      `${options.voiceShare * 100}% voice), a simulated day = ${86_400 / options.timeScale} s, limits scaled by ` +
      `${options.perDay}/${options.referencePerDay}, scheduler every ${options.cadenceMinutes} simulated minutes`,
  );
  result = await runWeek(options);
}
console.table(
  result.days.map((d) => ({
    day: d.day,
    arrived: d.arrived,
    archived: d.archived,
    'backlog end': d.backlogEnd,
    'backlog peak': d.backlogPeak,
    'drained h': d.drainedAfterHours ?? '-',
    'wait p95 h': d.waitHours.p95,
    'insights budget %': Math.round((d.budgetShareSim['get-interaction-insights'] ?? 0) * 1000) / 10,
    '429s': d.throttled,
    'put back': d.putBacks,
    runs: d.cycles,
  })),
);
console.log('The budget outlook of the last scheduler run each day (its run record) next to what happened:');
console.table(
  result.days.map((d) => ({
    day: d.day,
    'at h': d.outlook?.hour ?? '-',
    bottleneck: d.outlook?.bottleneck ?? '-',
    'budget %': d.outlook?.budgetShare == null ? '-' : Math.round(d.outlook.budgetShare * 1000) / 10,
    backlog: d.outlook?.backlog ?? '-',
    'markers (bench)': d.outlook?.backlogMeasured ?? '-',
    'archived meanwhile': d.outlook?.archivedMeanwhile ?? '-',
    'finished, not archived': d.outlook?.finishedNotArchived ?? '-',
    'catch-up h (predicted)': d.outlook ? (d.outlook.catchUpHours ?? d.outlook.catchUp) : '-',
    'waiting archived after h': d.outlook?.waitingArchivedAfterHours ?? '-',
    'caught up after h': d.outlook?.caughtUpAfterHours ?? '-',
  })),
);
console.log('Every run: the predicted catch-up next to when the pipeline had caught up (simulated h):');
console.table(
  (result.outlooks ?? []).map((o) => ({
    'at h': o.hour,
    backlog: o.backlog,
    catchUp: o.catchUp,
    predicted: o.catchUpHours ?? '-',
    'caught up after': o.caughtUpAfterHours ?? '-',
    'seen by the run after': o.caughtUpSeenAfterHours ?? '-',
    'waiting archived after': o.waitingArchivedAfterHours ?? '-',
  })),
);
const outlookFit = summarizeOutlooks(result.outlooks ?? []);
const kinds = Object.entries(outlookFit.kinds).map(([k, n]) => `${n} ${k}`);
console.log(
  `Outlooks: ${outlookFit.runs} runs (${kinds.join(', ')}); ${outlookFit.neverWhileCaughtUp} said never while ` +
    `it caught up; backlog between the markers listed right after and those + archived meanwhile in ${outlookFit.backlogExplained} ` +
    `of ${outlookFit.runs}; predicted catch-up minus when it had caught up (h): ${JSON.stringify(outlookFit.error)}; ` +
    `minus when the waiting were all archived: ${JSON.stringify(outlookFit.errorVsWaitingArchived)}`,
);
const cost = priceWeek(result);
console.table(
  cost.rows.map((r) => ({ item: r.item, 'per 1,000 conversations': r.per1000, unit: r.unit, USD: r.usd })),
);
console.log(`Total per 1,000 conversations: $${cost.totalPer1000} (see assumptions in ${out})`);
const weekOk =
  result.missing === 0 &&
  result.duplicates.length === 0 &&
  result.budgetDeadLetters === 0 &&
  result.failed === 0;
console.log(
  `${weekOk ? 'OK' : 'INCOMPLETE'}: ${result.archived}/${result.conversations} archived once (${result.duplicates.length} duplicates), ` +
    `${result.deadLetters.length} dead letters (${result.budgetDeadLetters} for the budget), ${result.failed} failed, ` +
    `${result.putBacks} put back; all archived ${result.allArchivedAfterHours ?? '-'} simulated h after the start ` +
    `(${result.catchUpAfterLastArrivalHours ?? '-'} h after the last arrival); ${result.seconds} s`,
);

let efficiency: { config: object; runs: EfficiencyRun[] } | undefined =
  previous?.efficiency as typeof efficiency;
if (!values['skip-efficiency']) {
  const config = {
    seed: options.seed,
    conversations: Number(values['efficiency-conversations']),
    interactions: options.interactions,
    voiceShare: options.voiceShare,
    rateScale: Number(values['efficiency-scale']),
    latencyMs: options.latencyMs,
  };
  console.log(
    `\nEfficiency: a backlog of ${config.conversations} conversations of the same shape, published limits per ` +
      `${60 / config.rateScale} s, our client then a naive one`,
  );
  const runs = [await runEfficiency(config, 'shared-budget'), await runEfficiency(config, 'naive')];
  efficiency = { config, runs };
}
if (efficiency) {
  console.table(
    efficiency.runs.map((r) => ({
      client: r.client,
      'run s': r.seconds,
      bottleneck: r.bottleneck,
      'bound s': r.bottleneckBoundSeconds,
      efficiency: r.efficiency,
      requests: r.requests,
      '429s': r.throttled,
      '429 share %': Math.round(r.throttledShare * 10_000) / 100,
      archived: r.archived,
      'dead letters': r.deadLetters,
    })),
  );
}
writeFileSync(
  out,
  `${JSON.stringify(
    {
      ...result,
      date: values['skip-week'] ? result.date : new Date().toISOString(),
      node: process.version,
      cost,
      efficiency: efficiency ?? null,
      complete: weekOk,
      outlookFit,
    },
    null,
    2,
  )}\n`,
);
console.log(`Results in ${out}`);
if (!weekOk) process.exitCode = 1;

/**
 * How the outlooks held up: their kinds, the backlog against the markers, and the catch-up error
 * (predicted minus actual, simulated hours) against when the pipeline had caught up, and, as the
 * bench reported before, against when the conversations waiting at the run were all archived.
 */
function summarizeOutlooks(rows: readonly OutlookRow[]) {
  const kinds: Record<string, number> = {};
  for (const r of rows) kinds[r.catchUp] = (kinds[r.catchUp] ?? 0) + 1;
  const quantiles = (values: number[], digits: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length
        ? Math.round(
            (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 10 ** digits,
          ) /
          10 ** digits
        : null;
    return { n: sorted.length, median: at(0.5), p10: at(0.1), p90: at(0.9) };
  };
  // A small backlog drains at one conversation's pace (latency, the queue), not the budget's; the
  // first hours have no day of rates behind them.
  const error = (actualOf: (r: OutlookRow) => number | null, minBacklog: number, fromHour = 0) => {
    const pairs = rows
      .filter((r) => r.backlog >= minBacklog && r.hour >= fromHour)
      .map((r) => ({ predicted: r.catchUpHours, actual: actualOf(r) }))
      .filter((p): p is { predicted: number; actual: number } => p.predicted !== null && p.actual !== null);
    // Relative only where the actual is long enough for a share of it to mean something.
    const relative = pairs.filter((p) => p.actual >= 2).map((p) => (p.predicted - p.actual) / p.actual);
    return {
      minBacklog,
      fromHour,
      ...quantiles(
        pairs.map((p) => p.predicted - p.actual),
        2,
      ),
      relative: {
        ...quantiles(relative, 3),
        within25: relative.length
          ? Math.round((relative.filter((x) => Math.abs(x) <= 0.25).length / relative.length) * 1000) / 1000
          : null,
      },
    };
  };
  const caughtUp = (r: OutlookRow) => r.caughtUpAfterHours;
  const caughtUpSeen = (r: OutlookRow) => r.caughtUpSeenAfterHours;
  const waitingArchived = (r: OutlookRow) => r.waitingArchivedAfterHours;
  return {
    runs: rows.length,
    kinds,
    // `never` said while the pipeline did catch up later (and when).
    neverWhileCaughtUp: rows.filter((r) => r.catchUp === 'never' && r.caughtUpAfterHours !== null).length,
    unknownWhileWaiting: rows.filter((r) => r.catchUp === 'unknown' && r.backlog > 0).length,
    // The outlook lists the markers at `at` and then reads them: one cleared before its read is not
    // counted, one cleared after is, so it lies between the markers the bench listed after the run
    // and those plus the ones cleared since `at`.
    backlogExplained: rows.filter(
      (r) => r.backlog >= r.backlogMeasured && r.backlog <= r.backlogMeasured + r.archivedMeanwhile,
    ).length,
    error: [error(caughtUp, 1), error(caughtUp, 10), error(caughtUp, 1, 24), error(caughtUp, 10, 24)],
    errorVsRunThatSawIt: [error(caughtUpSeen, 1), error(caughtUpSeen, 1, 24)],
    errorVsWaitingArchived: [error(waitingArchived, 1), error(waitingArchived, 10)],
  };
}
