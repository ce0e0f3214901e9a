// `amigo-qa run`: one nightly cycle on this machine against the Amigo API named by AMIGO_*.

import type { Command } from 'commander';
import { type LocalCycleResult, runLocalCycle } from '../../local/pipeline.ts';
import { amigoConfigFromEnv } from '../../shared/amigo/config.ts';
import {
  applyOverrides,
  defaultPipelineConfig,
  type PipelineConfig,
} from '../../shared/config/pipeline-config.ts';
import { loadPipelineConfig } from '../../shared/config/source-file.ts';
import { createProgress } from '../progress.ts';

export interface RunFlags {
  config?: string;
  archive: string;
  since?: string;
  strict?: boolean;
  workers?: string;
  lookback?: string;
  verbose?: boolean;
}

export function resolveRunConfig(flags: RunFlags): PipelineConfig {
  const base = flags.config ? loadPipelineConfig(flags.config) : defaultPipelineConfig();
  return applyOverrides(base, {
    since: flags.since,
    strict: flags.strict,
    workers: flags.workers,
    lookback: flags.lookback,
  });
}

/** Prints the summary; returns true when every eligible conversation was archived. */
export function printSummary(result: LocalCycleResult, out: (line: string) => void = console.log): boolean {
  const { record } = result;
  const s = record.scheduler;
  const a = record.archive;
  out('');
  out(`Run ${result.runId} finished in ${result.seconds.toFixed(1)} s`);
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
    out(
      `  recommend     ${r.recommended ?? 0} recommended, ${r.rejected ?? 0} rejected (user answered or conversation ended)${r.requested ? `, ${r.requested} outcome unknown` : ''}${r.failed ? `, ${r.failed} failed` : ''}`,
    );
  }
  out(`  watermark     ${record.watermark.previous ?? '(none)'} -> ${record.watermark.next ?? '(none)'}`);
  out(`  archive       ${result.archive}`);
  out(`  run record    runs/${result.runId}.json`);
  return archiveFailures.length === 0 && (a?.failed ?? 0) === 0 && s.failedToEnqueue === 0;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run one nightly cycle here: scheduler, queue and workers, the same handlers as in Lambda')
    .option('-c, --config <file>', 'pipeline config (YAML or JSON); see examples/amigo-qa.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .option('--since <date>', 'backfill: list conversations down to this date instead of the watermark')
    .option('--strict', 'fail a conversation whose message count differs from num_messages')
    .option('--workers <n>', 'archive invocations in parallel')
    .option('--lookback <duration>', 'how far before the watermark to look again, e.g. 7d')
    .option('--verbose', "print the handlers' JSON logs")
    .addHelpText(
      'after',
      '\nCredentials come from AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and AMIGO_BASE_URL).',
    )
    .action(async (flags: RunFlags) => {
      const config = resolveRunConfig(flags);
      const amigo = amigoConfigFromEnv(process.env, {
        rateLimits: config.amigo.rateLimits,
        timeoutMs: config.amigo.timeoutMs,
        maxAttempts: config.amigo.maxAttempts,
      });
      const progress = createProgress();
      const result = await runLocalCycle({
        config,
        amigo,
        archive: flags.archive,
        events: {
          onListed: (r) => progress.listed(r),
          onResult: (binding, failed, ok) => {
            if (binding === 'archive-worker') progress.finished(ok, failed);
          },
        },
      });
      progress.done();
      const complete = printSummary(result);
      process.exitCode = complete ? 0 : 1;
    });
}
