// `amigo-qa query --archive <dir|s3://bucket/prefix> "<SQL>" [--format table|csv|json]`, `query
// --named <name>` and `query --list`: SQL over the archive's Parquet tables (docs/query.md) on this
// machine, with the engine Athena's named queries were written to run the same on (DuckDB).

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Json } from '@duckdb/node-api';
import type { Command } from 'commander';
import { openArchiveStore } from '../../local/pipeline.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { NAMED_QUERIES } from '../../shared/tables/named-queries.ts';
import { TABLES } from '../../shared/tables/schema.ts';
import { materializeTables, openTablesEngine, type QueryResult } from '../../shared/tables-query/engine.ts';
import { archiveLocation, prepareArchiveTarget } from '../archive-target.ts';
import { shellWord } from '../shell-word.ts';

export const QUERY_FORMATS = ['table', 'csv', 'json'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

export interface QueryCommandOptions {
  archive?: string | undefined;
  format?: string | undefined;
  named?: string | undefined;
  list?: boolean | undefined;
}

type Out = (text: string) => void;

function namesList(): string {
  return NAMED_QUERIES.map((q) => q.name).join(', ');
}

/** What to run, checked before the archive is touched. */
function chooseSql(sql: string | undefined, options: QueryCommandOptions): { sql: string; label: string } {
  const given = sql !== undefined && sql.trim() !== '';
  if (given && options.named !== undefined) {
    throw new ConfigurationError(
      '--named',
      'was given together with SQL',
      'Give either the SQL or --named <name>, not both',
    );
  }
  if (options.named !== undefined) {
    const name = options.named.trim();
    const found = NAMED_QUERIES.find((q) => q.name === name);
    if (!found) {
      throw new ConfigurationError(
        '--named',
        `"${options.named}" is not a named query`,
        `Give one of: ${namesList()} (query --list describes them)`,
      );
    }
    return { sql: found.sql, label: found.name };
  }
  if (!given) {
    throw new ConfigurationError(
      'SQL',
      sql === undefined ? 'is missing' : 'is empty',
      'Give the SQL in quotes, like query --archive ./archive "select count(*) from conversations", or --named <name> (query --list shows them)',
    );
  }
  return { sql: sql.trim(), label: 'query' };
}

function parseFormat(raw: string | undefined): QueryFormat {
  const format = (raw ?? 'table').trim().toLowerCase();
  if (!(QUERY_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigurationError(
      '--format',
      `"${raw}" is not a format`,
      `Give one of: ${QUERY_FORMATS.join(', ')}`,
    );
  }
  return format as QueryFormat;
}

/** A value as text: what the table and CSV formats print (null is empty in CSV, NULL in a table). */
function text(value: Json): string | null {
  if (value === null) return null;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The result in the chosen format, as the lines to print. */
export function formatResult(result: QueryResult, format: QueryFormat): string {
  const names = result.columns.map((c) => c.name);
  if (format === 'json') return JSON.stringify(result.rows, null, 2);
  if (format === 'csv') {
    const lines = [names.map(csvField).join(',')];
    for (const row of result.rows) lines.push(names.map((n) => csvField(text(row[n] ?? null))).join(','));
    return lines.join('\n');
  }
  const cells = result.rows.map((row) =>
    names.map((n) => (text(row[n] ?? null) ?? 'NULL').replace(/\s+/g, ' ')),
  );
  const widths = names.map((n, i) => Math.max(n.length, ...cells.map((c) => (c[i] ?? '').length)));
  const numeric = result.columns.map((c) => /INT|DOUBLE|FLOAT|DECIMAL/.test(c.type));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const n = result.rows.length;
  return [
    line(names),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    `(${n} ${n === 1 ? 'row' : 'rows'})`,
  ].join('\n');
}

/** `query --list`: the named queries with their descriptions. */
export function listNamedQueries(out: Out = console.log): number {
  for (const q of NAMED_QUERIES) {
    out(`${q.name}\n  ${q.description}`);
  }
  return 0;
}

/** `query`: runs the SQL (or named query) over the archive's tables and prints the rows; returns the exit code. */
export async function queryCommand(
  sql: string | undefined,
  options: QueryCommandOptions,
  out: Out = console.log,
  err: Out = console.error,
): Promise<number> {
  if (options.list) {
    if (sql !== undefined || options.named !== undefined) {
      throw new ConfigurationError('--list', 'takes no SQL and no --named', 'Give --list alone');
    }
    return listNamedQueries(out);
  }
  const format = parseFormat(options.format);
  const chosen = chooseSql(sql, options);
  if (options.archive === undefined) {
    throw new ConfigurationError(
      '--archive',
      'is missing',
      'Give the archive, like --archive ./archive or --archive s3://bucket/prefix',
    );
  }
  const target = await prepareArchiveTarget(options.archive, { access: 'read' });
  const location = archiveLocation(target);
  const rebuild = `Build them with \`npm run cli -- tables rebuild --archive ${shellWord(location)}\` (run and demo build them at their end)`;
  let tablesDir: string;
  let temporary: string | undefined;
  if (target.kind === 'folder') {
    tablesDir = join(target.path, 'tables');
  } else {
    const copied = await materializeTables(openArchiveStore(location));
    tablesDir = copied.tablesDir;
    temporary = copied.root;
  }
  try {
    const engine = await openTablesEngine(tablesDir, rebuild);
    try {
      if (engine.tables.length === 0) {
        throw new ConfigurationError(
          '--archive',
          `${location} has no tables yet (no Parquet parts under tables/)`,
          rebuild,
        );
      }
      const result = await engine.query(chosen.sql);
      out(formatResult(result, format));
      // An empty view answers no rows: say when that is because its parts were never written.
      const empty = TABLES.filter(
        (t) => !engine.tables.includes(t.name) && new RegExp(`\\b${t.name}\\b`, 'i').test(chosen.sql),
      );
      if (empty.length > 0) {
        err(
          `note: ${empty.map((t) => t.name).join(', ')} ${empty.length === 1 ? 'has' : 'have'} no Parquet parts under ${location}/tables/ yet (no rows, or never built). ${rebuild}`,
        );
      }
    } finally {
      engine.close();
    }
  } finally {
    if (temporary) await rm(temporary, { recursive: true, force: true });
  }
  return 0;
}

export function registerQueryCommand(program: Command): void {
  program
    .command('query')
    .description(
      "SQL over the archive's Parquet tables (conversations, messages, interactions, tags, stalls) on this machine, the same SQL Athena runs: docs/query.md",
    )
    .argument('[sql]', 'the SQL, in quotes; the tables are views named after them')
    .option(
      '-a, --archive <target>',
      'archive folder (or s3://bucket/prefix: its tables/ are copied here first)',
    )
    .option(
      '-f, --format <format>',
      `output: ${QUERY_FORMATS.join(', ')} (json: an array of row objects)`,
      'table',
    )
    .option('--named <name>', 'run a named query (the ones Athena has): --list shows them')
    .option('--list', 'list the named queries with what each answers')
    .action(async (sql: string | undefined, options: QueryCommandOptions) => {
      process.exitCode = await queryCommand(sql, options);
    });
}
