// `amigo-qa run`: one nightly cycle on this machine against the Amigo API named by AMIGO_*.

import { type Command, InvalidArgumentError } from 'commander';
import { type LocalCycleResult, openArchiveStore, runLocalCycle } from '../../local/pipeline.ts';
import { amigoConfigFromEnv, isLoopbackUrl } from '../../shared/amigo/config.ts';
import type { RunOutlook } from '../../shared/archive-format/documents.ts';
import { runKey } from '../../shared/archive-format/keys.ts';
import {
  applyOverrides,
  defaultPipelineConfig,
  type PipelineConfig,
  parseSince,
} from '../../shared/config/pipeline-config.ts';
import { loadPipelineConfig } from '../../shared/config/source-file.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import type { RateLimit } from '../../shared/openapi/index.ts';
import { archiveLocation, prepareArchiveTarget } from '../archive-target.ts';
import { createProgress, observeOutcomes } from '../progress.ts';
import { prepareReportOutput, writeReport } from './report.ts';
import { writeTablesAfterRun } from './tables.ts';

export interface RunFlags {
  config?: string;
  archive: string;
  since?: string;
  strict?: boolean;
  workers?: string;
  lookback?: string;
  verbose?: boolean;
  /** Only against the simulator: every client rate-limit window divided by this. */
  rateScale?: number;
  /** Build the QA report of the whole archive into this folder at the end. */
  report?: string;
}

export function resolveRunConfig(flags: RunFlags, now: number = Date.now()): PipelineConfig {
  const base = flags.config ? loadPipelineConfig(flags.config) : defaultPipelineConfig();
  const config = applyOverrides(
    base,
    { since: flags.since, strict: flags.strict, workers: flags.workers, lookback: flags.lookback },
    { now },
  );
  // The file's archive.since is read without a clock; a run cannot list from the future either.
  if (flags.since === undefined && config.archive.since !== null) {
    parseSince(config.archive.since, `archive.since (in ${flags.config ?? 'the configuration'})`, now);
  }
  return config;
}

/** A positive number, for --rate-scale. */
export function rateScaleOf(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100_000) {
    throw new InvalidArgumentError('must be a positive number (the demo uses 120).');
  }
  return n;
}

/** Every window divided by `scale` (at least 1 ms): the simulator's `--rate-scale`, on the client side. */
export function scaleRateLimits<K extends string>(
  limits: Readonly<Record<K, RateLimit>>,
  scale: number,
): Record<K, RateLimit> {
  return Object.fromEntries(
    Object.entries<RateLimit>(limits).map(([id, l]) => [
      id,
      { limit: l.limit, windowMs: Math.max(1, Math.round(l.windowMs / scale)) },
    ]),
  ) as Record<K, RateLimit>;
}

export interface RunDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly out?: (line: string) => void;
  /** Where the progress line goes. @default process.stderr */
  readonly progress?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Stops the run (Ctrl-C); what was done is printed, the rest is the next run's. */
  readonly signal?: AbortSignal;
}

/**
 * `run`: checks everything it can before starting, runs one cycle; true when the run is complete.
 *
 * @example
 * ```sh
 * # against the Amigo API named by AMIGO_*
 * npm run cli -- run --archive ./archive
 * npm run cli -- run -c examples/amigo-qa.yaml --archive s3://my-bucket/qa --since 2026-11-01 --workers 8
 * ```
 */
