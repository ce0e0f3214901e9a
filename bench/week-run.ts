// A simulated week of a busy organisation: conversations finish through the simulated days on the
// simulator's fast clock, the scheduler runs on a cadence in simulated time, and the Lambda handlers
// drain the queues continuously (bench/week-pipeline.ts: one local SQS runtime for the week) into an S3
// archive on the embedded S3 emulator. Everything is counted where the call is made: Amigo calls by
// the simulator and by our run records, S3 requests by a middleware on the archive's S3 client, SQS
// requests by a wrapper around the SQS client's send, Lambda time by the runtime's invoke/result events.
//
// Time: one simulated day lasts 86_400_000 / timeScale ms of (real) sim time. The published limits
// are for an organisation of `referencePerDay` conversations a day; a run with fewer conversations
// a day divides each limit by the same factor (its window grows), so work/budget stays the real one.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startLocalAws } from '../local/fauxqs.ts';
import { S3ArchiveStore } from '../shared/adapters/s3-archive-store.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import { readRunRecord } from '../shared/archive/state.ts';
import {
  ArchiveOutcomeSchema,
  ManifestSchema,
  type RunOutlook,
  RunRecordSchema,
  RunUsageSchema,
} from '../shared/archive-format/documents.ts';
import { conversationOfPendingKey, pendingPrefix } from '../shared/archive-format/keys.ts';
import { defaultPipelineConfig, type PriorityRule } from '../shared/config/pipeline-config.ts';
import { FUNCTIONS, type FunctionId, maxConcurrency } from '../shared/contract/topology.ts';
import { type OperationId, operationIds, operations } from '../shared/openapi/index.ts';
import { catchUpHoursOf } from '../shared/stages/budget-outlook.ts';
import { type Arrivals, arrivalCount, arrivalTiming, finishFromCreated } from '../sim/arrivals.ts';
import { startSimulator } from '../sim/index.ts';
import { createRng } from '../sim/prng.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';
import { startWeekPipeline } from './week-pipeline.ts';

export const DAY_MS = 86_400_000;
/** The organisation the published limits are sized against in the issue: 3,000 conversations a day. */
export const REFERENCE_PER_DAY = 3_000;

export interface WeekOptions {
  readonly seed: number;
  readonly days: number;
  readonly perDay: number;
  readonly interactions: number;
  readonly voiceShare: number;
  /** Simulated time / sim time: 720 makes a simulated day 2 minutes long. */
  readonly timeScale: number;
  /** The scheduler runs every this many simulated minutes (and not while the previous run drains). */
  readonly cadenceMinutes: number;
  /** Conversations a day the published limits stand for (the limits scale by perDay / this). */
  readonly referencePerDay: number;
  /** Simulated days after the last arrival to wait for the backlog to clear. */
  readonly extraDays: number;
  readonly latencyMs: readonly [number, number];
  /** Archive-worker concurrency; default as deployed for the (scaled) limits. */
  readonly workers?: number;
  /** Conversations finished at the start, on top of the daily ones (bench/week-priorities.ts). */
  readonly burst?: number;
  /** How long before the start the burst finished, simulated ms (an outage's backlog). @default 0 */
  readonly burstAgeMs?: number;
  /** `archive.priorities`, durations in simulated time (scaled to the fast clock here). */
  readonly priorities?: readonly PriorityRule[];
  /** Return each conversation's finish, send, class and archive time (`WeekResult.detail`). */
  readonly detail?: boolean;
  /**
   * Every run lists the whole lookback and moves the watermark (the stack before hourly runs had
   * their own lookback); otherwise, as deployed, only the run nearest each simulated midnight does
   * and the others list back `archive.hourlyLookback`. @default false
   */
  readonly fullLookbackEveryRun?: boolean;
  readonly log?: (line: string) => void;
}

export interface DayRow {
  day: number;
  arrived: number;
  archived: number;
  /** Finished, not archived yet, at the end of the day (includes the last cadence's arrivals). */
  backlogEnd: number;
  backlogPeak: number;
  /** Simulated hours from the day's start until every conversation that arrived that day was archived. */
  drainedAfterHours: number | null;
  waitHours: { median: number; p95: number; max: number };
  /** Share of each operation's daily budget used: answered calls counted by the simulator / budget. */
  budgetShareSim: Record<string, number>;
  /** The same from our run records' `amigo` usage (cycles attributed to the day they ended in). */
  budgetShareRecords: Record<string, number>;
  throttled: number;
  putBacks: number;
  /** Scheduler runs that ended in the day. */
  cycles: number;
  /** The outlook of the day's last scheduler run next to what happened (null: no run took one). */
  outlook: OutlookRow | null;
}

