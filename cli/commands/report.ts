// `amigo-qa report --archive <dir|s3://bucket/prefix> --out <dir> [--since <day>] [--run <id>]`:
// the QA report (shared/report/), a static site a reviewer opens from disk. Reads the archive only;
// the report sends nothing anywhere.

import { relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { openArchiveStore } from '../../local/pipeline.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import {
  checkReportFolder,
  generateReport,
  ReportFolderError,
  type ReportSummary,
  UnknownRunError,
} from '../../shared/report/generate.ts';
import { archiveLocation, prepareArchiveTarget } from '../archive-target.ts';
import { sinceDayFlag } from '../flags.ts';

export interface ReportCommandOptions {
  archive: string;
  out: string;
  since?: string | undefined;
  run?: string | undefined;
}

type Out = (line: string) => void;

/** Checks the report's folder; a refusal names the flag (`--out`, or `--report` for run and demo) and the fix. */
export async function prepareReportOutput(
  out: string,
  archiveFolder?: string,
  flag = '--out',
): Promise<string> {
  if (out.trim() === '') {
    throw new ConfigurationError(
      flag,
      'is empty',
      `Give the folder to write the report into, like ${flag} ./report`,
    );
  }
  if (/^[a-z][a-z0-9+.-]+:/i.test(out.trim())) {
    throw new ConfigurationError(
      flag,
      `"${out}" is not a folder (the report is written to this machine only)`,
      `Give a local folder, like ${flag} ./report; share it as files, never on a public host (it holds health data)`,
    );
  }
  const path = resolve(out);
  if (archiveFolder !== undefined) {
    const inside = relative(archiveFolder, path);
    if (inside === '' || (!inside.startsWith(`..${sep}`) && inside !== '..' && !inside.startsWith(sep))) {
      throw new ConfigurationError(
        flag,
        `${path} is inside the archive ${archiveFolder}`,
        `Give a folder outside the archive, like ${flag} ./report`,
      );
    }
  }
  try {
    await checkReportFolder(path);
  } catch (error) {
    if (error instanceof ReportFolderError) throw new ConfigurationError(flag, error.problem, error.fix);
    throw error;
  }
  return path;
}

/** What the command prints when the report is written. */
export function describeReport(summary: ReportSummary, seconds: number): string[] {
  const mib = (summary.audioBytes / 1_048_576).toFixed(1);
  const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  return [
    `Report: ${n(summary.conversations, 'conversation', 'conversations')}, ${n(summary.stalls, 'stalled interaction', 'stalled interactions')}, ${n(summary.runs, 'run', 'runs')}, ${n(summary.audioFiles, 'recording', 'recordings')} (${mib} MiB)${summary.unreadable ? `, ${summary.unreadable} unreadable folders (listed in the overview)` : ''} in ${seconds.toFixed(1)} s`,
    `Open it (no server needed, nothing leaves this machine): ${pathToFileURL(summary.entry).href}`,
  ];
}

/** Builds the report of an archive store into `out` (already checked) and prints where it is. */
export async function writeReport(
  store: ArchiveStore,
  out: string,
  options: { since?: string | undefined; runId?: string | undefined },
  print: Out,
): Promise<ReportSummary> {
  const started = Date.now();
  const summary = await generateReport(store, out, options);
  for (const line of describeReport(summary, (Date.now() - started) / 1000)) print(line);
  return summary;
}

/** `report`: returns the exit code. */
export async function reportCommand(
  options: ReportCommandOptions,
  out: Out = console.log,
  now: number = Date.now(),
): Promise<number> {
  const since = sinceDayFlag(options.since, now);
  const runId = options.run?.trim();
  if (runId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(runId)) {
    throw new ConfigurationError(
      '--run',
      `"${options.run}" is not a run id`,
      'Give a run id as the runs/ folder of the archive names it, like 2026-11-26T02-00-00Z-a1b2c3',
    );
  }
  const target = await prepareArchiveTarget(options.archive, { access: 'read' });
  const folder = await prepareReportOutput(options.out, target.kind === 'folder' ? target.path : undefined);
  const store = openArchiveStore(archiveLocation(target));
  try {
    await writeReport(store, folder, { since, runId }, out);
  } catch (error) {
    if (error instanceof UnknownRunError) {
      throw new ConfigurationError(
        '--run',
        `the archive ${store.location} has no run ${runId}`,
        'Give a run id from its runs/ folder (runs/<run-id>.json), or leave --run out for every run',
      );
    }
    throw error;
  }
  return 0;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'Write the QA report: a static site over the archive (overview, conversations with transcript, audio, insights and tags, stalled interactions, rules) to open from disk',
    )
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .requiredOption(
      '-o, --out <dir>',
      'the folder to write the report into (new, empty, or an earlier report)',
    )
    .option('--since <day>', 'only conversations created on or after this day (YYYY-MM-DD)')
    .option('--run <id>', 'only what this run archived and found stalled')
    .addHelpText('after', '\nThen open <out>/index.html in a browser: no server, no network.')
    .action(async (options: ReportCommandOptions) => {
      process.exitCode = await reportCommand(options);
    });
}
