// `amigo-qa demo` (what `npm start` runs): a simulated Amigo organisation and one whole nightly
// cycle against it on this machine, through the real SQS wire protocol of the embedded emulator,
// with the same handlers as in Lambda. No credentials; the archive lands in a local folder, which
// is kept between runs so that running it again shows a real rerun (cli/demo-archive.ts).

import type { Command } from 'commander';
import { openArchiveStore, runLocalCycle } from '../../local/pipeline.ts';
import { resolveAmigoConfig } from '../../shared/amigo/config.ts';
import { defaultPipelineConfig } from '../../shared/config/pipeline-config.ts';
import { loadRules } from '../../shared/config/source-file.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { operationIds, operations } from '../../shared/openapi/index.ts';
import { startSimulator } from '../../sim/index.ts';
import { parseArchiveTarget } from '../archive-target.ts';
import { prepareDemoArchive } from '../demo-archive.ts';
import { createProgress, observeOutcomes } from '../progress.ts';
import { prepareReportOutput, writeReport } from './report.ts';
import { printSummary, rateScaleOf } from './run.ts';
import { writeTablesAfterRun } from './tables.ts';

export interface DemoOptions {
  seed: number;
  conversations: number;
  archive: string;
  /** Published limits are enforced per minute divided by this. */
  rateScale: number;
  recordingMib: number;
  rules: string;
  /** Empty the demo's own archive first instead of keeping it. */
  fresh?: boolean;
  /** Where the QA report is written at the end (a new or empty folder, or an earlier report). */
  report: string;
}

/**
 * `demo`: one whole nightly cycle against a simulated Amigo organisation, archiving into a local
 * folder kept between runs; prints the run's summary and the Amigo calls it made.
 *
 * @example
 * ```sh
 * npm start                                    # the same as: npm run cli -- demo
 * npm run cli -- demo --seed 3 --fresh         # other generated data, the demo's archive emptied first
 * ```
 */
export async function runDemo(
  options: DemoOptions,
  out: (line: string) => void = console.log,
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean },
): Promise<boolean> {
  const target = parseArchiveTarget(options.archive);
  if (target.kind !== 'folder') {
    throw new ConfigurationError(
      '--archive',
      'the demo archives into a folder only',
      'Give a folder, like --archive .amigo-qa/demo-archive; to archive into S3 use `amigo-qa run`',
    );
  }
  const archive = target.path;
  const rules = loadRules(options.rules);
  const reportFolder = await prepareReportOutput(options.report, archive, '--report');
  const prepared = await prepareDemoArchive(
    archive,
    { seed: options.seed, conversations: options.conversations, recordingMib: options.recordingMib },
    { fresh: Boolean(options.fresh) },
  );
  // The same organisation as on the first run into this archive: its data is anchored at that run's
  // start, and the simulator's clock is moved on to now, so what happened since shows as new.
  const sim = await startSimulator({
    seed: options.seed,
    conversations: options.conversations,
    longConversations: 1,
    audio: { largeRecordings: 1, largeRecordingBytes: options.recordingMib * 1_048_576 },
    rateLimits: { enabled: true, scale: options.rateScale },
    now: new Date(prepared.simulatorStart),
  });
  const behind = Date.now() - prepared.simulatorStart;
  if (behind > 0) sim.control.advanceClock(behind);
  try {
    const windowMs = 60_000 / options.rateScale;
    out(
      `Amigo simulator: ${sim.url}, organization ${sim.organizationId}, ${options.conversations} conversations (seed ${options.seed})`,
    );
    out(
      `Rate limits: the published ones per ${windowMs} ms instead of per minute (a ${options.rateScale}x faster clock)`,
    );
    out(
      prepared.state === 'kept'
        ? `Archive: ${archive}, kept from the first run on ${new Date(prepared.simulatorStart).toISOString().slice(0, 16)}Z: a rerun, so what is archived is skipped (--fresh starts over)`
        : prepared.state === 'emptied'
          ? `Archive: ${archive}, emptied and started over (${prepared.reason})`
          : `Archive: ${archive} (new)`,
    );
    const amigo = resolveAmigoConfig({
      baseUrl: sim.url,
      organizationId: sim.organizationId,
      apiKey: sim.credentials.apiKey,
      apiKeyId: sim.credentials.apiKeyId,
      userId: sim.credentials.userId,
      rateLimits: Object.fromEntries(
        operationIds.map((id) => [id, { limit: operations[id].publishedLimit.limit, windowMs }]),
      ),
    });
    const progress = createProgress(progressStream);
    out(`Rules: ${options.rules} (docs/rules.md)`);
    const store = observeOutcomes(openArchiveStore(archive), (id, status) => progress.outcome(id, status));
    const result = await runLocalCycle({
      config: defaultPipelineConfig(),
      rules,
      amigo,
      archive,
      store,
      events: { onListed: (r) => progress.listed(r), onPutBack: (_worker, p) => progress.waiting(p) },
    });
    progress.done();
    const summarized = printSummary(result, out);
    const tabled = await writeTablesAfterRun(
      store,
      { organizationId: sim.organizationId, runId: result.runId },
      out,
    );
    const complete = summarized && tabled;
    const stats = sim.control.stats();
    out('');
    out('Amigo calls (status x count):');
    for (const [op, byStatus] of Object.entries(stats.calls)) {
      out(
        `  ${op.padEnd(38)} ${Object.entries(byStatus)
          .map(([s, n]) => `${s} x${n}`)
          .join('  ')}`,
      );
    }
    out('');
    out(
      `The archive: ${archive}/conversations/ (one folder per conversation; manifest.json lists every file)`,
    );
    out('The QA report of the whole archive (npm run cli -- report --help):');
    await writeReport(openArchiveStore(archive), reportFolder, {}, (line) => out(`  ${line}`));
    out(
      'Run it again (npm start) to see a rerun: the archive is kept, so only what is new is archived (--fresh starts over).',
    );
    out('`npm run cli -- --help` for the real thing.');
    return complete;
  } finally {
    await sim.stop();
  }
}

/**
 * Registers `demo` (see {@link runDemo}).
 *
 * @example
 * ```sh
 * npm run cli -- demo --rules examples/rules.yaml --rate-scale 120
 * ```
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the whole pipeline against a simulated Amigo organisation (what `npm start` does)')
    .option('--seed <n>', 'simulator seed', (v) => Number.parseInt(v, 10), 7)
    .option(
      '--conversations <n>',
      'conversations in the simulated organisation',
      (v) => Number.parseInt(v, 10),
      40,
    )
    .option(
      '--archive <dir>',
      'where the archive goes: a new or empty folder, or one the demo made (kept between runs)',
      '.amigo-qa/demo-archive',
    )
    .option('--fresh', "empty the demo's own archive first (only a folder the demo made)")
    .option('--rate-scale <x>', 'run the rate-limit clock this many times faster', rateScaleOf, 120)
    .option('--recording-mib <n>', 'size of the one long recording', (v) => Number.parseInt(v, 10), 64)
    .option('--rules <file>', 'tagging rules', 'examples/rules.yaml')
    .option(
      '--report <dir>',
      'where the QA report goes at the end (new, empty, or an earlier report)',
      '.amigo-qa/demo-report',
    )
    .action(async (opts: DemoOptions) => {
      process.exitCode = (await runDemo(opts)) ? 0 : 1;
    });
}
