// `amigo-qa rules check <file>` validates a tagging rules file; `amigo-qa rules test <file>
// --archive <dir>` shows what the rules would do to archived conversations, rule by rule and why,
// without calling Amigo. The language: docs/rules.md.

import type { Command } from 'commander';
import { openArchiveStore } from '../../local/pipeline.ts';
import { type AmigoClient, createAmigoClient } from '../../shared/amigo/index.ts';
import {
  type ArchivedConversationRef,
  listArchivedConversations,
  readArchivedConversation,
} from '../../shared/archive/read.ts';
import { parseSince } from '../../shared/config/pipeline-config.ts';
import { loadRules } from '../../shared/config/source-file.ts';
import { AmigoQaError, ConfigurationError } from '../../shared/errors.ts';
import { conversationId } from '../../shared/ids.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import {
  type Evaluation,
  evaluateRules,
  formatRuleProblem,
  type RuleSet,
  RulesValidationError,
} from '../../shared/rules/index.ts';
import { applyTags } from '../../shared/stages/apply-tags.ts';
import { archiveLocation, prepareArchiveTarget } from '../archive-target.ts';
import { formatError } from '../format-error.ts';

type Out = (line: string) => void;

/** Loads the rules, printing every problem when they are invalid; undefined then. */
function loadOrReport(file: string, err: Out): RuleSet | undefined {
  try {
    return loadRules(file);
  } catch (error) {
    if (error instanceof RulesValidationError) {
      const n = error.problems.length;
      err(`${error.source}: ${n} ${n === 1 ? 'problem' : 'problems'}`);
      for (const p of error.problems) err(`  ${formatRuleProblem(p)}`);
      return undefined;
    }
    if (error instanceof ConfigurationError) {
      err(formatError(error));
      return undefined;
    }
    throw error;
  }
}

/**
 * `rules check`: validates a rules file without touching an archive or Amigo; returns the exit code.
 *
 * @example
 * ```sh
 * npm run cli -- rules check examples/rules.yaml
 * ```
 */
export function checkRules(file: string, out: Out = console.log, err: Out = console.error): number {
  const rules = loadOrReport(file, err);
  if (!rules) return 1;
  const n = rules.rules.length;
  out(`OK ${file}: ${n} ${n === 1 ? 'rule' : 'rules'}`);
  rules.rules.forEach((r, i) => {
    out(`  rules[${i}] ${r.name}`);
  });
  return 0;
}

export interface RulesTestOptions {
  readonly archive: string;
  readonly conversation?: string | undefined;
  readonly org?: string | undefined;
  readonly json?: boolean | undefined;
}

function tagList(tags: Record<string, string | null>): string {
  const entries = Object.entries(tags);
  return entries.length === 0
    ? '(nothing)'
    : entries.map(([k, v]) => (v === null ? k : `${k}=${JSON.stringify(v)}`)).join(', ');
}

/** For each tag a matched rule writes, the name of the rule whose write survives (the last one). */
function winners(evaluation: Evaluation): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of evaluation.results) {
    if (!r.matched) continue;
    for (const key of [...Object.keys(r.set), ...r.remove]) out.set(key, r.rule);
  }
  return out;
}

function printEvaluation(
  ref: ArchivedConversationRef,
  messages: number,
  evaluation: Evaluation,
  out: Out,
): void {
  out('');
  out(`conversation ${ref.conversationId}  (org ${ref.organizationId}, ${ref.date}, ${messages} messages)`);
  out(`  would set     ${tagList(evaluation.updates)}`);
  out(`  would delete  ${evaluation.deletes.length === 0 ? '(nothing)' : evaluation.deletes.join(', ')}`);
  const won = winners(evaluation);
  for (const result of evaluation.results) {
    const effects: string[] = [];
    for (const [key, value] of Object.entries(result.set)) {
      const lost = won.get(key) !== result.rule;
      effects.push(
        `set ${value === null ? key : `${key}=${JSON.stringify(value)}`}${lost ? ` (overridden by "${won.get(key)}")` : ''}`,
      );
    }
    for (const key of result.remove) {
      const lost = won.get(key) !== result.rule;
      effects.push(`remove ${key}${lost ? ` (overridden by "${won.get(key)}")` : ''}`);
    }
    out(
      `  ${result.matched ? 'MATCH' : 'no   '}  ${result.rule}${effects.length ? ` -> ${effects.join(', ')}` : ''}`,
    );
    for (const reason of result.reasons) {
      out(`           ${reason.condition}: ${reason.detail}`);
    }
  }
}