/** One scheduler run's budget outlook (its run record) next to what the bench measured. */
export interface OutlookRow {
  /** Simulated hours since the week's start. */
  hour: number;
  /** The outlook's budget share of the bottleneck operation (or insights) since the previous run. */
  bottleneck: string | null;
  budgetShare: number | null;
  /** Waiting conversations: the outlook's, and pending markers the bench listed right after the run. */
  backlog: number;
  backlogMeasured: number;
  /** Pending markers cleared (conversations archived) between the outlook and the bench's listing. */
  archivedMeanwhile: number;
  /** Finished, not archived (includes those not analysed or listed yet): the week's own backlog. */
  finishedNotArchived: number;
  catchUp: string;
  /** The outlook's expected catch-up, in simulated hours (null: never or unknown). */
  catchUpHours: number | null;
  /** Simulated hours until every conversation waiting at the run was archived (null: not all were). */
  waitingArchivedAfterHours: number | null;
  /**
   * Simulated hours until the pipeline had caught up: the first run from this one on after which
   * nothing waiting had already waited at the run before it (no conversation waits longer than one
   * cadence) was seen caught up; this is when the last of the conversations that waited at the run
   * before it was archived (0 when that holds now; null: not seen before the bench ended). This is
   * what the forecast predicts: the earlier runs' backlog gone while the arrivals go on, where the
   * waiting conversations alone are archived sooner (first in, first out) than the pipeline is
   * current.
   */
  caughtUpAfterHours: number | null;
  /** The same, until the end of the run that saw it: up to a cadence later (the reference before 2026-12-02). */
  caughtUpSeenAfterHours: number | null;
  /** The outlook's inputs to the catch-up, in simulated hours: arrivals an hour, bottleneck calls per conversation, archive calls an hour it can drain on (measured drain or modelled). */
  arrivalsPerHour: number;
  perConversation: number | null;
  capacityPerHour: number | null;
  drainPerHour: number | null;
  /** The share of the period's archive grants that waited for the budget (null: too few, or not counted). */
  archiveWaitedShare: number | null;
}

export interface WeekResult {
  /** When the week was run (set by bench/week.ts). */
  date?: string;
  config: WeekOptions & { simRateScale: number; dayMs: number; windowsMs: Record<string, number> };
  seconds: number;
  conversations: number;
  archived: number;
  /** Conversation ids with more than one manifest or more than one `archived` outcome. */
  duplicates: string[];
  missing: number;
  deadLetters: Array<{ queue: string; code: string }>;
  /** Dead letters caused by the budget (throttling, waits): must be none. */
  budgetDeadLetters: number;
  failed: number;
  putBacks: number;
  /** Simulated hours from the start until the last conversation was archived. */
  allArchivedAfterHours: number | null;
  /** Simulated hours from the last arrival until the last conversation was archived. */
  catchUpAfterLastArrivalHours: number | null;
  /** `archived`: the conversations the usage documents say archive jobs archived (each once). */
  usageRecorded: { runs: number; runsWithUsage: number; calls: number; archived: number };
  /**
   * The conversations the outlooks counted as archived (the last one's `archived_total`), and those
   * first archived after it was taken: together every conversation, when no usage document was
   * missed between the outlooks (null: no outlook counted any).
   */
  outlooksCounted: { archived: number; archivedAfter: number } | null;
  days: DayRow[];
  /** Every scheduler run's outlook next to what happened. */
  outlooks: OutlookRow[];
  cycles: number;
  counts: CostCounts;
  /** Per conversation when `options.detail`: times in ms of sim time (the week started at `startMs`). */
  detail?: { startMs: number; conversations: ConversationDetail[] };
}

export interface ConversationDetail {
  id: string;
  serviceId: string;
  createdMs: number;
  finishMs: number;
  /** First archive job sent for it, and by which queue (null: never sent). */
  sentMs: number | null;
  sentPriority: boolean | null;
  /** The first manifest's archived_at (null: not archived). */
  archivedMs: number | null;
}

