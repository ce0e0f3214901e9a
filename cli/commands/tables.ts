// `amigo-qa tables rebuild --archive <dir|s3://bucket/prefix> [--since <day>] [--org <id>]`: the
// SQL tables (docs/tables.md) rebuilt from the archive's committed folders and stall records. Also
// the end-of-run step of `run` and `demo`: the run's parts, written beside the archive.
import type { Command } from 'commander';
import { openArchiveStore } from '../../local/pipeline.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { OrganizationIdSchema } from '../../shared/ids.ts';
import type { ArchiveStore } from '../../shared/ports/archive-store.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import type { Log } from '../../shared/ports/telemetry.ts';
import { rebuildTables, type WriteTablesResult, writeRunTables } from '../../shared/stages/write-tables.ts';
import { TABLES, TABLES_PREFIX } from '../../shared/tables/schema.ts';
import { archiveLocation, ensureWritableFolder, prepareArchiveTarget } from '../archive-target.ts';
import { sinceDayFlag } from '../flags.ts';
import { formatError } from '../format-error.ts';

type Out = (line: string) => void;

export interface TablesRebuildOptions {
  archive: string;
  since?: string | undefined;
  org?: string | undefined;
}

/** Warnings and errors for a person (ids and reasons only: the stage never passes message text). */
function cliLog(out: Out): Log {
  const line = (level: string, message: string, extra?: Record<string, unknown>) =>
    out(`  ${level} ${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`);
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, ...extra) => line('WARNING', message, extra[0]),
    error: (message, ...extra) => line('ERROR', message, extra[0]),
  };
}

/** `12 parts (conversations 16, messages 1143, ...)`: rows per table. */
export function describeTables(result: WriteTablesResult): string {
  const rows = TABLES.map((t) => {
    const n = result.parts.filter((p) => p.table === t.name).reduce((sum, p) => sum + p.rows, 0);
    return `${t.name} ${n}`;
  });
  const removed = result.removed.length > 0 ? `, ${result.removed.length} emptied parts removed` : '';
  return `${result.parts.length} part${result.parts.length === 1 ? '' : 's'} (rows: ${rows.join(', ')})${removed} in ${(result.ms / 1000).toFixed(1)} s`;
}

/**
 * The end-of-run step: writes the run's parts and prints one line. A failure is printed with its
 * reason and returns false; the archive itself is untouched (`tables rebuild` writes them later).
 */
export async function writeTablesAfterRun(
  store: ArchiveStore,
  input: { organizationId: string; runId: string },
  out: Out = console.log,
): Promise<boolean> {
  try {
    const result = await writeRunTables({ store, clock: systemClock, log: cliLog(out) }, input);
    out(`  tables        ${describeTables(result)} under ${TABLES_PREFIX}`);
    return true;
  } catch (error) {
    out(`  TABLES FAILED ${formatError(error)}`);
    out(
      `                the archive is complete; write the tables again with: npm run cli -- tables rebuild --archive ${store.location}`,
    );
    return false;
  }
}

/** `tables rebuild`: returns the exit code. */
export async function tablesRebuildCommand(
  options: TablesRebuildOptions,
  out: Out = console.log,
  now: number = Date.now(),
): Promise<number> {
  const since = sinceDayFlag(options.since, now);
  const parsedOrg = options.org === undefined ? undefined : OrganizationIdSchema.safeParse(options.org);
  if (parsedOrg?.success === false) {
    throw new ConfigurationError(
      '--org',
      `"${options.org}" is not an organisation id (${parsedOrg.error.issues[0]?.message})`,
      'Give it as the archive names it in conversations/org=<id>/, or leave --org out for every organisation',
    );
  }
  const org = parsedOrg?.data;
  const target = await prepareArchiveTarget(options.archive, { access: 'read' });
  // It writes and deletes parts: a folder it cannot write is refused before anything starts.
  if (target.kind === 'folder') await ensureWritableFolder(target.path);
  const store = openArchiveStore(archiveLocation(target));
  const result = await rebuildTables(
    { store, clock: systemClock, log: cliLog(out) },
    { ...(org !== undefined ? { organizationId: org } : {}), ...(since !== undefined ? { since } : {}) },
  );
  out(`Tables rebuilt from ${store.location}: ${describeTables(result)}`);
  out(
    `  ${result.conversations} conversations, ${result.stalls} stall records, under ${TABLES_PREFIX} (docs/tables.md)`,
  );
  return 0;
}

export function registerTablesCommand(program: Command): void {
  const tables = program
    .command('tables')
    .description('The SQL tables of the archive (Parquet under tables/; docs/tables.md)');
  tables
    .command('rebuild')
    .description(
      'Rebuild every table part from the archive (the conversation folders stay the source of truth)',
    )
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .option('--since <day>', 'only date partitions from this day on (YYYY-MM-DD)')
    .option('--org <id>', 'only this organisation')
    .action(async (options: TablesRebuildOptions) => {
      process.exitCode = await tablesRebuildCommand(options);
    });
}