/**
 * `rules test`: evaluates the rules on archived conversations without calling Amigo; returns the exit code.
 *
 * @example
 * ```sh
 * npm run cli -- rules test examples/rules.yaml --archive ./archive
 * npm run cli -- rules test examples/rules.yaml --archive s3://my-bucket/qa --conversation <id> --json
 * ```
 */
export async function testRules(
  file: string,
  options: RulesTestOptions,
  out: Out = console.log,
  err: Out = console.error,
): Promise<number> {
  const rules = loadOrReport(file, err);
  if (!rules) return 1;
  let location: string;
  try {
    location = archiveLocation(await prepareArchiveTarget(options.archive, { access: 'read' }));
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    err(`amigo-qa: ${formatError(error)}`);
    return 1;
  }
  const store = openArchiveStore(location);
  const refs = await listArchivedConversations(
    store,
    options.org,
    options.conversation ? { conversationIds: [options.conversation] } : {},
  );
  if (refs.length === 0) {
    err(
      options.conversation
        ? `No committed archive folder for conversation ${options.conversation} in ${store.location}`
        : `No committed archive folders in ${store.location}${options.org ? ` for org ${options.org}` : ''}`,
    );
    return 1;
  }
  if (!options.json) {
    out(
      `${rules.source}: ${rules.rules.length} rules on ${refs.length} archived ${refs.length === 1 ? 'conversation' : 'conversations'} in ${store.location} (no Amigo calls)`,
    );
  }
  const matches = new Map(rules.rules.map((r) => [r.name, 0]));
  const rows: unknown[] = [];
  let failed = 0;
  for (const ref of refs) {
    let evaluation: Evaluation;
    let messages: number;
    try {
      const archived = await readArchivedConversation(store, ref.prefix);
      evaluation = evaluateRules(rules, archived);
      messages = archived.messages.length;
    } catch (error) {
      if (!(error instanceof AmigoQaError)) throw error;
      failed++;
      err(`conversation ${ref.conversationId}: ${formatError(error)}`);
      continue;
    }
    for (const r of evaluation.results) if (r.matched) matches.set(r.rule, (matches.get(r.rule) ?? 0) + 1);
    if (options.json) {
      rows.push({
        conversation_id: ref.conversationId,
        organization_id: ref.organizationId,
        prefix: ref.prefix,
        ...evaluation,
      });
    } else {
      printEvaluation(ref, messages, evaluation, out);
    }
  }
  if (options.json) {
    out(JSON.stringify(rows, null, 2));
  } else {
    out('');
    out(`Summary: ${refs.length - failed} conversations evaluated${failed ? `, ${failed} unreadable` : ''}`);
    const width = Math.max(...rules.rules.map((r) => r.name.length));
    for (const [name, n] of matches) out(`  ${name.padEnd(width)}  matched ${n}`);
  }
  return failed > 0 ? 1 : 0;
}

/**
 * Registers `rules check` ({@link checkRules}), `rules test` ({@link testRules}) and `rules apply`
 * ({@link applyRules}).
 *
 * @example
 * ```sh
 * npm run cli -- rules check examples/rules.yaml
 * ```
 */