export interface CostCounts {
  /** Invocations and busy seconds per function (local runtime, real seconds). */
  lambda: Record<string, { invocations: number; seconds: number; busySeconds: number; memoryMb: number }>;
  s3: Record<string, number>;
  s3BytesStored: number;
  s3Objects: number;
  sqs: Record<string, number>;
  /** SQS requests billed in 64 KiB chunks (sends by payload size; others 1). */
  sqsBilled: number;
  /** Answered Amigo calls (each one a grant of the rate budget). */
  amigoGrants: number;
  amigoCalls: Record<string, number>;
  /** Archive-worker concurrency the stack deploys at the published limits. */
  productionArchiveConcurrency: number;
  /** Simulated hours with at least one conversation waiting (finished, not archived). */
  backlogHours: number;
  /** Simulated hours with at least one archive-worker invocation running. */
  archiveBusyHours: number;
  /** Scheduler runs (each one Lambda invocation that lists). */
  schedulerRuns: number;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Counts every SQS request the process makes (the local runtime builds its own client). */
function meterSqs(): { counts: Record<string, number>; billed: () => number; restore(): void } {
  const counts: Record<string, number> = {};
  let billed = 0;
  const proto = SQSClient.prototype as unknown as { send: (...args: unknown[]) => Promise<unknown> };
  const original = proto.send;
  proto.send = async function (this: unknown, ...args: unknown[]) {
    const command = args[0] as { constructor: { name: string }; input: Record<string, unknown> };
    const name = command.constructor.name.replace(/Command$/, '');
    const out = (await original.apply(this, args)) as { Messages?: unknown[] };
    // An empty receive is an idle poll: Lambda's pollers make those at their own pace (modelled apart).
    const key = name === 'ReceiveMessage' && !out?.Messages?.length ? 'ReceiveMessage(empty)' : name;
    counts[key] = (counts[key] ?? 0) + 1;
    if (key !== 'ReceiveMessage(empty)') billed += chunks(name, command.input);
    return out;
  };
  return {
    counts,
    billed: () => billed,
    restore: () => {
      proto.send = original;
    },
  };
}

function chunks(name: string, input: Record<string, unknown>): number {
  const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v ?? ''));
  if (name === 'SendMessage') return Math.max(1, Math.ceil(size(input) / 65_536));
  if (name === 'SendMessageBatch') return Math.max(1, Math.ceil(size(input.Entries) / 65_536));
  return 1;
}

/** Integrates running invocations over time per function: the sum of their durations. */
class LambdaMeter {
  readonly invocations: Record<string, number> = {};
  readonly seconds: Record<string, number> = {};
  /** Time with at least one invocation of the function running. */
  readonly busySeconds: Record<string, number> = {};
  readonly #running: Record<string, number> = {};
  readonly #since: Record<string, number> = {};
  #advance(binding: string): void {
    const now = performance.now();
    const since = this.#since[binding] ?? now;
    const running = this.#running[binding] ?? 0;
    this.seconds[binding] = (this.seconds[binding] ?? 0) + (running * (now - since)) / 1000;
    if (running > 0) this.busySeconds[binding] = (this.busySeconds[binding] ?? 0) + (now - since) / 1000;
    this.#since[binding] = now;
  }
  start(binding: string): void {
    this.#advance(binding);
    this.#running[binding] = (this.#running[binding] ?? 0) + 1;
    this.invocations[binding] = (this.invocations[binding] ?? 0) + 1;
  }
  end(binding: string): void {
    this.#advance(binding);
    this.#running[binding] = Math.max(0, (this.#running[binding] ?? 0) - 1);
  }
  /** The nightly invocation of the scheduler is called directly, not through the runtime. */
  add(binding: string, seconds: number): void {
    this.invocations[binding] = (this.invocations[binding] ?? 0) + 1;
    this.seconds[binding] = (this.seconds[binding] ?? 0) + seconds;
  }
}

/**
 * The outlook's catch-up in simulated hours. The run record's hours are the clock's (real) hours,
 * rounded to 0.01, which on the fast clock is minutes of simulated time: recomputed from its fields.
 */
function simulatedCatchUp(outlook: RunOutlook, timeScale: number): number | null {
  if (outlook.catch_up === 'caught-up') return 0;
  if (outlook.catch_up !== 'estimated') return null;
  const hours = catchUpHoursOf(outlook);
  return hours === null ? null : round(hours * timeScale, 2);
}

/** The outlook of the last run that ended in [from, to), without its time stamp. */
function lastOutlookIn(
  outlooks: ReadonlyArray<OutlookRow & { endedAt: number }>,
  from: number,
  to: number,
): OutlookRow | null {
  const last = outlooks.filter((o) => o.endedAt >= from && o.endedAt < to).at(-1);
  if (!last) return null;
  const { endedAt: _, ...row } = last;
  return row;
}

const BUDGET_CODES = /throttl|rate|429|budget|maintenance/i;

/**
 * Which scheduler ticks are nightly runs: the first tick of each simulated day (one up to half a
 * cadence before midnight counts for the day that starts), so a run that overran past midnight does
 * not cost a day its run. Day 0's nightly run is the listing before the start: none is due until the
 * first midnight. `every` makes every tick nightly (the stack before hourly runs had a lookback).
 */