export async function runNightly(flags: RunFlags, deps: RunDeps = {}): Promise<boolean> {
  const env = deps.env ?? process.env;
  const config = resolveRunConfig(flags);
  const rateLimits =
    flags.rateScale === undefined
      ? config.amigo.rateLimits
      : scaleRateLimits(config.amigo.rateLimits, flags.rateScale);
  const amigo = amigoConfigFromEnv(env, {
    rateLimits,
    timeoutMs: config.amigo.timeoutMs,
    maxAttempts: config.amigo.maxAttempts,
  });
  if (flags.rateScale !== undefined && !isLoopbackUrl(amigo.baseUrl)) {
    throw new ConfigurationError(
      '--rate-scale',
      'is only for the Amigo simulator (AMIGO_BASE_URL on localhost): Amigo itself enforces its published limits per minute',
      'Leave it out against Amigo; to call an operation more or less often, set amigo.rateLimits in the config file',
    );
  }
  const target = await prepareArchiveTarget(flags.archive, { access: 'write', env });
  const location = archiveLocation(target);
  // Checked before the run, so a wrong --report never costs a night's budget.
  const reportFolder =
    flags.report === undefined
      ? undefined
      : await prepareReportOutput(
          flags.report,
          target.kind === 'folder' ? target.path : undefined,
          '--report',
        );
  const progress = createProgress(deps.progress);
  const store = observeOutcomes(openArchiveStore(location, env), (id, status) =>
    progress.outcome(id, status),
  );
  const result = await runLocalCycle({
    config,
    amigo,
    archive: location,
    store,
    events: { onListed: (r) => progress.listed(r), onPutBack: (_worker, p) => progress.waiting(p) },
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  progress.done();
  const summarized = printSummary(result, deps.out);
  // The run's SQL tables, beside the archive: a failure leaves the archive whole and fails the run.
  const tabled = await writeTablesAfterRun(
    store,
    { organizationId: amigo.organizationId, runId: result.runId },
    deps.out,
  );
  const complete = summarized && tabled;
  // An interrupted run leaves the report as it was: its archive is not the night's.
  if (reportFolder !== undefined && !result.interrupted) {
    const out = deps.out ?? console.log;
    out('');
    await writeReport(openArchiveStore(location, env), reportFolder, {}, out);
  }
  return complete;
}

/** Prints the summary; returns true when every eligible conversation was archived. */
export function printSummary(result: LocalCycleResult, out: (line: string) => void = console.log): boolean {
  const { record } = result;
  const s = record.scheduler;
  const a = record.archive;
  out('');
  out(
    result.interrupted
      ? `Run ${result.runId} INTERRUPTED after ${result.seconds.toFixed(1)} s: what it had not archived, the next run archives`
      : `Run ${result.runId} finished in ${result.seconds.toFixed(1)} s`,
  );
  const recovery = record.recovery;
  if (recovery) {
    for (const [run, n] of Object.entries(recovery.fromRuns)) {
      out(
        `  recovered     ${n} conversation(s) that run ${run} did not finish (interrupted, lost or failed), enqueued again`,
      );
    }
    if (recovery.givenUpTotal > 0) {
      out(
        `  GIVEN UP      ${recovery.givenUpTotal} conversation(s) failed in 3 runs (or 5 without an answer) and are no longer tried:`,
      );
      for (const g of recovery.givenUp)
        out(`                ${g.conversation_id} (${g.runs} runs) ${g.reason}`);
    }
    for (const invalid of recovery.invalid) out(`  WARNING       unreadable pending marker ${invalid}`);
  }
  for (const entry of record.set_aside ?? [])
    out(`  SET ASIDE     ${JSON.stringify(entry.id)}: ${entry.reason}`);
  out(
    `  listed        ${s.listed} finished conversations (${s.pages} pages${s.invocations > 1 ? `, ${s.invocations} scheduler invocations` : ''})`,
  );
  out(
    `  archived      ${a?.archived ?? 0}${a?.duplicates ? ` (${a.duplicates} duplicate deliveries recognised)` : ''}`,
  );
  out(
    `  skipped       ${s.alreadyArchived} already archived, ${s.deferredUnanalyzed} not analyzed yet (next run)`,
  );
  if (a && a.audioBytes > 0) out(`  recordings    ${(a.audioBytes / 1_048_576).toFixed(1)} MiB`);
  if (record.outlook) for (const line of outlookLines(record.outlook)) out(line);
  if (record.num_messages_mismatches.length > 0) {
    out(
      `  WARNING       ${record.num_messages_mismatches.length} conversation(s) archived fewer/more messages than num_messages:`,
    );
    for (const id of record.num_messages_mismatches) out(`                ${id}`);
  }
  if (s.failedToEnqueue > 0) out(`  NOT ENQUEUED  ${s.failedToEnqueue} (they are listed again next run)`);
  // Archive failures fail the run; tag and stall failures are reported but do not (the archive,
  // the run's promise, is complete without them).
  const archiveFailures = result.deadLetters.filter((d) => d.queue === 'archive' || d.queue === 'scheduler');
  for (const d of result.deadLetters) {
    const label = archiveFailures.includes(d) ? 'FAILED       ' : 'WARNING      ';
    out(`  ${label} ${d.conversationId ?? '(unreadable job)'} [${d.queue}] ${d.code}: ${d.reason}`);
  }
  if (result.tagging) {
    const t = result.tagging;
    out(
      `  tags          ${t.evaluated} conversations evaluated, ${t.posted} tagged (${t.tagsSet} tags set, ${t.tagsDeleted} removed${t.dropped ? `, ${t.dropped} dropped at the 20-tag limit` : ''}${t.rejected ? `, ${t.rejected} refused by Amigo` : ''})`,
    );
    const matches = Object.entries(t.matches);
    if (matches.length > 0) out(`  rules matched ${matches.map(([rule, n]) => `${rule} x${n}`).join(', ')}`);
  }
  if (result.stalls) {
    const st = result.stalls;
    const r = result.recommendations;
    out(
      `  stalls        ${st.enqueued} stalled interaction(s) found among ${st.unfinished} unfinished conversations (${st.alreadyRequested} asked before, ${st.fresh} too recent)`,
    );
    if (result.stallScanFailed) {
      out(
        `  stall scan    failed (${result.stallScanFailed.code}: ${result.stallScanFailed.message}); the next run scans again`,
      );
    }
    out(
      `  recommend     ${r.recommended ?? 0} recommended, ${r.rejected ?? 0} rejected (user answered or conversation ended)${r.requested ? `, ${r.requested} outcome unknown` : ''}${r.failed ? `, ${r.failed} failed` : ''}`,
    );
  }
  out(`  watermark     ${record.watermark.previous ?? '(none)'} -> ${record.watermark.next ?? '(none)'}`);
  out(`  archive       ${result.archive}`);
  out(`  run record    ${runKey(result.runId)}`);
  return (
    !result.interrupted &&
    archiveFailures.length === 0 &&
    (a?.failed ?? 0) === 0 &&
    s.failedToEnqueue === 0 &&
    result.stallScanFailed === undefined &&
    (record.recovery?.givenUpTotal ?? 0) === 0 &&
    (record.set_aside ?? []).length === 0
  );
}

/** The run record's budget outlook in two lines: how full each budget was, what waits, the catch-up. */
export function outlookLines(outlook: RunOutlook): string[] {
  const percent = (share: number) => (share > 0 && share < 0.01 ? '<1%' : `${Math.round(share * 100)}%`);
  const shares = Object.entries(outlook.operations)
    .sort(([, x], [, y]) => y.budget_share - x.budget_share)
    .map(([op, o]) => `${op} ${percent(o.budget_share)}`);
  const bottleneck = outlook.bottleneck ? outlook.operations[outlook.bottleneck] : undefined;
  const cost =
    outlook.bottleneck && bottleneck?.per_conversation != null
      ? `; bottleneck ${outlook.bottleneck} (${bottleneck.per_conversation} calls a conversation)`
      : '';
  const catchUp = {
    'caught-up': outlook.backlog > 0 ? 'caught up (only what this run found waits)' : 'nothing waits',
    // Before a day of arrivals is in the averages, the office hours still to come are not in them.
    estimated: `catch-up in about ${outlook.catch_up_hours} h${
      outlook.arrivals_hours !== undefined && outlook.arrivals_hours > 0 && outlook.arrivals_hours < 24
        ? ` (from ${outlook.arrivals_hours} h of arrivals: firmer after a day)`
        : ''
    }`,
    never:
      outlook.bottleneck && outlook.operations[outlook.bottleneck]?.per_conversation === null
        ? `catch-up NEVER at this rate: ${outlook.bottleneck} calls go on while nothing has been archived for a day`
        : `catch-up NEVER at this rate: the arrivals alone use the whole ${outlook.bottleneck} budget`,
    unknown: 'catch-up unknown (nothing archived lately to measure a conversation by)',
  }[outlook.catch_up];
  const oldest = outlook.oldest_waiting_since ? `, oldest since ${outlook.oldest_waiting_since}` : '';
  return [
    `  budget        since the previous run (${outlook.period_hours} h): ${shares.join(', ') || 'no Amigo calls'}${cost}`,
    `  waiting       ${outlook.backlog} at the end of the listing${oldest}; ${catchUp}`,
  ];
}

/**
 * Registers `run` (see {@link runNightly}).
 *
 * @example
 * ```sh
 * npm run cli -- run --archive ./archive --lookback 7d --verbose
 * ```
 */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run one nightly cycle here: scheduler, queue and workers, the same handlers as in Lambda')
    .option('-c, --config <file>', 'pipeline config (YAML or JSON); see examples/amigo-qa.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (created when missing) or s3://bucket/prefix')
    .option('--since <date>', 'backfill: list conversations down to this date instead of the watermark')
    .option('--strict', 'fail a conversation whose message count differs from num_messages')
    .option('--workers <n>', 'archive invocations in parallel (1 to 64)')
    .option('--lookback <duration>', 'how far before the watermark to look again, e.g. 7d')
    .option(
      '--rate-scale <x>',
      'simulator only: divide every rate-limit window by x, as `simulate --rate-scale x` does',
      rateScaleOf,
    )
    .option('--verbose', "print the handlers' JSON logs")
    .option('--report <dir>', 'build the QA report of the whole archive into this folder at the end')
    .addHelpText(
      'after',
      '\nCredentials come from AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and AMIGO_BASE_URL).\nAn s3:// archive uses the AWS SDK defaults: AWS_REGION, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3.',
    )
    .action(async (flags: RunFlags) => {
      // Ctrl-C stops the run and prints what it did; a second Ctrl-C quits at once.
      const interrupt = new AbortController();
      const onSigint = () => {
        if (interrupt.signal.aborted) process.exit(130);
        process.stderr.write(
          '\nStopping: the conversations in progress get a few seconds (Ctrl-C again quits now)\n',
        );
        interrupt.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        process.exitCode = (await runNightly(flags, { signal: interrupt.signal })) ? 0 : 1;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