export function registerRulesCommand(program: Command): void {
  const rules = program
    .command('rules')
    .description('Tagging rules: validate a rules file, or try it on archived conversations (docs/rules.md)');

  rules
    .command('check')
    .description('Validate a rules file (YAML or JSON); prints every problem with its rule, field and fix')
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .action((file: string) => {
      process.exitCode = checkRules(file);
    });

  rules
    .command('test')
    .description(
      'Show what each rule would do to archived conversations, and why; reads the archive only, never calls Amigo',
    )
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .option('--conversation <id>', 'only this conversation')
    .option('--org <id>', 'only this organisation')
    .option('--json', 'print the evaluations as JSON (results with reasons, updates, deletes)')
    .action(async (file: string, options: RulesTestOptions) => {
      process.exitCode = await testRules(file, options);
    });

  rules
    .command('apply')
    .description(
      'Re-run the rules over conversations already archived and write the tags to Amigo (a backfill); idempotent',
    )
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .requiredOption('--since <date>', 'conversations created on or after this day (YYYY-MM-DD)')
    .option('--conversation <id>', 'only this conversation')
    .option('--dry-run', 'evaluate and report, post nothing')
    .addHelpText(
      'after',
      '\nCredentials come from AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID.',
    )
    .action(async (file: string, options: RulesApplyOptions) => {
      process.exitCode = await applyRules(file, options);
    });
}

export interface RulesApplyOptions {
  archive: string;
  since: string;
  conversation?: string;
  dryRun?: boolean;
}

/**
 * `rules apply`: the tag stage over archived conversations, posting through the real client.
 *
 * @example
 * ```sh
 * npm run cli -- rules apply examples/rules.yaml --archive ./archive --since 2026-11-01 --dry-run
 * ```
 */
export async function applyRules(
  file: string,
  options: RulesApplyOptions,
  deps: { amigo?: AmigoClient; out?: Out; err?: Out; now?: number } = {},
): Promise<number> {
  const out = deps.out ?? console.log;
  const err = deps.err ?? console.error;
  const ruleSet = loadOrReport(file, err);
  if (!ruleSet) return 1;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(options.since.trim())) {
    err(`amigo-qa: --since "${options.since}" is not a day. Write it like 2026-11-01`);
    return 1;
  }
  let location: string;
  try {
    // A calendar day, not later than today (UTC): Feb 30 or next month would match nothing.
    parseSince(options.since, '--since', deps.now ?? Date.now());
    location = archiveLocation(await prepareArchiveTarget(options.archive, { access: 'read' }));
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    err(`amigo-qa: ${formatError(error)}`);
    return 1;
  }
  const since = options.since.trim();
  const amigo = deps.amigo ?? createAmigoClient();
  const store = openArchiveStore(location);
  const refs = await listArchivedConversations(store, amigo.config.organizationId, {
    fromDate: since,
    ...(options.conversation ? { conversationIds: [options.conversation] } : {}),
  });
  const tally = { posted: 0, unchanged: 0, rejected: 0, failed: 0 };
  for (const ref of refs) {
    try {
      const outcome = await applyTags(
        {
          runId: null,
          organizationId: ref.organizationId,
          conversationId: conversationId(ref.conversationId),
          // The folder is named by the creation day; that is all the stage needs to find it.
          createdAt: `${ref.date}T00:00:00.000Z`,
        },
        { amigo, store, rules: ruleSet, clock: systemClock, dryRun: Boolean(options.dryRun) },
      );
      const planned = Object.keys(outcome.plan.updates).length + outcome.plan.deletes.length;
      if (outcome.status === 'posted' || (outcome.status === 'dry-run' && planned > 0)) tally.posted++;
      else if (outcome.status === 'rejected') tally.rejected++;
      else tally.unchanged++;
      const applied = outcome.status === 'dry-run' ? outcome.plan : outcome.record.applied;
      if (outcome.status === 'posted' || (outcome.status === 'dry-run' && planned > 0)) {
        out(
          `${ref.conversationId}: set ${JSON.stringify(applied.updates)}${applied.deletes.length ? `, removed ${applied.deletes.join(', ')}` : ''}`,
        );
      }
    } catch (error) {
      tally.failed++;
      err(`${ref.conversationId}: ${formatError(error)}`);
    }
  }
  out(
    `${refs.length} archived conversation(s) since ${since}: ${tally.posted} ${options.dryRun ? 'would be tagged (dry run: nothing posted)' : 'tagged'}, ${tally.unchanged} unchanged, ${tally.rejected} refused by Amigo, ${tally.failed} failed`,
  );
  return tally.failed > 0 ? 1 : 0;
}