export function nightlyRuns(
  dayMs: number,
  cadenceMs: number,
  every = false,
): (sinceStartMs: number) => boolean {
  let served = 0;
  return (sinceStartMs) => {
    const day = Math.floor((sinceStartMs + cadenceMs / 2) / dayMs);
    if (!every && day <= served) return false;
    served = Math.max(served, day);
    return true;
  };
}

export async function runWeek(options: WeekOptions): Promise<WeekResult> {
  const log = options.log ?? (() => undefined);
  const dayMs = DAY_MS / options.timeScale;
  const simRateScale = (options.timeScale * options.perDay) / options.referencePerDay;
  const arrivals: Arrivals = {
    days: options.days,
    perDay: options.perDay,
    dayMs,
    interactions: options.interactions,
    voiceShare: options.voiceShare,
    ...(options.burst ? { burst: options.burst } : {}),
    ...(options.burstAgeMs ? { burstAgeMs: options.burstAgeMs / options.timeScale } : {}),
  };
  const total = arrivalCount(arrivals);
  const windowsMs = Object.fromEntries(
    operationIds.map((id) => [id, Math.round(operations[id].publishedLimit.windowMs / simRateScale)]),
  ) as Record<OperationId, number>;
  const dir = await mkdtemp(join(tmpdir(), 'amigo-qa-week-'));
  const aws = await startLocalAws({ s3StorageDir: join(dir, 's3') });
  const s3Counts: Record<string, number> = {};
  const s3 = aws.s3();
  // When each pending marker was deleted (the conversation left the backlog): a manifest is stamped
  // before its tag job is sent and its marker cleared, which can take a while on a loaded machine.
  const markersCleared: number[] = [];
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      s3Counts[name] = (s3Counts[name] ?? 0) + 1;
      const result = await next(args);
      const key = (args.input as { Key?: unknown }).Key;
      if (name === 'DeleteObject' && typeof key === 'string' && key.includes('/pending/')) {
        markersCleared.push(Date.now());
      }
      return result;
    },
    // Per HTTP attempt: retries are billed too.
    { step: 'deserialize', name: 'weekRequestCounter' },
  );
  const audit = aws.s3();
  const bucket = 'amigo-qa-week';
  await audit.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = new S3ArchiveStore({ client: s3, bucket });
  const auditStore = new S3ArchiveStore({ client: audit, bucket });
  const sqs = meterSqs();
  const lambda = new LambdaMeter();
  const startMs = Date.now();
  const sim = await startSimulator({
    seed: options.seed,
    arrivals,
    now: new Date(startMs),
    // Whole milliseconds, the same on both sides (the client's config takes integers).
    rateLimits: {
      enabled: true,
      overrides: Object.fromEntries(
        operationIds.map((id) => [
          id,
          { limit: operations[id].publishedLimit.limit, windowMs: windowsMs[id] },
        ]),
      ),
    },
    faults: { latencyMs: [...options.latencyMs] as [number, number] },
    validateResponses: false,
  });
  const rateLimits = Object.fromEntries(
    operationIds.map((id) => [id, { limit: operations[id].publishedLimit.limit, windowMs: windowsMs[id] }]),
  );
  const amigo = resolveAmigoConfig({ ...simulatorSignIn(sim), rateLimits });
  const defaults = defaultPipelineConfig();
  // The listing cuts on created_at, which lies a conversation's real span (minutes of sim time)
  // before its finish: 1.5 simulated days at scale 720, more than an hourly run's 1-day lookback.
  // Added to each lookback, it reaches the same simulated time back from the finish.
  const createdBeforeFinishMs = finishFromCreated(arrivals, 0);
  const config = {
    ...defaults,
    // Simulated durations shrink with the clock: the lookback covers the same simulated week.
    archive: {
      ...defaults.archive,
      lookbackMs: defaults.archive.lookbackMs / options.timeScale + createdBeforeFinishMs,
      priorities: (options.priorities ?? []).map((r) => ({
        ...r,
        newerThanMs: r.newerThanMs === null ? null : r.newerThanMs / options.timeScale,
      })),
    },
    run: { ...defaults.run, workers: options.workers ?? defaults.run.workers },
  };

  // Arrival (finish) times, recomputed as the dataset does (same seeded streams).
  const finishes: number[] = [];
  for (let i = 0; i < total; i++)
    finishes.push(arrivalTiming(arrivals, i, startMs, createRng(options.seed, 'arrival', i)).finishMs);

  const daySnapshots: Array<Record<string, Record<string, number>>> = [];
  const dayTimers: NodeJS.Timeout[] = [];
  const snapshot = () => daySnapshots.push(sim.control.stats().calls);
  snapshot();
  const lastDay = options.days + options.extraDays;
  for (let d = 1; d <= lastDay; d++) dayTimers.push(setTimeout(snapshot, d * dayMs - (Date.now() - startMs)));

  interface Cycle {
    endedAt: number;
    putBacks: number;
    /** Answered calls per operation, from the usage documents written at this run. */
    amigo: Record<string, number>;
    /** The run's outlook and the conversations the bench found waiting (pending markers) right after. */
    outlook?: { record: RunOutlook; waiting: string[]; listedAt: number };
  }
  const cycles: Cycle[] = [];
  const cadenceMs = (options.cadenceMinutes * 60_000) / options.timeScale;
  const arrivalsEnd = startMs + options.days * dayMs;
  const hardEnd = startMs + lastDay * dayMs;
  let putBacks = 0;
  const sent = new Map<string, { at: number; priority: boolean }>();
  const pipeline = await startWeekPipeline({
    config,
    amigo,
    store,
    deferralSeconds: [300 / simRateScale, 900 / simRateScale],
    // As deployed (2 days), on the fast clock: the queue outlives the scheduler runs here.
    recoverPendingAfterMs: (2 * DAY_MS) / options.timeScale,
    outlookAveragingMs: dayMs,
    events: {
      onInvoke: (binding) => lambda.start(binding),
      onResult: (binding) => lambda.end(binding),
      onPutBack: () => {
        putBacks++;
      },
      onArchiveJobs: (priority, ids) => {
        for (const id of ids) if (!sent.has(id)) sent.set(id, { at: Date.now(), priority });
      },
    },
  });
  const runIds = new Set<string>();
  const countManifests = async () => {
    let n = 0;
    let next: string | undefined;
    do {
      const page = await audit.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'conversations/', ContinuationToken: next }),
      );
      n += (page.Contents ?? []).filter((o) => o.Key?.endsWith('/manifest.json')).length;
      next = page.NextContinuationToken;
    } while (next);
    return n;
  };
  const outlookOf = async (ids: string[]): Promise<Pick<Cycle, 'outlook'>> => {
    // Read with the unmetered client: the bench's look is not the pipeline's cost.
    const record = ids[0] ? await readRunRecord(auditStore, ids[0]) : undefined;
    if (!record?.outlook) return {};
    const waiting: string[] = [];
    let next: string | undefined;
    do {
      const page = await audit.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: pendingPrefix(amigo.organizationId),
          ContinuationToken: next,
        }),
      );
      for (const o of page.Contents ?? []) waiting.push(conversationOfPendingKey(o.Key ?? '') ?? '');
      next = page.NextContinuationToken;
    } while (next);
    return { outlook: { record: record.outlook, waiting, listedAt: Date.now() } };
  };
  let tick = startMs + cadenceMs;
  const isNightly = nightlyRuns(dayMs, cadenceMs, options.fullLookbackEveryRun);
  let deadLetters: Array<{ queue: string; code: string }> = [];
  try {
    for (;;) {
      await sleep(tick - Date.now());
      if (Date.now() >= hardEnd) break;
      // Written before the run, as the deployed workers write theirs as they go: its outlook reads them.
      const amigoCalls = await pipeline.flushUsage();
      const began = performance.now();
      const nightly = isNightly(Date.now() - startMs);
      const ids = await pipeline.schedule(
        nightly ? undefined : defaults.archive.hourlyLookbackMs / options.timeScale + createdBeforeFinishMs,
      );
      for (const id of ids) runIds.add(id);
      lambda.add('scheduler', (performance.now() - began) / 1000);
      cycles.push({ endedAt: Date.now(), putBacks, amigo: amigoCalls, ...(await outlookOf(ids)) });
      putBacks = 0;
      const now = Date.now();
      if (now >= arrivalsEnd) {
        const archived = await countManifests();
        log(`  simulated hour ${(((now - startMs) / dayMs) * 24).toFixed(1)}: ${archived}/${total} archived`);
        if (archived >= total) break;
      } else if (cycles.length % 24 === 0) {
        log(`  simulated day ${Math.round((now - startMs) / dayMs)} done`);
      }
      tick = Math.max(tick + cadenceMs, startMs + Math.ceil((now - startMs) / cadenceMs) * cadenceMs);
    }
    await pipeline.drain(60_000);
    const last = await pipeline.flushUsage();
    cycles.push({ endedAt: Date.now(), putBacks, amigo: last });
    await pipeline.summarize(runIds);
    deadLetters = await pipeline.deadLetters();
  } finally {
    for (const t of dayTimers) clearTimeout(t);
    sqs.restore();
    await pipeline.stop();
  }
  const seconds = (Date.now() - startMs) / 1000;
  while (daySnapshots.length < lastDay + 1) snapshot();

  // Audit: every manifest and every outcome, read with an unmetered client.
  /** Conversation id -> finish time and every archived_at of its manifests. */
  const manifests = new Map<string, { finish: number; times: number[] }>();
  const outcomes = new Map<string, number>();
  let bytes = 0;
  let objects = 0;
  const runsWithUsage = new Set<string>();
  let usageCalls = 0;
  let usageArchived = 0;
  let token: string | undefined;
  const keys: string[] = [];
  do {
    const page = await audit.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      keys.push(o.Key as string);
      bytes += o.Size ?? 0;
      objects++;
    }
    token = page.NextContinuationToken;
  } while (token);
  const read = async (key: string) =>
    JSON.parse((await store.get(key))?.body.toString('utf8') ?? 'null') as unknown;
  const recordIds = new Set<string>();
  let failed = 0;
  for (const key of keys) {
    if (key.endsWith('/manifest.json') && !key.includes('_staging')) {
      const m = ManifestSchema.parse(await read(key));
      const seen = manifests.get(m.conversation_id);
      const finish = finishFromCreated(arrivals, Date.parse(m.created_at));
      manifests.set(m.conversation_id, {
        finish,
        times: [...(seen?.times ?? []), Date.parse(m.archived_at)],
      });
    } else if (/^runs\/[^/]+\/archive\/.+\.json$/.test(key)) {
      const o = ArchiveOutcomeSchema.parse(await read(key));
      if (o.status === 'archived')
        outcomes.set(o.conversation_id, (outcomes.get(o.conversation_id) ?? 0) + 1);
    } else if (/^runs\/[^/]+\/usage\/.+\.json$/.test(key)) {
      usageArchived += RunUsageSchema.parse(await read(key)).archived ?? 0;
    } else if (/^runs\/[^/]+\.json$/.test(key)) {
      const r = RunRecordSchema.parse(await read(key));
      recordIds.add(r.run_id);
      failed += r.archive?.failed ?? 0;
      if (r.amigo) {
        runsWithUsage.add(r.run_id);
        for (const c of Object.values(r.amigo.calls)) usageCalls += c.answered;
      }
    }
  }
  const simStats = sim.control.stats();
  const detail = options.detail
    ? [...new Set([...manifests.keys(), ...sent.keys()])].map((id): ConversationDetail => {
        const c = sim.control.conversation(id);
        const createdMs = Date.parse(c?.created_at ?? '');
        const times = manifests.get(id)?.times;
        return {
          id,
          serviceId: c?.service_id ?? '',
          createdMs,
          finishMs: finishFromCreated(arrivals, createdMs),
          sentMs: sent.get(id)?.at ?? null,
          sentPriority: sent.get(id)?.priority ?? null,
          archivedMs: times ? Math.min(...times) : null,
        };
      })
    : undefined;
  await sim.stop();
  await aws.stop();
  await rm(dir, { recursive: true, force: true });

  // Each archived conversation: its finish (arrival) and first archive time.
  const archivedList = [...manifests.values()].map((m) => ({ finish: m.finish, at: Math.min(...m.times) }));
  const duplicates = [
    ...[...manifests].filter(([, m]) => m.times.length > 1).map(([id]) => id),
    ...[...outcomes].filter(([, n]) => n > 1).map(([id]) => id),
  ];

  // Backlog over time: +1 at a finish, -1 at its archive.
  const events = [
    ...finishes.map((t) => ({ t, d: 1 })),
    ...archivedList.map((a) => ({ t: a.at, d: -1 })),
  ].sort((a, b) => a.t - b.t || a.d - b.d);
  const backlogAt = (until: number) => events.filter((e) => e.t <= until).reduce((s, e) => s + e.d, 0);
  let level = 0;
  let backlogMs = 0;
  let lastT = startMs;
  for (const e of events) {
    if (level > 0) backlogMs += e.t - lastT;
    level += e.d;
    lastT = e.t;
  }

  const firstArchived = new Map([...manifests].map(([id, m]) => [id, Math.min(...m.times)]));
  const hoursOf = (ms: number) => round((ms / dayMs) * 24, 2);
  const outlooks: Array<OutlookRow & { endedAt: number }> = [];
  const looked = cycles.filter((c) => c.outlook);
  const perSimHour = (n: number | null | undefined) => (n == null ? null : round(n / options.timeScale, 3));
  // The first run from `i` on after which nothing waited that had waited at the run before (the
  // first run: nothing waited at all), and the same at the run after it: what that run found
  // drained within a cadence too (a run that finds more than a cadence drains is behind again,
  // as the outlook counts it). The moment is when the last of those that waited at the run before
  // was archived (a conversation never archived: the run's end).
  const waitingAt = looked.map((c) => new Set(c.outlook?.waiting ?? []));
  const nothingLeftAt = (j: number) => {
    const now = looked[j]?.outlook?.waiting ?? [];
    const before = waitingAt[j - 1];
    return before ? !now.some((id) => before.has(id)) : now.length === 0;
  };
  const caughtUpAt = (i: number): { seen: number; at: number } | null => {
    for (let j = i; j + 1 < looked.length; j++) {
      if (!nothingLeftAt(j) || !nothingLeftAt(j + 1)) continue;
      const seen = (looked[j] as Cycle).endedAt;
      const before = [...(waitingAt[j - 1] ?? [])];
      const last = before.length
        ? Math.max(...before.map((id) => firstArchived.get(id) ?? seen))
        : (looked[j - 1]?.endedAt ?? seen);
      return { seen, at: Math.min(seen, last) };
    }
    return null;
  };
  for (const [i, c] of looked.entries()) {
    if (!c.outlook) continue;
    const caughtUp = caughtUpAt(i);
    const { record, waiting, listedAt } = c.outlook;
    const outlookAt = Date.parse(record.at);
    const archivedAt = waiting.map((id) => firstArchived.get(id));
    const all = archivedAt.every((t) => t !== undefined);
    const focus = record.bottleneck ?? 'get-interaction-insights';
    outlooks.push({
      endedAt: c.endedAt,
      hour: hoursOf(c.endedAt - startMs),
      bottleneck: record.bottleneck,
      budgetShare: record.operations[focus]?.budget_share ?? null,
      backlog: record.backlog,
      backlogMeasured: waiting.length,
      // Markers cleared between the outlook's reading of them (it starts at `at`) and the bench's.
      archivedMeanwhile: markersCleared.filter((t) => t >= outlookAt && t <= listedAt).length,
      finishedNotArchived: backlogAt(c.endedAt),
      catchUp: record.catch_up,
      catchUpHours: simulatedCatchUp(record, options.timeScale),
      waitingArchivedAfterHours: all
        ? hoursOf(Math.max(c.endedAt, ...(archivedAt as number[])) - c.endedAt)
        : null,
      caughtUpAfterHours: caughtUp === null ? null : hoursOf(Math.max(0, caughtUp.at - c.endedAt)),
      caughtUpSeenAfterHours: caughtUp === null ? null : hoursOf(caughtUp.seen - c.endedAt),
      arrivalsPerHour: round(record.arrivals_per_hour / options.timeScale, 3),
      perConversation: record.operations[focus]?.per_conversation ?? null,
      capacityPerHour: perSimHour(record.operations[focus]?.capacity_per_hour),
      drainPerHour: perSimHour(record.operations[focus]?.drain_calls_per_hour),
      archiveWaitedShare: record.operations[focus]?.archive_waited_share ?? null,
    });
  }

  const days: DayRow[] = [];
  for (let d = 0; d < lastDay; d++) {
    const from = startMs + d * dayMs;
    const to = from + dayMs;
    const arrived = finishes.filter((t) => t >= from && t < to).length;
    const ofDay = archivedList.filter((a) => a.finish >= from && a.finish < to);
    const waits = ofDay.map((a) => ((a.at - a.finish) / dayMs) * 24).sort((a, b) => a - b);
    const allDone = ofDay.length === arrived;
    const lastArchive = Math.max(from, ...ofDay.map((a) => a.at));
    let peak = 0;
    let lvl = backlogAt(from);
    for (const e of events.filter((x) => x.t >= from && x.t < to)) {
      lvl += e.d;
      peak = Math.max(peak, lvl);
    }
    const before = daySnapshots[d] ?? {};
    const after = daySnapshots[d + 1] ?? simStats.calls;
    const budgetShareSim: Record<string, number> = {};
    let throttled = 0;
    for (const op of operationIds) {
      const delta = (status: string) => (after[op]?.[status] ?? 0) - (before[op]?.[status] ?? 0);
      const statuses = new Set([...Object.keys(after[op] ?? {}), ...Object.keys(before[op] ?? {})]);
      let answered = 0;
      for (const s of statuses) if (s !== '429' && s !== '0') answered += delta(s);
      throttled += delta('429');
      const budget = (operations[op].publishedLimit.limit * dayMs) / (windowsMs[op] as number);
      if (answered > 0) budgetShareSim[op] = round(answered / budget);
    }
    const dayCycles = cycles.filter((c) => c.endedAt >= from && c.endedAt < to);
    const budgetShareRecords: Record<string, number> = {};
    for (const c of dayCycles) {
      for (const [op, n] of Object.entries(c.amigo))
        budgetShareRecords[op] = (budgetShareRecords[op] ?? 0) + n;
    }
    for (const op of Object.keys(budgetShareRecords)) {
      const id = op as OperationId;
      const budget = operations[id]
        ? (operations[id].publishedLimit.limit * dayMs) / (windowsMs[id] as number)
        : 0;
      budgetShareRecords[op] = budget ? round((budgetShareRecords[op] as number) / budget) : 0;
    }
    days.push({
      day: d + 1,
      arrived,
      archived: archivedList.filter((a) => a.at >= from && a.at < to).length,
      backlogEnd: backlogAt(to),
      backlogPeak: peak,
      drainedAfterHours: arrived && allDone ? round(((lastArchive - from) / dayMs) * 24, 2) : null,
      waitHours: {
        median: round(quantile(waits, 0.5), 2),
        p95: round(quantile(waits, 0.95), 2),
        max: round(waits.at(-1) ?? 0, 2),
      },
      budgetShareSim,
      budgetShareRecords,
      throttled,
      putBacks: dayCycles.reduce((s, c) => s + c.putBacks, 0),
      cycles: dayCycles.length,
      outlook: lastOutlookIn(outlooks, from, to),
    });
  }
  const lastArchived = Math.max(...archivedList.map((a) => a.at));
  const complete = archivedList.length === total;
  const amigoCalls: Record<string, number> = {};
  for (const [op, statuses] of Object.entries(simStats.calls)) {
    // Audio downloads (signed URLs) are not an API operation: no limit, no grant.
    if (op === 'audio') continue;
    let n = 0;
    for (const [s, c] of Object.entries(statuses)) if (s !== '429' && s !== '0') n += c;
    amigoCalls[op] = n;
  }
  const lambdaCounts: CostCounts['lambda'] = {};
  const memoryOf = (binding: string) =>
    Object.values(FUNCTIONS).find((f) => f.name === binding)?.memoryMb ?? 0;
  for (const binding of Object.keys(lambda.invocations)) {
    lambdaCounts[binding] = {
      invocations: lambda.invocations[binding] ?? 0,
      seconds: round(lambda.seconds[binding] ?? 0, 2),
      busySeconds: round(lambda.busySeconds[binding] ?? 0, 2),
      memoryMb: memoryOf(binding),
    };
  }
  const published = Object.fromEntries(operationIds.map((id) => [id, operations[id].publishedLimit]));
  const productionArchiveConcurrency = maxConcurrency('archiveWorker' as FunctionId, {
    rateLimits: published as Parameters<typeof maxConcurrency>[1]['rateLimits'],
    insightsConcurrency: defaults.archive.insightsConcurrency,
  });
  return {
    config: { ...options, log: undefined, simRateScale, dayMs, windowsMs } as WeekResult['config'],
    seconds: round(seconds, 1),
    conversations: total,
    archived: archivedList.length,
    duplicates,
    missing: total - archivedList.length,
    deadLetters,
    budgetDeadLetters: deadLetters.filter((d) => BUDGET_CODES.test(d.code)).length,
    failed,
    putBacks: cycles.reduce((s, c) => s + c.putBacks, 0),
    allArchivedAfterHours: complete ? round(((lastArchived - startMs) / dayMs) * 24, 2) : null,
    catchUpAfterLastArrivalHours: complete
      ? round(((lastArchived - Math.max(...finishes)) / dayMs) * 24, 2)
      : null,
    usageRecorded: {
      runs: recordIds.size,
      runsWithUsage: runsWithUsage.size,
      calls: usageCalls,
      archived: usageArchived,
    },
    outlooksCounted: (() => {
      const last = looked.at(-1)?.outlook?.record;
      if (last?.archived_total === undefined) return null;
      const at = Date.parse(last.at);
      return {
        archived: last.archived_total,
        archivedAfter: [...firstArchived.values()].filter((t) => t > at).length,
      };
    })(),
    days,
    outlooks: outlooks.map(({ endedAt: _, ...row }) => row),
    cycles: cycles.length,
    counts: {
      lambda: lambdaCounts,
      s3: s3Counts,
      s3BytesStored: bytes,
      s3Objects: objects,
      sqs: sqs.counts,
      sqsBilled: sqs.billed(),
      amigoGrants: Object.values(amigoCalls).reduce((a, b) => a + b, 0),
      amigoCalls,
      productionArchiveConcurrency,
      backlogHours: round((backlogMs / dayMs) * 24, 2),
      archiveBusyHours: round((((lambda.busySeconds['archive-worker'] ?? 0) * 1000) / dayMs) * 24, 2),
      schedulerRuns: cycles.length,
    },
    ...(detail ? { detail: { startMs, conversations: detail } } : {}),
  };
}
