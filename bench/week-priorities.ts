// Benchmark: the effect of `archive.priorities` on a simulated day with a backlog (issue #12).
//
//   npm run bench:priorities [-- --days 1 --per-day 60 --burst 30 --priority-services 1
//                                --priority-newer-than 6h --burst-age 12h
//                                --scale 720 --cadence 60 --extra-days 1
//                                --seed 1 --latency 5,40 --only on|off --out bench/results/priorities.json]
//
// Runs the simulated week (bench/week-run.ts) twice on the same seeded arrivals: priorities off,
// then on. `--burst` conversations finish in ten simulated minutes (a backlog, as after an outage):
// the first ten, or those starting `--burst-age` (simulated) before the start. The rule:
// `--priority-services n` (the first n of the simulator's services), `--priority-newer-than d`
// (a simulated duration: newest conversations first; the burst's age then defaults to 12h so the
// burst is old when first listed), or both in one rule; services 1 when neither is given.
// A newerThan threshold is passed with the fast clock's constant offset (newerThanForWeek): a
// conversation's messages keep real spacing, so its created_at lies 1.5 simulated days before its
// finish at scale 720, and the bare threshold would sort by the clock's artefact.
// Both runs are judged by the same rule (the off run by the class its conversations would have had)
// and report per class, for the burst and the daily arrivals apart, the wait from finish to the
// manifest's archived_at and from the job's send to it, and the backlog each simulated hour.
import '../cli/env-defaults.ts';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readDuration } from '../shared/config/grammar.ts';
import type { PriorityRule } from '../shared/config/pipeline-config.ts';
import { BURST_FRACTION, finishFromCreated } from '../sim/arrivals.ts';
import { Dataset } from '../sim/dataset.ts';
import {
  backlogOverTime,
  type ClassFigures,
  classFigures,
  newerThanForWeek,
  rulesInSimTime,
} from './week-priorities-report.ts';
import { type ConversationDetail, REFERENCE_PER_DAY, runWeek, type WeekOptions } from './week-run.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    days: { type: 'string', default: '1' },
    'per-day': { type: 'string', default: '60' },
    burst: { type: 'string', default: '30' },
    'priority-services': { type: 'string' },
    'priority-newer-than': { type: 'string' },
    'burst-age': { type: 'string' },
    interactions: { type: 'string', default: '6' },
    voice: { type: 'string', default: '0.1' },
    scale: { type: 'string', default: '720' },
    cadence: { type: 'string', default: '60' },
    'reference-per-day': { type: 'string', default: String(REFERENCE_PER_DAY) },
    'extra-days': { type: 'string', default: '1' },
    latency: { type: 'string', default: '5,40' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

const seed = Number(values.seed);
// The simulator's services, in its order (seeded like the organisation it serves).
const services = new Dataset({
  seed,
  conversations: 0,
  startMs: 0,
  largeRecordings: 0,
  largeRecordingBytes: 0,
  longConversations: 0,
}).services.map((s) => s.id);
const newerThan = values['priority-newer-than'];
const serviceCount = Number(values['priority-services'] ?? (newerThan === undefined ? '1' : '0'));
if (newerThan === undefined && !(serviceCount > 0))
  throw new Error('--priority-services must be at least 1: nothing to prioritise');
const timeScale = Number(values.scale);
const interactions = Number(values.interactions);
// created_at to finish on the fast clock, the same for every conversation of the arrivals dataset.
const createdBeforeFinishMs = finishFromCreated(
  { days: 1, perDay: 1, dayMs: 86_400_000 / timeScale, interactions, voiceShare: 0 },
  0,
);
const newerThanMs = newerThan === undefined ? null : readDuration(newerThan);
const rules: PriorityRule[] = [
  {
    serviceIds: serviceCount > 0 ? services.slice(0, serviceCount) : null,
    newerThanMs:
      newerThanMs === null ? null : newerThanForWeek(newerThanMs, timeScale, createdBeforeFinishMs),
  },
];
// As the scheduler holds them: what the report judges both runs by.
const simRules = rulesInSimTime(rules, timeScale);
const burstAgeMs =
  values['burst-age'] !== undefined
    ? readDuration(values['burst-age'])
    : newerThan === undefined
      ? 0
      : 12 * 3_600_000;
const out =
  values.out ??
  (newerThan === undefined ? 'bench/results/priorities.json' : 'bench/results/priorities-newest.json');
const [latMin, latMax] = String(values.latency).split(',').map(Number) as [number, number];
const base: WeekOptions = {
  seed,
  days: Number(values.days),
  perDay: Number(values['per-day']),
  burst: Number(values.burst),
  ...(burstAgeMs > 0 ? { burstAgeMs } : {}),
  interactions,
  voiceShare: Number(values.voice),
  timeScale,
  cadenceMinutes: Number(values.cadence),
  referencePerDay: Number(values['reference-per-day']),
  extraDays: Number(values['extra-days']),
  latencyMs: [latMin, latMax],
  detail: true,
  log: (line) => console.log(line),
};
const dayMs = 86_400_000 / base.timeScale;
const cadenceMs = (base.cadenceMinutes * 60_000) / base.timeScale;

const modes = values.only ? [String(values.only)] : ['off', 'on'];
const runs = [];
for (const mode of modes) {
  console.log(
    `\nPriorities ${mode}: ${base.days} day(s) x ${base.perDay} + a burst of ${base.burst} (${burstAgeMs / 3_600_000} simulated h before the start), rule ${describeRule()}`,
  );
  const week = await runWeek({ ...base, priorities: mode === 'on' ? rules : [] });
  const detail = week.detail?.conversations ?? [];
  const startMs = week.detail?.startMs ?? 0;
  // An old burst is exact (no daily arrival finishes before the start); at the start a daily arrival
  // may fall in the burst's ten minutes too.
  const burstEnd = startMs - burstAgeMs / timeScale + BURST_FRACTION * dayMs;
  const isBurst = (c: ConversationDetail) => c.finishMs < burstEnd;
  const classes = {
    all: classFigures(detail, simRules, dayMs, cadenceMs),
    burst: classFigures(detail.filter(isBurst), simRules, dayMs, cadenceMs),
    daily: classFigures(
      detail.filter((c) => !isBurst(c)),
      simRules,
      dayMs,
      cadenceMs,
    ),
  };
  const routedHigh = detail.filter((c) => c.sentPriority === true).length;
  const backlog = backlogOverTime(detail, simRules, startMs, dayMs, cadenceMs);
  console.table(
    Object.entries(classes).flatMap(([part, figures]) =>
      Object.entries(figures).map(([k, f]) => ({ part, class: k, ...row(f) })),
    ),
  );
  console.log(
    `backlog (hour: priority/normal): ${backlog.map((p) => `${p.hour}:${p.priority}/${p.normal}`).join(' ')}`,
  );
  runs.push({
    priorities: mode,
    startMs,
    classes,
    routedByPriorityQueue: routedHigh,
    backlog,
    archived: week.archived,
    conversations: week.conversations,
    duplicates: week.duplicates.length,
    deadLetters: week.deadLetters.length,
    failed: week.failed,
    putBacks: week.putBacks,
    throttled: week.days.reduce((s, d) => s + d.throttled, 0),
    allArchivedAfterHours: week.allArchivedAfterHours,
    seconds: week.seconds,
    amigoCalls: week.counts.amigoCalls,
    detail,
  });
}

function describeRule(): string {
  const parts = [
    ...(serviceCount > 0 ? [`services: the first ${serviceCount}`] : []),
    ...(newerThan === undefined ? [] : [`newerThan: ${newerThan} (simulated)`]),
  ];
  return parts.join(', ');
}

function row(f: ClassFigures) {
  return {
    conversations: f.conversations,
    archived: f.archived,
    'wait median h': f.waitHours.median,
    'wait p95 h': f.waitHours.p95,
    'wait max h': f.waitHours.max,
    'queued median h': f.queuedHours.median,
    'queued p95 h': f.queuedHours.p95,
    'queued max h': f.queuedHours.max,
    'within a cadence': f.withinCadence,
  };
}
writeFileSync(
  out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      config: {
        ...base,
        log: undefined,
        // The rule as an operator writes it; `rules` as the week was given them, `simRules` as run.
        rule: describeRule(),
        rules,
        simRules,
        createdBeforeFinishMs,
        services,
        dayMs,
        cadenceMs,
      },
      runs,
    },
    null,
    2,
  )}\n`,
);
console.log(`Results in ${out}`);
